"""Verifying the whole audit ledger (rule PP9): `careaccess audit verify`.

The ledger is cut into *ranges* of `span` indexes (a power of two, so each full range is one perfect
Merkle subtree, a stored node) and the ranges are checked side by side in worker processes, one
database connection each (`workers`, by default one per core). Each range is read in index order in
keyset-paginated batches of plain tuples (no model objects), and for each entry it checks:

* its index is the next one (a gap = an entry removed; index 0 missing = the first one removed;
  an index below 0 = one inserted);
* its prev_hash is the previous entry's leaf hash (genesis: 64 zeros) - a break means entries were
  reordered, inserted or rewritten; when it links to the entry two back, the one between was
  inserted;
* its leaf_hash is SHA-256(0x00 || leaf bytes) of its own columns (else it was edited);

while it builds the range's Merkle subtree (and compares the stored Node rows under it,
`check_nodes`). A range starts from the stored leaf hashes of the two entries before it; the range
before it checks those very entries, so the join is checked too.

This process then joins the ranges in order (`_join`): each range must end where the next begins,
the subtree roots are combined into the tree of the whole ledger (and the nodes above the ranges
compared), every stored checkpoint's root is rebuilt at its tree size and its Ed25519 signature
checked (with its key from the ledger's key list, kept beside the key file and matched against the
database's, and only while that key signed checkpoints: `_trusted_keys`), and the first problem in
index order is reported exactly as one pass from entry 0 would
report it: a checkpoint at size s counts as checked when entry s passes its index and link checks.
Then it reads on from the last range (appends may go on while it runs: committed entries never
change), compares the head row (size, last hash, frontier) and reports a stored node that differs
only when the entries, checkpoints and head are sound.

Inside a transaction (a test, or a caller that wrote entries not yet committed), on an in-memory
SQLite database, or with one worker, the same ranges are checked one after the other in this
process, so the result never depends on how the work was shared.

On PostgreSQL the pending entries (sequencing.py) are sequenced first; any committed after that are
skipped (a negative index with no hashes: not yet part of the chain, checked once sequenced).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.util
import os
import queue
import threading
import time
from contextlib import closing
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection, connections

from . import merkle
from .ledger import LEAF_FIELDS, LEAF_FORMAT, NODE_LEVEL_SHIFT, node_key
from .models import Checkpoint, Head
from .sequencing import sequence

GENESIS_HASH = "0" * 64
BATCH = 20_000
SPAN = 1 << 15  # indexes per range: a power of two (each full range is one stored Merkle node)

# Kinds of problem.
EDITED = "edited"
REMOVED = "removed"
INSERTED = "inserted"
CHAIN_BREAK = "chain_break"  # reordered, or rewritten with its hash
CHECKPOINT = "checkpoint"
SIGNATURE = "signature"
HEAD = "head"
NODE = "node"


@dataclass(frozen=True)
class Problem:
    kind: str
    index: int | None
    message: str
    checkpoint_id: int | None = None

    def __str__(self) -> str:
        where = f"entry {self.index}" if self.index is not None else "ledger"
        return f"{where}: {self.kind}: {self.message}"


@dataclass
class VerifyResult:
    ok: bool
    size: int = 0
    root: str = ""
    checkpoints_checked: int = 0
    nodes_checked: int = 0
    seconds: float = 0.0
    problem: Problem | None = None
    slow_rows: int = 0  # rows whose SQL-built leaf text differed from Python's and were re-checked
    workers: int = 1  # processes that checked ranges

    @property
    def entries_per_second(self) -> float:
        return self.size / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root,
            "checkpoints_checked": self.checkpoints_checked,
            "nodes_checked": self.nodes_checked,
            "seconds": round(self.seconds, 3),
            "workers": self.workers,
            "problem": None
            if self.problem is None
            else {
                "kind": self.problem.kind,
                "index": self.problem.index,
                "message": self.problem.message,
                "checkpoint_id": self.problem.checkpoint_id,
            },
        }


class _Stop(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


def _time_sql() -> str:
    """recorded_at spelled as in the leaf: UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ."""
    vendor = connection.vendor
    if vendor == "postgresql":
        return """to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    if vendor == "sqlite":
        # Django stores aware datetimes on SQLite as naive UTC text, without ".ffffff" when 0.
        return "replace(recorded_at, ' ', 'T') || CASE WHEN length(recorded_at) = 19 THEN '.000000Z' ELSE 'Z' END"
    raise RuntimeError(f"unsupported database {vendor}")  # pragma: no cover


def _columns_sql() -> str:
    """The leaf fields in LEAF_FIELDS order (recorded_at already spelled), then leaf_hash."""
    columns = [_time_sql() if f == "recorded_at" else connection.ops.quote_name(f) for f in LEAF_FIELDS]
    return f"SELECT {', '.join(columns)}, leaf_hash FROM audit_entry"


def _leaf_text_sql() -> str:
    """index, the leaf's JSON text built by the database, prev_hash, leaf_hash.

    Only the formatting is done in SQL, by one JSON array function per row (SQLite's json_array
    and PostgreSQL's array_to_json are compact, like the leaf; a call per column cost PostgreSQL
    ~40% more CPU); the hash is always computed here. Should the database's JSON escaping ever
    differ from Python's for some row, that row is re-checked from its columns in Python before
    anything is reported.
    """
    q = connection.ops.quote_name
    fields = [_time_sql() if f == "recorded_at" else q(f) for f in LEAF_FIELDS if f != "index"]
    if connection.vendor == "postgresql":
        # A text[] array of the fields after the index (the index is a JSON number): its JSON
        # without the opening bracket follows the format and the index.
        array = ", ".join(f + "::text" for f in fields)
        text = f"""'["{LEAF_FORMAT}",' || {q('index')} || ',' || substr(array_to_json(ARRAY[{array}])::text, 2)"""
    else:
        text = f"json_array('{LEAF_FORMAT}', {q('index')}, {', '.join(fields)})"
    return f"SELECT {q('index')}, {text}, prev_hash, leaf_hash FROM audit_entry"


def _python_leaf(index: int) -> tuple[bytes, str]:
    """The leaf hash of entry `index` recomputed from its columns in Python (the reference)."""
    with connection.cursor() as cursor:
        cursor.execute(_columns_sql() + f" WHERE {connection.ops.quote_name('index')} = %s", [index])
        row = cursor.fetchone()
    data = json.dumps([LEAF_FORMAT, *row[:17]], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return merkle.leaf_hash(data), row[17]


def _leaf_text_in_sql() -> bool:
    """Where the leaf's JSON text is built by default: in SQL. Measured on both databases, the
    database formats it for less total CPU than Python decoding and re-encoding 18 columns (and
    on PostgreSQL the work is split between the server and the verifier, two cores)."""
    return True


def _python_texts(rows: list[tuple]) -> list[tuple]:
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    fmt = LEAF_FORMAT
    return [(r[0], encode([fmt, *r[:17]]), r[16], r[17]) for r in rows]


def _stream(after: int | None, stop_before: int | None = None, batch: int = BATCH, in_sql: bool | None = None,
            conn=connection):
    """Yield lists of (index, leaf text, prev_hash, leaf_hash) in index order, keyset-paginated
    (constant memory, no OFFSET)."""
    in_sql = _leaf_text_in_sql() if in_sql is None else in_sql
    base = _leaf_text_sql() if in_sql else _columns_sql()
    idx = connection.ops.quote_name("index")
    with conn.cursor() as cursor:
        while True:
            where, params = [], []
            if after is not None:
                where.append(f"{idx} > %s")
                params.append(after)
            if stop_before is not None:
                where.append(f"{idx} < %s")
                params.append(stop_before)
            sql = base + (" WHERE " + " AND ".join(where) if where else "") + f" ORDER BY {idx} LIMIT {int(batch)}"
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            if not rows:
                return
            yield rows if in_sql else _python_texts(rows)
            after = rows[-1][0]
            if len(rows) < batch:
                return


def _stored_nodes(keys: list[int], conn=connection) -> dict[int, str]:
    """The stored hashes of these node keys (missing ones absent), one query."""
    if not keys:
        return {}
    k = connection.ops.quote_name("key")
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {k}, hash FROM audit_node WHERE {k} IN ({', '.join(['%s'] * len(keys))})", keys)
        return dict(cursor.fetchall())


def _nodes_completed_by(rows: list[tuple], conn) -> dict[int, str]:
    """The stored Merkle nodes the leaves of `rows` complete, by their indexes alone (node (L, i)
    is completed by leaf (i + 1) * 2^L - 1): a few key ranges, one query."""
    indexes = [row[0] for row in rows if row[0] >= 0]
    if not indexes:
        return {}
    lo, hi = indexes[0], indexes[-1]
    params, level = [], 1
    while 1 << level <= hi + 1:
        first, last = -(-(lo + 1) >> level) - 1, ((hi + 1) >> level) - 1
        if first <= last:
            params += [node_key(level, first), node_key(level, last)]
        level += 1
    if not params:
        return {}
    k = connection.ops.quote_name("key")
    where = " OR ".join(f"({k} BETWEEN %s AND %s)" for _ in range(len(params) // 2))
    with conn.cursor() as cursor:
        cursor.execute(f"SELECT {k}, hash FROM audit_node WHERE {where}", params)
        return dict(cursor.fetchall())


def _batches(after: int | None, stop_before: int | None, batch: int, in_sql: bool | None, with_nodes: bool,
             conn=connection):
    """`_stream`'s batches, each with the stored nodes it completes when asked (else None)."""
    for rows in _stream(after, stop_before, batch=batch, in_sql=in_sql, conn=conn):
        yield rows, (_nodes_completed_by(rows, conn) if with_nodes else None)


class _Prefetch:
    """PostgreSQL: `_batches` read by a thread a couple of batches ahead, on the thread's own
    database connection: the server builds the next rows (psycopg lets go of the GIL while it
    waits) while this thread hashes the last ones. Only outside a transaction: the reading
    connection sees what is committed. On SQLite the reading holds the GIL, so there it only
    added thread switching."""

    DEPTH = 2

    def __init__(self, *args):
        self.args = args
        self.queue: queue.Queue = queue.Queue(maxsize=self.DEPTH)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="audit-verify-reader", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        while self.thread.is_alive():  # unblock a reader waiting to hand over a batch
            try:
                self.queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.thread.join()

    def _put(self, item) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def _produce(self) -> None:
        own = connections[DEFAULT_DB_ALIAS]  # this thread's own connection
        try:
            for rows, nodes in _batches(*self.args, conn=own):
                if self.stopping.is_set() or not self._put((rows, nodes, None)):
                    return
        except Exception as exc:  # noqa: BLE001 - handed to the consuming thread, raised there
            self._put((None, None, exc))
            return
        finally:
            own.close()
        self._put((None, None, None))

    def __iter__(self):
        while True:
            rows, nodes, error = self.queue.get()
            if error is not None:
                raise error
            if rows is None:
                return
            yield rows, nodes


def _read(after: int | None, stop_before: int | None, batch: int, in_sql: bool | None, with_nodes: bool,
          prefetch: bool) -> Iterator[tuple[list[tuple], dict | None]]:
    if prefetch:
        with _Prefetch(after, stop_before, batch, in_sql, with_nodes) as batches:
            yield from batches
    else:
        yield from _batches(after, stop_before, batch, in_sql, with_nodes)


class _Checker:
    """The chain and Merkle state of one pass over consecutive entries, from `expected` on.

    `base` is the index the Merkle `stack` starts at (0 for the whole ledger; a range's start,
    a multiple of its span, for a range): its hashes are the perfect subtrees from `base` on.
    A range's checker (`defer`) keeps the stacks at checkpoint sizes for the join instead of
    checking the roots itself, since it does not know the tree before `base`."""

    def __init__(self, check_nodes: bool, *, expected: int = 0, prev: str = GENESIS_HASH,
                 prevprev: str | None = None, stack: list[bytes] | None = None, base: int = 0,
                 sizes: list[int] | None = None, defer: bool = False):
        self.pending_allowed = connection.vendor == "postgresql"
        self.expected = expected
        self.prev = prev
        self.prevprev = prevprev
        self.base = base
        self.stack: list[bytes] = stack or []  # the Merkle frontier's hashes from base (see merkle.Frontier)
        self.slow_rows = 0
        self.check_nodes = check_nodes
        self.nodes_checked = 0
        self.node_problem: Problem | None = None
        self.defer = defer
        self.reached: list[tuple[int, list[bytes]]] = []  # defer: checkpoint sizes passed, with the stack
        self.first_index: int | None = None
        self.rows = 0
        self.sizes = sizes or []
        self._cp_pos = 0
        self.next_cp_size: int | None = None
        self._skip_sizes_to(expected)
        # Checkpoints of the whole ledger (`load_checkpoints`, for the join and the end).
        self.checkpoints_checked = 0
        self.keys: dict = {}  # key id -> offline.HeldKey: the keys checkpoints may be signed by
        self.checkpoints: dict[int, list[tuple]] = {}

    # checkpoints --------------------------------------------------------------------------

    def load_checkpoints(self, public_key_pem: str | None = None) -> None:
        for row in Checkpoint.objects.order_by("tree_size", "id").values_list(
            "id", "tree_size", "root_hash", "made_at", "key_id", "signature"
        ):
            self.checkpoints.setdefault(row[1], []).append(row)
        if self.checkpoints:
            self.keys = _trusted_keys(public_key_pem)

        self.sizes = sorted(self.checkpoints)
        if self.sizes and self.sizes[0] == 0:
            self.check_checkpoints_at(0, merkle.EMPTY_ROOT)
        self._skip_sizes_to(self.expected)

    def _skip_sizes_to(self, size: int) -> None:
        """Aim at the first checkpoint size beyond `size` (those up to it are dealt with)."""
        self._cp_pos = 0
        while self._cp_pos < len(self.sizes) and self.sizes[self._cp_pos] <= size:
            self._cp_pos += 1
        self._set_next_cp()

    def _set_next_cp(self):
        self.next_cp_size = self.sizes[self._cp_pos] if self._cp_pos < len(self.sizes) else None

    def check_checkpoints_at(self, size: int, root: bytes) -> None:
        import base64

        from cryptography.exceptions import InvalidSignature

        from .checkpoints import checkpoint_message
        from .ledger import format_time

        for cp_id, tree_size, root_hex, made_at, key_id, signature in self.checkpoints.get(size, ()):
            if root_hex != root.hex():
                first = self._last_good_checkpoint_size
                raise _Stop(
                    Problem(
                        CHECKPOINT,
                        first if size else None,
                        f"checkpoint {cp_id} signed root {root_hex} for tree size {tree_size}, but the entries "
                        f"give {root.hex()}: entries {first}..{size - 1} were rewritten (with their hashes) "
                        f"after checkpoint {cp_id} was made",
                        cp_id,
                    )
                )
            made = format_time(made_at)
            key = self.keys.get(key_id)
            if key is None:
                raise _Stop(
                    Problem(
                        SIGNATURE,
                        None,
                        f"checkpoint {cp_id} names key {key_id[:16]}…, which is not one of this ledger's keys "
                        f"({', '.join(k[:16] + '…' for k in self.keys)}): a foreign or forged signature",
                        cp_id,
                    )
                )
            if not key.signed_at(made):
                raise _Stop(
                    Problem(
                        SIGNATURE,
                        None,
                        f"checkpoint {cp_id} was made at {made}, but key {key_id[:16]}… signed checkpoints only "
                        f"{key.validity()}: the checkpoint row was forged or altered",
                        cp_id,
                    )
                )
            try:
                key.public_key.verify(
                    base64.b64decode(signature, validate=True),
                    checkpoint_message(tree_size, root_hex, made),
                )
            except (InvalidSignature, ValueError):
                raise _Stop(
                    Problem(
                        SIGNATURE,
                        None,
                        f"checkpoint {cp_id} (tree size {tree_size}) has a signature that does not verify with "
                        f"the ledger key {key_id[:16]}…: the checkpoint row was forged or altered",
                        cp_id,
                    )
                ) from None
            self.checkpoints_checked += 1
        self._last_good_checkpoint_size = size

    _last_good_checkpoint_size = 0
    # A checkpoint size reached by the last entry, checked when the next entry is linked (or at the
    # end), so that "entry i-1 was inserted" (seen from entry i) is reported precisely: (size, root)
    # or, deferred, (size, stack). INHERITED: the range before may have ended on one.
    pending: tuple | None = None
    INHERITED = (None, None)

    def flush_pending(self) -> None:
        if self.pending is not None:
            size, state = self.pending
            self.pending = None
            if size is None:
                return
            if self.defer:
                self.reached.append((size, state))
            else:
                self.check_checkpoints_at(size, state)

    # entries -------------------------------------------------------------------------------

    def feed(self, rows: list[tuple], stored_nodes: dict[int, str] | None = None) -> None:
        sha256 = hashlib.sha256
        stack = self.stack
        base = self.base
        size = self.expected
        expected, prev, prevprev = self.expected, self.prev, self.prevprev
        next_cp = self.next_cp_size
        completed = [] if self.check_nodes else None
        if self.first_index is None and rows:
            self.first_index = rows[0][0]
        try:
            for index, text, stored_prev, stored_leaf in rows:
                if index != expected:
                    if index < 0 and self.pending_allowed and stored_prev == stored_leaf == "":
                        continue  # pending: committed after sequencing started, not yet in the chain
                    raise _Stop(self._index_problem(index, expected))
                if stored_prev != prev:
                    if stored_prev == prevprev:
                        raise _Stop(
                            Problem(
                                INSERTED,
                                index - 1,
                                f"entry {index} links back to entry {index - 2} (prev_hash {stored_prev[:16]}…): "
                                f"entry {index - 1} was inserted between them",
                            )
                        )
                    raise _Stop(
                        Problem(
                            CHAIN_BREAK,
                            index,
                            f"entry {index}'s prev_hash {str(stored_prev)[:16]}… is not entry "
                            f"{index - 1 if index else 'genesis'}'s leaf hash {prev[:16]}…: entries were reordered "
                            f"here, or the entry before was rewritten together with its hash",
                        )
                    )
                if self.pending is not None:
                    self.flush_pending()
                leaf = sha256(b"\x00" + text.encode("utf-8")).digest() if text is not None else b""
                leaf_hex = leaf.hex()
                if leaf_hex != stored_leaf:
                    leaf, _ = _python_leaf(index)
                    leaf_hex = leaf.hex()
                    if leaf_hex != stored_leaf:
                        raise _Stop(
                            Problem(
                                EDITED,
                                index,
                                f"entry {index}'s columns hash to {leaf_hex[:16]}… but its stored leaf hash is "
                                f"{str(stored_leaf)[:16]}…: the entry was edited",
                            )
                        )
                    self.slow_rows += 1
                # Frontier append (merkle.Frontier.append, inlined: this loop is the hot path).
                h, n, level = leaf, size - base, 0
                while n & 1:
                    h = sha256(b"\x01" + stack.pop() + h).digest()
                    n >>= 1
                    level += 1
                    if completed is not None:
                        completed.append((level, (base >> level) + n, h))
                stack.append(h)
                size += 1
                prevprev, prev = prev, leaf_hex
                expected += 1
                if expected == next_cp:
                    self.pending = (expected, list(stack) if self.defer else self.frontier_root(size))
                    self._cp_pos += 1
                    self._set_next_cp()
                    next_cp = self.next_cp_size
        finally:
            self.rows += len(rows)
            self.expected, self.prev, self.prevprev = expected, prev, prevprev
        if completed:
            self._check_nodes(completed, stored_nodes or {})

    def frontier_root(self, size: int) -> bytes:
        return merkle.Frontier.from_list(size, self.stack).root()

    def _index_problem(self, index: int, expected: int) -> Problem:
        if index > expected:
            which = "the first entry (index 0)" if expected == 0 else f"entry {expected}"
            gap = f"entries {expected}..{index - 1} are" if index - expected > 1 else f"entry {expected} is"
            return Problem(REMOVED, expected, f"{gap} missing: {which} was removed (the next index found is {index})")
        return Problem(
            INSERTED,
            index if index >= 0 else expected,
            f"an entry with index {index} appears where index {expected} was expected: an entry was inserted",
        )

    def _check_nodes(self, completed: list[tuple[int, int, bytes]], stored: dict[int, str]) -> None:
        """Compare the nodes these entries completed with the stored ones; the first that differs
        is kept (reported only if nothing else is wrong: a node is derived from the entries)."""
        for level, idx, h in completed:
            got = stored.get(node_key(level, idx))
            if got != h.hex() and self.node_problem is None:
                first = idx << level
                state = "missing" if got is None else f"{got[:16]}… instead of {h.hex()[:16]}…"
                self.node_problem = Problem(
                    NODE,
                    first,
                    f"stored node (level {level}, index {idx}) over entries {first}..{first + (1 << level) - 1} "
                    f"is {state}: proofs from it would be wrong",
                )
        self.nodes_checked += len(completed)

    # the end ---------------------------------------------------------------------------------

    def check_head(self, head: Head) -> None:
        n = self.expected
        if head.size > n:
            raise _Stop(
                Problem(
                    REMOVED,
                    n,
                    f"the head records {head.size} entries but the ledger ends at entry {n - 1}: entries "
                    f"{n}..{head.size - 1} were removed from the end",
                )
            )
        if head.size < n:
            raise _Stop(
                Problem(
                    INSERTED,
                    head.size,
                    f"the head records {head.size} entries but entries {head.size}..{n - 1} exist beyond it: "
                    "they were inserted at the end",
                )
            )
        if head.last_hash != self.prev:
            raise _Stop(
                Problem(
                    CHAIN_BREAK,
                    n - 1 if n else None,
                    f"the head's last hash {head.last_hash[:16]}… is not entry {n - 1}'s leaf hash {self.prev[:16]}…: "
                    "the last entry was rewritten together with its hash",
                )
            )
        frontier = ",".join(h.hex() for h in self.stack)
        if head.frontier != frontier:
            raise _Stop(
                Problem(HEAD, None, "the head's Merkle frontier does not match the entries: the head row was altered")
            )
        beyond = [s for s in self.sizes if s > n]
        if beyond:
            s = beyond[0]
            cp_id = self.checkpoints[s][0][0]
            raise _Stop(
                Problem(
                    REMOVED,
                    n,
                    f"checkpoint {cp_id} covers {s} entries but the ledger has only {n}: entries {n}..{s - 1} "
                    "were removed from the end",
                    cp_id,
                )
            )


# --- ranges ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Range:
    """Indexes [start, end) to check (the first range also takes every index below 0)."""

    start: int
    end: int
    sizes: tuple[int, ...]  # checkpoint sizes in (start, end]
    batch: int
    in_sql: bool | None
    check_nodes: bool
    prefetch: bool


@dataclass
class _RangeResult:
    start: int
    end: int
    expected: int  # the index after the last entry that passed
    first_index: int | None  # of the first row read (None: the range is empty)
    prev: str
    prevprev: str | None
    stack: list[bytes]  # the range's Merkle frontier (one hash, its root, when it is full)
    reached: list[tuple[int, list[bytes]]]  # checkpoint sizes passed before any problem, with the stack
    pending: tuple | None  # a checkpoint size reached by the last entry, not yet passed
    problem: Problem | None = None
    problem_first: bool = False  # found at the first entry's index or link check (before `pending` of the range before)
    node_problem: Problem | None = None
    nodes_checked: int = 0
    slow_rows: int = 0
    rows: int = 0


def _seeds(start: int) -> tuple[str, str | None]:
    """The stored leaf hashes of entries start-1 and start-2: where the range starting at `start`
    links to (the range before checks that they are the right ones)."""
    idx = connection.ops.quote_name("index")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {idx}, leaf_hash FROM audit_entry WHERE {idx} BETWEEN %s AND %s", [start - 2, start - 1])
        got = dict(cursor.fetchall())
    prevprev = GENESIS_HASH if start == 1 else got.get(start - 2)
    return got.get(start - 1, ""), prevprev


def _check_range(spec: _Range, progress: Callable[[int], None] | None = None) -> _RangeResult:
    checker = _Checker(spec.check_nodes, expected=spec.start, base=spec.start, sizes=list(spec.sizes), defer=True)
    if spec.start:
        checker.prev, checker.prevprev = _seeds(spec.start)
        checker.pending = _Checker.INHERITED
    result = None
    try:
        after = spec.start - 1 if spec.start else None
        for rows, nodes in _read(after, spec.end, spec.batch, spec.in_sql, spec.check_nodes, spec.prefetch):
            checker.feed(rows, nodes)
            if progress:
                progress(len(rows))
    except _Stop as stop:
        result = stop.problem
    return _RangeResult(
        start=spec.start, end=spec.end, expected=checker.expected, first_index=checker.first_index,
        prev=checker.prev, prevprev=checker.prevprev, stack=checker.stack, reached=checker.reached,
        pending=None if checker.pending is _Checker.INHERITED else checker.pending,
        problem=result, problem_first=result is not None and checker.pending is _Checker.INHERITED,
        node_problem=checker.node_problem, nodes_checked=checker.nodes_checked, slow_rows=checker.slow_rows,
        rows=checker.rows,
    )


def _ranges(size: int, span: int, sizes: list[int], **options) -> list[_Range]:
    count = max(1, -(-size // span))
    return [
        _Range(start=c * span, end=(c + 1) * span, sizes=tuple(s for s in sizes if c * span < s <= (c + 1) * span),
               **options)
        for c in range(count)
    ]


def _in_parallel(specs: list[_Range], workers: int, progress) -> Iterator[_RangeResult]:
    """Check the ranges in `workers` forked processes, each with its own database connection
    (opened on its first range, closed when it exits); yield the results in range order, as far
    as they decide the outcome (once a range has a problem the later ones do not matter)."""
    connections.close_all()  # no child inherits this process's connection
    done: dict[int, _RangeResult] = {}
    pool = multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker)
    try:
        nxt = 0
        for position, result in pool.imap_unordered(_check_one, list(enumerate(specs))):
            done[position] = result
            if progress:
                progress(result.rows)
            while nxt in done:
                yield done.pop(nxt)
                nxt += 1
        pool.close()
        pool.join()
    finally:
        pool.terminate()


def _start_worker() -> None:
    multiprocessing.util.Finalize(None, connections.close_all, exitpriority=10)


def _check_one(item: tuple[int, _Range]) -> tuple[int, _RangeResult]:
    position, spec = item
    return position, _check_range(spec)


def _join(results: Iterator[_RangeResult], span: int, main: _Checker) -> None:
    """Join the ranges' results in order into `main` (the whole ledger's state after the last
    range with entries), raising the first problem in index order."""
    top = span.bit_length() - 1
    meta = merkle.Frontier()  # over the full ranges' roots: the tree above the ranges
    above: list[tuple[int, int, bytes]] = []  # nodes completed above the ranges (level, index, hash)
    carried: tuple[int, bytes] | None = None  # (size, root) reached by the range before, not yet passed
    last: _RangeResult | None = None
    node_problem: Problem | None = None
    nodes_checked = slow_rows = 0
    for r in results:
        if r.first_index is None and last is not None:
            break  # the ledger ended with the range before
        if carried is not None:
            if r.problem is not None and r.problem_first:
                raise _Stop(r.problem)
            main.check_checkpoints_at(*carried)
            carried = None
        prefix = meta.to_list()
        for size, stack in r.reached:
            main.check_checkpoints_at(size, merkle.Frontier.from_list(size, prefix + stack).root())
        if r.problem is not None:
            raise _Stop(r.problem)
        node_problem = node_problem or r.node_problem
        nodes_checked += r.nodes_checked
        slow_rows += r.slow_rows
        last = r
        if r.expected < r.end:  # the end of the ledger, or a gap: reading on from here tells which
            stack = prefix + r.stack
            if r.pending is not None:
                carried = (r.pending[0], merkle.Frontier.from_list(r.pending[0], prefix + r.pending[1]).root())
            break
        for level, idx, h in meta.append(r.stack[0]):
            above.append((top + level, idx, h))
        stack = meta.to_list()
        if r.pending is not None:
            carried = (r.pending[0], meta.root())
    main.expected = last.expected
    main.prev, main.prevprev = last.prev, last.prevprev
    main.stack = stack
    main.pending = carried
    main._skip_sizes_to(main.expected)
    main.slow_rows += slow_rows
    main.nodes_checked += nodes_checked
    if main.check_nodes and above:
        main._check_nodes(above, _stored_nodes([node_key(level, idx) for level, idx, _ in above]))
    main.node_problem = node_problem or main.node_problem


def _trusted_keys(public_key_pem: str | None) -> dict:
    """The keys checkpoints may be signed by: those given (a PEM key or a key list), else the key
    list kept on this machine beside the key file, which the one in the database must match."""
    from . import checkpoints as cps
    from .offline import MalformedInput, VerificationFailed, load_keys

    if public_key_pem is not None:
        return load_keys(public_key_pem, "the public key given")  # refused there: the caller's bad input
    local = cps.local_keys()
    if local is None:
        # Never create a key here: a new key would make every checkpoint look foreign.
        raise _Stop(Problem(
            SIGNATURE, None,
            f"the ledger key {cps.key_path()} is not on this machine, so checkpoint signatures cannot be checked: "
            "pass the public key or the key list (`careaccess audit verify --public-key FILE`)",
        ))
    stored = cps.published_keys()
    if stored["keys"] != local["keys"]:
        raise _Stop(Problem(
            SIGNATURE, None,
            f"the ledger's key list in the database ({len(stored['keys'])} keys) is not the one kept on this machine "
            f"in {cps.key_list_path()} ({len(local['keys'])} keys): the key list was altered, or a key rotation was "
            "not finished (`careaccess audit checkpoint` finishes it)",
        ))
    try:
        return load_keys(local, f"the key list in {cps.key_list_path()}")
    except (MalformedInput, VerificationFailed) as exc:
        raise _Stop(Problem(SIGNATURE, None, str(exc))) from None


def _head() -> Head:
    head = Head.objects.filter(id=1).first()
    if head is None:
        raise _Stop(Problem(HEAD, None, "the head row (audit_head id 1) is missing: it was deleted"))
    return head


def verify(
    *,
    check_nodes: bool = True,
    batch: int = BATCH,
    progress: Callable[[int], None] | None = None,
    total_hint: Callable[[int], None] | None = None,
    public_key_pem: str | None = None,
    leaf_text_in_sql: bool | None = None,
    workers: int | None = None,
    span: int = SPAN,
) -> VerifyResult:
    """Check the whole ledger. `progress(n)` is called as entries are checked, with their count;
    `total_hint(size)` once with the head's size at the start (for a progress bar).
    `public_key_pem`: check checkpoint signatures with this key instead of the local ledger key.
    `workers`: processes checking ranges side by side (default: one per core); `span`: indexes
    per range, a power of two."""
    if span < 1 or span & (span - 1):
        raise ValueError(f"span must be a power of two, not {span}")
    started = time.perf_counter()
    main = _Checker(check_nodes)
    result = VerifyResult(ok=False)
    sequence()
    try:
        size = _head().size
        if total_hint:
            total_hint(size)
        main.load_checkpoints(public_key_pem)
        alone = connection.in_atomic_block or (connection.vendor == "sqlite" and connection.is_in_memory_db())
        workers = 1 if alone else max(1, workers or os.cpu_count() or 1)
        # Reading ahead in a thread pays only on PostgreSQL with one process: with one per core
        # the cores are busy anyway, and the thread only adds switching (measured).
        specs = _ranges(size, span, main.sizes, batch=batch, in_sql=leaf_text_in_sql, check_nodes=check_nodes,
                        prefetch=connection.vendor == "postgresql" and not alone and workers == 1)
        if workers > 1 and len(specs) > 1:
            result.workers = min(workers, len(specs))
            with closing(_in_parallel(specs, result.workers, progress)) as results:
                _join(results, span, main)
        else:
            _join((_check_range(spec, progress) for spec in specs), span, main)
        # Entries beyond the ranges (appended while we checked, or slipped in after the end): read
        # on until the head and the rows agree (an entry and the head move together).
        for _ in range(10):
            got = 0
            after = main.expected - 1 if main.expected else None
            for rows, nodes in _batches(after, None, batch, leaf_text_in_sql, check_nodes):
                main.feed(rows, nodes)
                got += len(rows)
                if progress:
                    progress(len(rows))
            head = _head()
            if not got or head.size <= main.expected:
                break
        main.check_head(head)  # the more precise diagnoses first
        main.flush_pending()
        if main.node_problem is not None:
            raise _Stop(main.node_problem)
        result.ok = True
    except _Stop as stop:
        result.problem = stop.problem
    result.size = main.expected
    result.root = merkle.Frontier.from_list(main.expected, main.stack).root().hex() if result.ok else ""
    result.checkpoints_checked = main.checkpoints_checked
    result.nodes_checked = main.nodes_checked
    result.slow_rows = main.slow_rows
    result.seconds = time.perf_counter() - started
    return result


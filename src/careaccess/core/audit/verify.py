"""Verifying the whole audit ledger (rule PP9): `careaccess audit verify`.

One pass over audit_entry in index order, in keyset-paginated batches of plain tuples (no model
objects; on PostgreSQL a second thread reads a batch or two ahead, `_Prefetch`), checking for each entry:

* its index is the next one (a gap = an entry removed; index 0 missing = the first one removed;
  an index below 0 = one inserted);
* its prev_hash is the previous entry's leaf hash (genesis: 64 zeros) - a break means entries were
  reordered, inserted or rewritten; when it links to the entry two back, the one between was
  inserted;
* its leaf_hash is SHA-256(0x00 || leaf bytes) of its own columns (else it was edited);

and, with the Merkle root rebuilt on a `Frontier` as it goes:

* every stored checkpoint's root at its tree size, and its Ed25519 signature with the ledger key;
* the head row's size, last hash and frontier at the end (entries removed from, or added to, the
  end);
* optionally the stored Node rows (`check_nodes`), batch by batch with range queries.

It stops at the first problem and reports it as a `Problem` with the entry's index. Appends may go
on while it runs: committed entries never change, and the head is re-read after the stream. On
PostgreSQL the pending entries (sequencing.py) are sequenced first; any committed after that are
skipped (a negative index with no hashes: not yet part of the chain, checked once sequenced).
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connection, connections

from . import merkle
from .ledger import LEAF_FIELDS, LEAF_FORMAT, NODE_LEVEL_SHIFT, node_key
from .models import Checkpoint, Head
from .sequencing import sequence

GENESIS_HASH = "0" * 64
BATCH = 20_000

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

    Only the formatting is done in SQL (JSON string quoting of each column); the hash is always
    computed here. Should the database's JSON escaping ever differ from Python's for some row,
    that row is re-checked from its columns in Python before anything is reported.
    """
    q = connection.ops.quote_name
    if connection.vendor == "postgresql":
        quote = "COALESCE(to_json({})::text, 'null')"
    else:
        quote = "json_quote({})"
    parts = []
    for f in LEAF_FIELDS:
        if f == "index":
            parts.append(f"CAST({q('index')} AS TEXT)")
        elif f == "recorded_at":
            parts.append(f"'\"' || {_time_sql()} || '\"'")
        else:
            parts.append(quote.format(q(f)))
    text = f"'[\"{LEAF_FORMAT}\",' || " + " || ',' || ".join(parts) + " || ']'"
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


def _stored_nodes(rows: list[tuple], conn) -> dict[int, str]:
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


def _batches(after: int | None, batch: int, in_sql: bool | None, with_nodes: bool, conn=connection):
    """`_stream`'s batches, each with the stored nodes it completes when asked (else None)."""
    for rows in _stream(after, batch=batch, in_sql=in_sql, conn=conn):
        yield rows, (_stored_nodes(rows, conn) if with_nodes else None)


class _Prefetch:
    """PostgreSQL: `_batches` read by a thread, a couple of batches ahead, on this thread's own
    database connection and transaction: the server builds the next rows (psycopg lets go of the
    GIL while it waits) while this thread hashes the last ones. Measured: 7-13% more entries/s on
    PostgreSQL; on SQLite the reading holds the GIL, so there it only added thread switching."""

    DEPTH = 2

    def __init__(self, after: int | None, batch: int, in_sql: bool | None, with_nodes: bool):
        self.conn = connections[DEFAULT_DB_ALIAS]
        self.args = (after, batch, in_sql, with_nodes)
        self.queue: queue.Queue = queue.Queue(maxsize=self.DEPTH)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._produce, name="audit-verify-reader", daemon=True)

    def __enter__(self):
        self.conn.inc_thread_sharing()
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
        self.conn.dec_thread_sharing()

    def _put(self, item) -> bool:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def _produce(self) -> None:
        after, batch, in_sql, with_nodes = self.args
        try:
            for rows, nodes in _batches(after, batch, in_sql, with_nodes, self.conn):
                if self.stopping.is_set() or not self._put((rows, nodes, None)):
                    return
        except Exception as exc:  # noqa: BLE001 - handed to the consuming thread, raised there
            self._put((None, None, exc))
            return
        self._put((None, None, None))

    def __iter__(self):
        while True:
            rows, nodes, error = self.queue.get()
            if error is not None:
                raise error
            if rows is None:
                return
            yield rows, nodes


class _Checker:
    def __init__(self, check_nodes: bool, progress: Callable[[int], None] | None):
        self.pending_allowed = connection.vendor == "postgresql"
        self.expected = 0
        self.prev = GENESIS_HASH
        self.prevprev: str | None = None
        self.last_index: int | None = None
        self.stack: list[bytes] = []  # the Merkle frontier's hashes (see merkle.Frontier)
        self.size = 0
        self.slow_rows = 0
        self.check_nodes = check_nodes
        self.progress = progress
        self.nodes_checked = 0
        self.checkpoints_checked = 0
        self.public_key = None
        self.key_id = None
        self.checkpoints: dict[int, list[tuple]] = {}
        self.next_cp_size: int | None = None

    # checkpoints --------------------------------------------------------------------------

    def load_checkpoints(self, public_key_pem: str | None = None) -> None:
        from . import checkpoints as cps

        for row in Checkpoint.objects.order_by("tree_size", "id").values_list(
            "id", "tree_size", "root_hash", "made_at", "key_id", "signature"
        ):
            self.checkpoints.setdefault(row[1], []).append(row)
        if public_key_pem is not None:
            from .offline import load_public_key

            self.public_key = load_public_key(public_key_pem)
            self.key_id = cps.key_id_of(self.public_key)
        elif self.checkpoints and not cps.key_path().exists():
            # Never create a key here: a new key would make every checkpoint look foreign.
            raise _Stop(
                Problem(
                    SIGNATURE,
                    None,
                    f"the ledger key {cps.key_path()} is not on this machine, so checkpoint signatures cannot be "
                    "checked: pass the public key (`careaccess audit verify --public-key FILE`)",
                )
            )
        elif self.checkpoints:
            self.public_key = cps.public_key()
            self.key_id = cps.key_id()
        self.sizes = sorted(self.checkpoints)
        self._cp_pos = 0
        if self.sizes and self.sizes[0] == 0:
            self._check_checkpoints_at(0, merkle.EMPTY_ROOT)
            self._cp_pos = 1
        self._set_next_cp()

    def _set_next_cp(self):
        self.next_cp_size = self.sizes[self._cp_pos] if self._cp_pos < len(self.sizes) else None

    def _check_checkpoints_at(self, size: int, root: bytes) -> None:
        import base64

        from cryptography.exceptions import InvalidSignature

        from .checkpoints import checkpoint_message
        from .ledger import format_time

        for cp_id, tree_size, root_hex, made_at, key_id, signature in self.checkpoints[size]:
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
            if key_id != self.key_id:
                raise _Stop(
                    Problem(
                        SIGNATURE,
                        None,
                        f"checkpoint {cp_id} names key {key_id[:16]}…, not this ledger's key {self.key_id[:16]}…",
                        cp_id,
                    )
                )
            try:
                self.public_key.verify(
                    base64.b64decode(signature, validate=True),
                    checkpoint_message(tree_size, root_hex, format_time(made_at)),
                )
            except (InvalidSignature, ValueError):
                raise _Stop(
                    Problem(
                        SIGNATURE,
                        None,
                        f"checkpoint {cp_id} (tree size {tree_size}) has a signature that does not verify with "
                        "the ledger key: the checkpoint row was forged or altered",
                        cp_id,
                    )
                ) from None
            self.checkpoints_checked += 1
        self._last_good_checkpoint_size = size

    _last_good_checkpoint_size = 0
    pending: tuple[int, bytes] | None = None

    def flush_pending(self) -> None:
        if self.pending is not None:
            size, root = self.pending
            self.pending = None
            self._check_checkpoints_at(size, root)

    # entries -------------------------------------------------------------------------------

    def feed(self, rows: list[tuple], stored_nodes: dict[int, str] | None = None) -> None:
        sha256 = hashlib.sha256
        stack = self.stack
        size = self.size
        expected, prev, prevprev = self.expected, self.prev, self.prevprev
        next_cp = self.next_cp_size
        completed = [] if self.check_nodes else None
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
                    # A checkpoint at this size was reached by the entry before: checked only now,
                    # so that "entry i-1 was inserted" (seen from entry i) is reported precisely.
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
                h, n, level = leaf, size, 0
                while n & 1:
                    h = sha256(b"\x01" + stack.pop() + h).digest()
                    n >>= 1
                    level += 1
                    if completed is not None:
                        completed.append((level, n, h))
                stack.append(h)
                size += 1
                prevprev, prev = prev, leaf_hex
                expected += 1
                if expected == next_cp:
                    self.pending = (expected, merkle.Frontier.from_list(size, stack).root())
                    self._cp_pos += 1
                    self._set_next_cp()
                    next_cp = self.next_cp_size
        finally:
            self.expected, self.prev, self.prevprev, self.size = expected, prev, prevprev, size
        if completed:
            self._check_nodes(completed, stored_nodes or {})
        if self.progress:
            self.progress(len(rows))

    @property
    def frontier(self) -> merkle.Frontier:
        return merkle.Frontier.from_list(self.size, self.stack)

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
        keys = {node_key(level, idx): h.hex() for level, idx, h in completed}
        for key, h in keys.items():
            got = stored.get(key)
            if got != h:
                level, idx = key >> NODE_LEVEL_SHIFT, key & ((1 << NODE_LEVEL_SHIFT) - 1)
                first = idx << level
                state = "missing" if got is None else f"{got[:16]}… instead of {h[:16]}…"
                raise _Stop(
                    Problem(
                        NODE,
                        first,
                        f"stored node (level {level}, index {idx}) over entries {first}..{first + (1 << level) - 1} "
                        f"is {state}: proofs from it would be wrong",
                    )
                )
        self.nodes_checked += len(keys)

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
        frontier = ",".join(h.hex() for h in self.frontier.to_list())
        if head.frontier != frontier:
            raise _Stop(
                Problem(HEAD, None, "the head's Merkle frontier does not match the entries: the head row was altered")
            )
        pending = [s for s in self.sizes if s > n]
        if pending:
            s = pending[0]
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


def _head() -> Head:
    # The base manager: reading the head here must not sequence more entries behind the stream.
    head = Head._base_manager.filter(id=1).first()
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
) -> VerifyResult:
    """Check the whole ledger. `progress(n)` is called after each batch with its row count;
    `total_hint(size)` once with the head's size at the start (for a progress bar).
    `public_key_pem`: check checkpoint signatures with this key instead of the local ledger key."""
    started = time.perf_counter()
    checker = _Checker(check_nodes, progress)
    result = VerifyResult(ok=False)
    sequence()
    try:
        if total_hint:
            total_hint(_head().size)
        checker.load_checkpoints(public_key_pem)
        if connection.vendor == "postgresql":
            with _Prefetch(None, batch, leaf_text_in_sql, check_nodes) as batches:
                for rows, nodes in batches:
                    checker.feed(rows, nodes)
        else:
            for rows, nodes in _batches(None, batch, leaf_text_in_sql, check_nodes):
                checker.feed(rows, nodes)
        # Appends may have committed while we streamed: catch up until the head and the rows
        # agree (an entry and the head move together in one transaction).
        for _ in range(10):
            head = _head()
            if head.size <= checker.expected:
                break
            got = 0
            after = checker.expected - 1 if checker.expected else None
            for rows, nodes in _batches(after, batch, leaf_text_in_sql, check_nodes):
                checker.feed(rows, nodes)
                got += len(rows)
            if not got:
                break
        checker.check_head(head)  # the more precise diagnoses first
        checker.flush_pending()
        result.ok = True
    except _Stop as stop:
        result.problem = stop.problem
    result.size = checker.expected
    result.root = checker.frontier.root().hex()
    result.checkpoints_checked = checker.checkpoints_checked
    result.nodes_checked = checker.nodes_checked
    result.slow_rows = checker.slow_rows
    result.seconds = time.perf_counter() - started
    return result

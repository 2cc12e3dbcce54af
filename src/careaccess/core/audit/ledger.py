"""Appending to the audit ledger (rules PP9, SC2).

`record()` is called by service functions inside their transaction, so an entry exists exactly
when its change does. Entries are placed (sequenced) under the one head row: at once on SQLite,
in batches by `sequencing.sequence()` on PostgreSQL (see `record_many`). Each entry's leaf hash
covers its content and the previous entry's leaf hash, and the Merkle frontier and completed
subtree nodes are written with it, so checkpoints and proofs never rescan the ledger.

The leaf's bytes (what an outside verifier hashes) are documented in docs/audit-ledger.md:
the UTF-8 of a compact JSON array, in this order, of the fields named in `LEAF_FIELDS`.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Sequence

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction

from careaccess.core import clock
from careaccess.core.context import Actor, current_request_id

from . import merkle
from .models import Entry

LEAF_FORMAT = "careaccess-audit-v1"
LEAF_FIELDS = (
    "index",
    "recorded_at",
    "actor_kind",
    "actor",
    "actor_uid",
    "actor_position",
    "action",
    "target_type",
    "target_id",
    "person_uid",
    "organisation_code",
    "access_request",
    "request_id",
    "reason",
    "before",
    "after",
    "prev_hash",
)
NODE_LEVEL_SHIFT = 48


def node_key(level: int, index: int) -> int:
    return (level << NODE_LEVEL_SHIFT) + index


_canonical = DjangoJSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return _canonical(value)


def leaf_bytes(values: dict[str, Any]) -> bytes:
    """The bytes hashed into a leaf, from an entry's stored column values."""
    return json.dumps(
        [LEAF_FORMAT, *(values[name] for name in LEAF_FIELDS)], separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def format_time(instant) -> str:
    """Entry times are stored and hashed as UTC ISO-8601 with microseconds, one spelling only."""
    return instant.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def record(
    action: str,
    *,
    actor: Actor,
    target_type: str,
    target_id: Any,
    before: Any = None,
    after: Any = None,
    person_uid: str | None = None,
    organisation_code: str | None = None,
    access_request: str | None = None,
    reason: str = "",
) -> Entry:
    """Append one entry for a change made in the current transaction, and return it."""
    return record_many([Change(action, actor=actor, target_type=target_type, target_id=target_id, before=before,
                               after=after, person_uid=person_uid, organisation_code=organisation_code,
                               access_request=access_request, reason=reason)])[0]


@dataclass(frozen=True)
class Change:
    """One change to record: the arguments of `record()`."""

    action: str
    actor: Actor
    target_type: str
    target_id: Any
    before: Any = None
    after: Any = None
    person_uid: str | None = None
    organisation_code: str | None = None
    access_request: str | None = None
    reason: str = ""


_access_request: contextvars.ContextVar[str | None] = contextvars.ContextVar("access_request", default=None)


@contextmanager
def for_access_request(reference: str):
    """Entries recorded inside link to this access request unless they name one themselves, so the
    changes a request's fulfilment makes through other apps' services all lead back to it."""
    token = _access_request.set(str(reference))
    try:
        yield
    finally:
        _access_request.reset(token)


def record_many(changes: Sequence[Change]) -> list[Entry]:
    """Append one entry per change, in order, for changes made in the current transaction.

    On SQLite (one writer at a time anyway) each entry is sequenced at once: given its index, the
    previous entry's hash and its leaf hash, under the head. On PostgreSQL the entries are written
    *pending* (a negative index, no hashes yet) with no lock at all, so concurrent transactions
    commit side by side and share their WAL flushes; `sequencing.sequence()` gives them their
    places in batches soon after (the worker, checkpoints and verify; readers see them meanwhile at
    those places, `models.py`). The returned entries of a pending append carry their pending key
    as `index` and empty hashes.
    One statement for the whole batch either way, so set-based work (sweeps, bulk operations)
    records an entry per person at the cost of a few rows, not a transaction each."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit entries are written inside the transaction of the change they record")
    if not changes:
        return []
    recorded_at = clock.now()
    request_id = _text(current_request_id())
    contents = [
        {
            "recorded_at": format_time(recorded_at),
            # Text columns hold text: the leaf hashes exactly what the database gives back.
            "actor_kind": str(change.actor.kind),
            "actor": str(change.actor.label),
            "actor_uid": _text(change.actor.person_uid),
            "actor_position": _text(change.actor.position_label),
            "action": str(change.action),
            "target_type": str(change.target_type),
            "target_id": str(change.target_id),
            "person_uid": _text(change.person_uid),
            "organisation_code": _text(change.organisation_code),
            "access_request": _text(change.access_request or _access_request.get()),
            "request_id": request_id,
            "reason": str(change.reason or ""),
            "before": canonical_json(change.before),
            "after": canonical_json(change.after),
        }
        for change in changes
    ]
    if connection.vendor == "postgresql":
        keys = _write_pending(contents, recorded_at)
        return [_entry({**values, "index": key, "prev_hash": "", "leaf_hash": ""}, recorded_at)
                for values, key in zip(contents, keys)]
    entries, completed, frontier = chain(locked_head(), contents)
    _write(entries, completed, frontier, recorded_at)
    return [_entry(entry, recorded_at) for entry in entries]


def _entry(values: dict, recorded_at) -> Entry:
    # Positional: a third cheaper than keyword arguments, and this runs in every audited change.
    return Entry(*(recorded_at if name == "recorded_at" else values[name] for name in _ENTRY_ATTNAMES))


def chain(head_row: tuple[int, str, str], contents: list[dict]) -> tuple[list[dict], list, merkle.Frontier]:
    """Place entries (their leaf fields but index and prev_hash) after the head (size, last hash,
    frontier): each gets the next index, the previous leaf hash and its own leaf hash. Returns the
    entries' column values, the Merkle nodes they completed and the new frontier."""
    size, last_hash, frontier_text = head_row
    frontier = merkle.Frontier.from_list(size, [bytes.fromhex(h) for h in frontier_text.split(",") if h])
    entries, completed = [], []
    for content in contents:
        values = {**content, "index": frontier.size, "prev_hash": last_hash}
        leaf = merkle.leaf_hash(leaf_bytes(values))
        completed += frontier.append(leaf)
        last_hash = leaf.hex()
        entries.append({**values, "leaf_hash": last_hash})
    return entries, completed, frontier


def _write(entries: list[dict], completed: list[tuple[int, int, bytes]], frontier: merkle.Frontier, recorded_at) -> None:
    """SQLite: insert the sequenced entries and completed nodes and move the head. Plain SQL: this
    runs inside every audited change, and the ORM's per-statement cost was most of an append's
    time (benchmarks/audit_bench.py); SQLite is in-process, so separate statements cost nothing."""
    stored_time = connection.ops.adapt_datetimefield_value(recorded_at)
    rows = [[stored_time if name == "recorded_at" else entry[name] for name in ENTRY_COLUMNS] for entry in entries]
    with connection.cursor() as cursor:
        cursor.executemany(_INSERT_ENTRY, rows)
        cursor.executemany("INSERT INTO audit_node (key, hash) VALUES (%s, %s)", node_rows(completed))
        cursor.execute(UPDATE_HEAD, head_values(frontier, entries[-1]["leaf_hash"]))


def node_rows(completed: list[tuple[int, int, bytes]]) -> list[tuple[int, str]]:
    return [(node_key(level, idx), h.hex()) for level, idx, h in completed]


def head_values(frontier: merkle.Frontier, last_hash: str) -> list:
    return [frontier.size, last_hash, ",".join(h.hex() for h in frontier.to_list())]


def _write_pending(contents: list[dict], recorded_at) -> list[int]:
    """PostgreSQL: insert the entries pending, in one statement and one round trip; return their
    pending keys (negative, in the order given). No lock: nothing here waits for another append.

    One change (nearly every audited change) is one row of plain values: measured, that halves
    both this process's and the server's CPU for the statement against a row of one-element
    arrays (binding and unnesting 15 arrays). More changes go as one array per column, whose cost
    grows more slowly with the rows than that of a row of values each."""
    if len(contents) == 1:
        sql, params = _INSERT_PENDING_ROW, [recorded_at if name == "recorded_at" else contents[0][name]
                                            for name in CONTENT_COLUMNS]
    else:
        sql, params = _INSERT_PENDING, [[recorded_at if name == "recorded_at" else c[name] for c in contents]
                                        for name in CONTENT_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        # nextval() runs in row order, so the keys' order (-1 before -2) is the changes' order.
        return sorted((key for (key,) in cursor.fetchall()), reverse=True)


ENTRY_COLUMNS = (*LEAF_FIELDS, "leaf_hash")
CONTENT_COLUMNS = tuple(c for c in LEAF_FIELDS if c not in ("index", "prev_hash"))
_INSERT_ENTRY = (
    f'INSERT INTO audit_entry ({", ".join(f"{chr(34)}{c}{chr(34)}" for c in ENTRY_COLUMNS)}) '
    f'VALUES ({", ".join(["%s"] * len(ENTRY_COLUMNS))})'
)
UPDATE_HEAD = "UPDATE audit_head SET size = %s, last_hash = %s, frontier = %s WHERE id = 1"
PENDING_SEQUENCE = "audit_entry_pending_seq"
_PENDING_INTO = (
    f'INSERT INTO audit_entry ("index", prev_hash, leaf_hash, {", ".join(chr(34) + c + chr(34) for c in CONTENT_COLUMNS)}) '
)
_INSERT_PENDING = (
    f"{_PENDING_INTO}SELECT -nextval('{PENDING_SEQUENCE}'), '', '', * FROM unnest("
    + ", ".join("%s::" + ("timestamptz" if c == "recorded_at" else "text") + "[]" for c in CONTENT_COLUMNS)
    + ') RETURNING "index"'
)
_INSERT_PENDING_ROW = (
    f"{_PENDING_INTO}VALUES (-nextval('{PENDING_SEQUENCE}'), '', '', {', '.join(['%s'] * len(CONTENT_COLUMNS))}) "
    'RETURNING "index"'
)
_ENTRY_ATTNAMES = tuple(f.attname for f in Entry._meta.concrete_fields)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def locked_head() -> tuple[int, str, str]:
    """(size, last hash, frontier) of the tip, locked until the transaction ends.

    On SQLite the IMMEDIATE transaction already holds the database's one write lock."""
    lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT size, last_hash, frontier FROM audit_head WHERE id = 1{lock}")
        return cursor.fetchone()


def atomic_record(action: str, **kwargs) -> Entry:
    """Record outside a service transaction (reads that are themselves recorded, e.g. audit search)."""
    with transaction.atomic():
        return record(action, **kwargs)

"""Shared helpers for the ledger tests: appending, and tampering the way an attacker with database
access would (triggers dropped, raw SQL). Tamper only inside a test using the `db` fixture, so the
DDL and the damage are rolled back when the test ends.

The ledger tables are never flushed between tests: every helper reasons relative to the size the
ledger had before, never assumes it is empty.
"""

from __future__ import annotations

import hashlib
import json

from django.db import connection, transaction

from careaccess.core.audit import ledger, sequencing
from careaccess.core.audit.models import Entry, Head
from careaccess.core.context import Actor

GENESIS = "0" * 64
APPEND_ONLY = ("audit_entry", "audit_node", "audit_checkpoint")
ACTOR = Actor(kind="person", label="Ada Lovelace", person_uid="100000000001", position_label="RA agent, Y001")
COLUMNS = (*ledger.LEAF_FIELDS, "leaf_hash")


def size() -> int:
    return Head.objects.size()


def append(n: int, *, tag: str = "test", **kwargs) -> list[Entry]:
    """n entries, each in its own transaction, as a service function would write them; returned
    as stored, placed (on PostgreSQL record() leaves them pending, so they are sequenced here:
    the tests that use this one tamper with the chain or check it)."""
    start = size()
    for i in range(n):
        with transaction.atomic():
            ledger.record(
                kwargs.get("action", f"{tag}.append"),
                actor=kwargs.get("actor", ACTOR),
                target_type="person",
                target_id=f"{tag}-{i}",
                before={"state": "pending", "i": i},
                after={"state": "active", "i": i, "name": "Zoë Ñandú"},
                person_uid="100000000002",
                organisation_code="Y001",
                reason=kwargs.get("reason", f"test entry {i}"),
            )
    sequencing.sequence()
    return list(Entry.objects.filter(index__gte=start).order_by("index"))


def ensure(n: int) -> int:
    """Make sure the ledger has at least n entries; return its size."""
    missing = n - size()
    if missing > 0:
        append(missing, tag="fill")
    return size()


def q(name: str) -> str:
    return connection.ops.quote_name(name)


def sql(statement: str, params=()) -> list:
    with connection.cursor() as cursor:
        cursor.execute(statement, list(params))
        try:
            return cursor.fetchall()
        except Exception:  # noqa: BLE001 - statements without a result set
            return []


def drop_triggers() -> None:
    """What an attacker with the database owner's rights does first."""
    if connection.vendor == "sqlite":
        for table in APPEND_ONLY:
            for op in ("update", "delete"):
                sql(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
    else:
        for table in APPEND_ONLY:
            sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def row(index: int) -> dict:
    got = sql(f"SELECT {', '.join(q(c) for c in COLUMNS)} FROM audit_entry WHERE {q('index')} = %s", [index])
    values = dict(zip(COLUMNS, got[0]))
    values["recorded_at"] = Entry.objects.get(index=index).recorded_at
    return values


def leaf_of(values: dict) -> str:
    """Independent of ledger.py: SHA-256(0x00 || compact JSON array of the leaf fields)."""
    fields = dict(values)
    when = fields["recorded_at"]
    if not isinstance(when, str):
        fields["recorded_at"] = ledger.format_time(when)
    data = json.dumps(["careaccess-audit-v1", *(fields[f] for f in ledger.LEAF_FIELDS)], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(b"\x00" + data.encode("utf-8")).hexdigest()


def insert_row(values: dict) -> None:
    values = dict(values)
    values["recorded_at"] = connection.ops.adapt_datetimefield_value(values["recorded_at"])
    names = list(values)
    sql(
        f"INSERT INTO audit_entry ({', '.join(q(n) for n in names)}) VALUES ({', '.join(['%s'] * len(names))})",
        [values[n] for n in names],
    )


def move(index_from: int, index_to: int) -> None:
    sql(f"UPDATE audit_entry SET {q('index')} = %s WHERE {q('index')} = %s", [index_to, index_from])


def shift_up_from(k: int) -> None:
    """Move every entry at index >= k one place up (in two steps, so no key collides)."""
    offset = 10**12
    sql(f"UPDATE audit_entry SET {q('index')} = -({q('index')} + %s) WHERE {q('index')} >= %s", [offset, k])
    sql(f"UPDATE audit_entry SET {q('index')} = -{q('index')} - %s + 1 WHERE {q('index')} < 0", [offset])


def forge_at(k: int, prev_hash: str, template: dict) -> dict:
    """A well-formed entry at index k that links to prev_hash, with a correct leaf hash."""
    forged = dict(template)
    forged.update(index=k, reason="forged: never happened", prev_hash=prev_hash, action="forged.entry")
    forged["leaf_hash"] = leaf_of(forged)
    return forged

"""Sequencing pending audit entries on PostgreSQL (rules PP9, SC2): the ledger's integrator.

`ledger.record()` writes an entry in its change's transaction without touching the head, with a
negative *pending* index and no hashes, so concurrent audited transactions never wait for one
another and PostgreSQL flushes their commits to the WAL together. `sequence()` then gives the
committed pending entries their places in batches, under the head lock: in the order they were
written (their pending keys), each gets the next index, the previous entry's leaf hash and its
own leaf hash, exactly as an immediate append would (`ledger.chain`), and the completed Merkle
nodes and the head move with them in the same statement.

The database lets nothing else change an entry (migration 0002): only a pending entry may be
given its index and hashes, once, with every other column unchanged; DELETE stays refused.

Who calls it: the worker on every pass (job "audit.sequence"), and what signs or checks the chain
itself: checkpoints (`checkpoints.make_checkpoint`, `checkpoint_if_due`), `audit verify` and key
rotation. Nothing that only reads calls it: `Entry.objects` (the view `audit_ledger`, migration
0004) shows the pending entries after the placed ones at the places this would give them, and
`Head.objects.size()` counts them, without writing. On SQLite there is nothing to do: entries are
sequenced as they are written.
"""

from __future__ import annotations

from django.db import connection, transaction

from .ledger import (
    CONTENT_COLUMNS,
    UPDATE_HEAD,
    chain,
    format_time,
    head_values,
    locked_head,
    node_rows,
)

BATCH = 5_000

_PENDING = (
    f'SELECT "index", {", ".join(chr(34) + c + chr(34) for c in CONTENT_COLUMNS)} FROM audit_entry '
    f"WHERE \"index\" < 0 AND leaf_hash = '' ORDER BY \"index\" DESC LIMIT %s"
)
_SEQUENCE = (
    'WITH placed AS (UPDATE audit_entry AS e SET "index" = p.position, prev_hash = p.prev_hash, leaf_hash = p.leaf_hash '
    "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) AS p(pending, position, prev_hash, leaf_hash) "
    'WHERE e."index" = p.pending), '
    "node AS (INSERT INTO audit_node (key, hash) SELECT * FROM unnest(%s::bigint[], %s::text[])) "
    + UPDATE_HEAD
)


def pending() -> bool:
    """Are there committed (or own) entries still waiting for their place? One index probe."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("""SELECT 1 FROM audit_entry WHERE "index" < 0 AND leaf_hash = '' LIMIT 1""")
        return cursor.fetchone() is not None


def sequence(batch: int = BATCH) -> int:
    """Give every pending entry visible now its place; return how many were placed."""
    placed = 0
    while pending():
        with transaction.atomic():
            head = locked_head()
            with connection.cursor() as cursor:
                cursor.execute(_PENDING, [batch])
                rows = cursor.fetchall()
                if not rows:  # another sequencer took them while we waited for the head
                    return placed
                contents = [
                    {**dict(zip(CONTENT_COLUMNS, row[1:])), "recorded_at": format_time(row[1])} for row in rows
                ]
                entries, completed, frontier = chain(head, contents)
                nodes = node_rows(completed)
                cursor.execute(
                    _SEQUENCE,
                    [
                        [row[0] for row in rows],
                        [e["index"] for e in entries],
                        [e["prev_hash"] for e in entries],
                        [e["leaf_hash"] for e in entries],
                        [k for k, _ in nodes],
                        [h for _, h in nodes],
                        *head_values(frontier, entries[-1]["leaf_hash"]),
                    ],
                )
        placed += len(rows)
        if len(rows) < batch:
            return placed
    return placed

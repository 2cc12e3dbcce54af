"""The view `audit_ledger` that `Entry` reads: reading the ledger writes nothing (rules PP9, PP15).

Placed entries as they are; on PostgreSQL the pending entries (sequencing.py) after them, each at
the place sequencing would give it now: the head's size plus its rank among the pending entries in
the order they were written (their pending keys), exactly how `sequencing.sequence()` places them.
One statement reads the head and the entries from one snapshot, so the indexes a reader sees are
contiguous. An entry with a negative index and hashes (slipped in: `audit verify` names it) is in
neither part. SQLite places every entry as it is written, so there the view is the placed entries.

UPDATE and DELETE through the view are refused like those on the table (append-only).
"""

from django.db import migrations

VIEW = "audit_ledger"
_COLUMNS = [
    "index", "recorded_at", "actor_kind", "actor", "actor_uid", "actor_position", "action", "target_type",
    "target_id", "person_uid", "organisation_code", "access_request", "request_id", "reason", "before", "after",
    "prev_hash", "leaf_hash",
]
_SELECT = f"""SELECT {", ".join(f'"{c}"' for c in _COLUMNS)}"""
_PENDING = (
    """SELECT h.size + row_number() OVER (ORDER BY p."index" DESC) - 1, """
    + ", ".join(f'p."{c}"' for c in _COLUMNS[1:])
    + """ FROM audit_entry p CROSS JOIN audit_head h WHERE h.id = 1 AND p."index" < 0 AND p.leaf_hash = ''"""
)
# The placed entries are the rows at index >= 0; the pending rows (below 0) come again from the
# second part at their places. The condition stands outside the UNION ALL, not in its first part:
# so PostgreSQL keeps the union an append relation, applies it to each part and reads "newest
# first" by the primary key backwards, merging in the few pending rows (a condition inside the
# first part made it read and sort the whole ledger for every page: 730 ms against 7 ms on a
# 1,000,000-entry ledger).
_POSTGRESQL = f"""{_SELECT} FROM ({_SELECT} FROM audit_entry UNION ALL {_PENDING}) AS ledger WHERE "index" >= 0"""

FORWARD = {
    "postgresql": [
        f"CREATE VIEW {VIEW} AS {_POSTGRESQL}",
        f"CREATE TRIGGER {VIEW}_append_only INSTEAD OF UPDATE OR DELETE ON {VIEW} "
        "FOR EACH ROW EXECUTE FUNCTION careaccess_ledger_append_only()",
    ],
    "sqlite": [
        f"CREATE VIEW {VIEW} AS {_SELECT} FROM audit_entry WHERE \"index\" >= 0",
        *[
            f"CREATE TRIGGER {VIEW}_no_{op.lower()} INSTEAD OF {op} ON {VIEW} "
            f"BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only: {op} on {VIEW} refused'); END"
            for op in ("UPDATE", "DELETE")
        ],
    ],
}


def create_view(apps, schema_editor):
    for sql in FORWARD[schema_editor.connection.vendor]:
        schema_editor.execute(sql, params=None)


def drop_view(apps, schema_editor):
    schema_editor.execute(f"DROP VIEW {VIEW}", params=None)  # and its triggers


class Migration(migrations.Migration):
    dependencies = [("audit", "0003_pending_index")]

    operations = [
        migrations.RunPython(create_view, drop_view),
        migrations.AlterModelTable("entry", VIEW),
    ]

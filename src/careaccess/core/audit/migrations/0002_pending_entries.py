"""PostgreSQL: entries are written pending and sequenced in batches (sequencing.py), so the one
UPDATE the database allows on audit_entry is the sequencing of a pending entry: a negative index
with no hashes given its index and hashes, once, every other column unchanged. DELETE, TRUNCATE
and every other UPDATE stay refused (rule PP9). SQLite sequences entries as they are written and
keeps its triggers as they are."""

from django.db import migrations

PENDING_SEQUENCE = "audit_entry_pending_seq"
# Every column of an entry but those sequencing gives it (index, prev_hash, leaf_hash).
_CONTENT = [
    "recorded_at", "actor_kind", "actor", "actor_uid", "actor_position", "action", "target_type", "target_id",
    "person_uid", "organisation_code", "access_request", "request_id", "reason", "before", "after",
]
_UNCHANGED = (
    "(" + ", ".join(f'NEW."{c}"' for c in _CONTENT) + ") IS NOT DISTINCT FROM ("
    + ", ".join(f'OLD."{c}"' for c in _CONTENT) + ")"
)

FORWARD = [
    f"CREATE SEQUENCE {PENDING_SEQUENCE}",
    f"""CREATE FUNCTION careaccess_ledger_sequence_only() RETURNS trigger AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD."index" < 0 AND OLD.prev_hash = '' AND OLD.leaf_hash = ''
           AND NEW."index" >= 0 AND length(NEW.prev_hash) = 64 AND length(NEW.leaf_hash) = 64
           AND {_UNCHANGED} THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'the audit ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
    END;
    $$ LANGUAGE plpgsql""",
    "DROP TRIGGER audit_entry_append_only ON audit_entry",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION careaccess_ledger_sequence_only()",
]

BACKWARD = [
    "DROP TRIGGER audit_entry_append_only ON audit_entry",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION careaccess_ledger_append_only()",
    "DROP FUNCTION careaccess_ledger_sequence_only()",
    f"DROP SEQUENCE {PENDING_SEQUENCE}",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_ledger")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD))]

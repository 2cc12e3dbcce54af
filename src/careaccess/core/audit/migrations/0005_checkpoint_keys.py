"""The ledger's checkpoint signing keys, so a key can be rotated and checkpoints signed by a retired
key still verify (`careaccess audit rotate-key`; rule PP9). Unmanaged and append-only like the
ledger's tables (0001): the database refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL).

Empty at first: the key in the key file is stored the first time it signs after this migration
(checkpoints.py), as the first key, valid from the start."""

from django.db import migrations, models

TABLE = "audit_checkpoint_key"

TRIGGERS = {
    "sqlite": [
        f"CREATE TRIGGER {TABLE}_no_{op.lower()} BEFORE {op} ON {TABLE} "
        f"BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only: {op} on {TABLE} refused'); END"
        for op in ("UPDATE", "DELETE")
    ],
    "postgresql": [
        f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION careaccess_ledger_append_only()",
        f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION careaccess_ledger_append_only()",
    ],
}


def create_table(apps, schema_editor):
    schema_editor.create_model(apps.get_model("audit", "CheckpointKey"))
    for sql in TRIGGERS[schema_editor.connection.vendor]:
        schema_editor.execute(sql, params=None)


def drop_table(apps, schema_editor):
    schema_editor.delete_model(apps.get_model("audit", "CheckpointKey"))


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_ledger_view")]

    operations = [
        migrations.CreateModel(
            name="CheckpointKey",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("key_id", models.CharField(max_length=64, unique=True)),
                ("public_key", models.TextField()),
                ("valid_from", models.DateTimeField(null=True)),
                ("endorsement", models.CharField(default="", max_length=200)),
            ],
            options={"db_table": TABLE, "ordering": ["id"], "managed": False},
        ),
        # No way back: undone, it would drop the key list, which checkpoints signed by retired keys
        # need to verify (PP9); refused instead.
        migrations.RunPython(create_table),
    ]

"""Creates the ledger tables and the triggers that make the database refuse UPDATE and DELETE on
entries, nodes and checkpoints (rule PP9). The tables are unmanaged (see models.py), so they are
created here through the schema editor."""

from django.db import migrations, models

GENESIS_HASH = "0" * 64
APPEND_ONLY = ("audit_entry", "audit_node", "audit_checkpoint")

SQLITE_TRIGGERS = [
    f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
    f"BEGIN SELECT RAISE(ABORT, 'the audit ledger is append-only: {op} on {table} refused'); END"
    for table in APPEND_ONLY
    for op in ("UPDATE", "DELETE")
]

POSTGRES_TRIGGERS = [
    """CREATE OR REPLACE FUNCTION careaccess_ledger_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'the audit ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
    END;
    $$ LANGUAGE plpgsql""",
    *[
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION careaccess_ledger_append_only()"
        for table in APPEND_ONLY
    ],
    *[
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION careaccess_ledger_append_only()"
        for table in APPEND_ONLY
    ],
]


def create_tables(apps, schema_editor):
    for name in ("Entry", "Node", "Head", "Checkpoint"):
        schema_editor.create_model(apps.get_model("audit", name))
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE_TRIGGERS, "postgresql": POSTGRES_TRIGGERS}.get(vendor)
    if statements is None:
        raise RuntimeError(f"careaccess supports SQLite and PostgreSQL, not {vendor}")
    for sql in statements:
        schema_editor.execute(sql, params=None)
    schema_editor.execute(
        "INSERT INTO audit_head (id, size, last_hash, frontier) VALUES (1, 0, %s, '')", [GENESIS_HASH]
    )


def drop_tables(apps, schema_editor):
    for name in ("Checkpoint", "Head", "Node", "Entry"):
        schema_editor.delete_model(apps.get_model("audit", name))


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Entry",
            fields=[
                ("index", models.BigIntegerField(primary_key=True, serialize=False)),
                ("recorded_at", models.DateTimeField()),
                ("actor_kind", models.CharField(max_length=16)),
                ("actor", models.CharField(max_length=200)),
                ("actor_uid", models.CharField(db_index=True, max_length=12, null=True)),
                ("actor_position", models.CharField(max_length=300, null=True)),
                ("action", models.CharField(db_index=True, max_length=100)),
                ("target_type", models.CharField(max_length=50)),
                ("target_id", models.CharField(max_length=100)),
                ("person_uid", models.CharField(db_index=True, max_length=12, null=True)),
                ("organisation_code", models.CharField(db_index=True, max_length=20, null=True)),
                ("access_request", models.CharField(db_index=True, max_length=40, null=True)),
                ("request_id", models.CharField(max_length=64, null=True)),
                ("reason", models.TextField(default="")),
                ("before", models.TextField(default="null")),
                ("after", models.TextField(default="null")),
                ("prev_hash", models.CharField(max_length=64)),
                ("leaf_hash", models.CharField(max_length=64)),
            ],
            options={
                "db_table": "audit_entry",
                "ordering": ["index"],
                "managed": False,
                "indexes": [models.Index(fields=["recorded_at"], name="audit_entry_recorded_at")],
            },
        ),
        migrations.CreateModel(
            name="Node",
            fields=[
                ("key", models.BigIntegerField(primary_key=True, serialize=False)),
                ("hash", models.CharField(max_length=64)),
            ],
            options={"db_table": "audit_node", "managed": False},
        ),
        migrations.CreateModel(
            name="Head",
            fields=[
                ("id", models.SmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("size", models.BigIntegerField(default=0)),
                ("last_hash", models.CharField(max_length=64)),
                ("frontier", models.TextField(default="")),
            ],
            options={"db_table": "audit_head", "managed": False},
        ),
        migrations.CreateModel(
            name="Checkpoint",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("tree_size", models.BigIntegerField()),
                ("root_hash", models.CharField(max_length=64)),
                ("made_at", models.DateTimeField()),
                ("key_id", models.CharField(max_length=64)),
                ("signature", models.CharField(max_length=200)),
            ],
            options={"db_table": "audit_checkpoint", "ordering": ["id"], "managed": False},
        ),
        migrations.RunPython(create_tables, drop_tables),
    ]

"""Indexes for reading the ledger by whom and what an entry concerns (rule PP15): a person's
entries, an actor's, an organisation's and an access request's history, each newest first or in
order, read as a range of an index instead of the whole ledger. 0001 creates the table by hand
(unmanaged), so the fields' `db_index` made none.

Partial (only rows where the column is set), so entries about nothing in particular cost nothing
more to append. On PostgreSQL they are built CONCURRENTLY, so appends go on while they are built on
a large ledger."""

from django.db import migrations

INDEXES = {
    "audit_entry_person": "person_uid",
    "audit_entry_actor": "actor_uid",
    "audit_entry_organisation": "organisation_code",
    "audit_entry_access_request": "access_request",
}


def _create(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, column in INDEXES.items():
        schema_editor.execute(f'CREATE INDEX {concurrently}IF NOT EXISTS {name} ON audit_entry ({column}, "index") '
                              f"WHERE {column} IS NOT NULL", params=None)


def _drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction
    dependencies = [("audit", "0005_checkpoint_keys")]

    operations = [migrations.RunPython(_create, _drop)]

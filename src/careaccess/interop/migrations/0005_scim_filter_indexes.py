"""Trigram indexes for SCIM filters on the SCIM links (`interop/scim/filter.py`, issue 8): `userName`
`co` and `ew` on the userName key of provisioned people (its unique B-tree index serves `eq`, `sw`
and the ranges), and `externalId` `co` and `ew` of Users and Groups. PostgreSQL only (pg_trgm,
created by directory migration 0003); SQLite answers those filters by reading the table.
"""

from django.db import migrations

TRIGRAM = [("scimuser_trigram_user_name", "interop_scimuser", "user_name_key"),
           ("scimuser_trigram_external_id", "interop_scimuser", "external_id"),
           ("scimgroup_trigram_external_id", "interop_scimgroup", "external_id")]


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, table, column in TRIGRAM:
            schema_editor.execute(f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops)", params=None)


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name, _, _ in TRIGRAM:
            schema_editor.execute(f"DROP INDEX {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("directory", "0003_scim_filter_indexes"),
        ("interop", "0004_oidc_service_indexes"),
    ]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]

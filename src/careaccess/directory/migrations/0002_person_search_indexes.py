"""Indexes for finding people by name or email address (`directory.person_search`).

The search compares names and addresses folded to upper case and byte by byte, so that "names
starting with TAY" is one range of an index, in the order the results are listed. PostgreSQL
compares byte by byte under the "C" collation, which must be named in the index and the query
(databases are usually created with a language's collation); SQLite always does. The same
expressions therefore differ by backend, which a model's `Meta.indexes` cannot say: they are
created here, by SQL, and `person_search.Folded` writes the matching expression in queries.
"""

from django.db import migrations

FAMILY, GIVEN, EMAIL = "family_name", "given_name", "email"


def _folded(column: str, vendor: str) -> str:
    return f'(UPPER({column}) COLLATE "C")' if vendor == "postgresql" else f"UPPER({column})"


def create_indexes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"careaccess supports SQLite and PostgreSQL, not {vendor}")
    schema_editor.execute(
        f"CREATE INDEX person_search_name ON directory_person "
        f"({_folded(FAMILY, vendor)}, {_folded(GIVEN, vendor)}, id)", params=None)
    schema_editor.execute(
        f"CREATE INDEX person_search_email ON directory_person ({_folded(EMAIL, vendor)})", params=None)


def drop_indexes(apps, schema_editor):
    for name in ("person_search_name", "person_search_email"):
        schema_editor.execute(f"DROP INDEX {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [("directory", "0001_initial")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]

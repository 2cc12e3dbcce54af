"""Indexes for SCIM filters on people and positions (`interop/scim/filter.py`, issue 8): each filter
form a range of an index, not a scan of the directory.

- `meta.created`, `meta.lastModified` (gt, ge, lt, le, and sorting by them): B-tree indexes of the
  instants, the sort's tie-breaker after them (model `Meta.indexes`).
- `active eq false`: the people who are not active, in user id order (a partial index; 1% of a
  directory, not the 99% an index of the status would mostly hold).
- `name.givenName` and Groups' `displayName` `eq` and `sw` (compared case-insensitively): folded
  B-tree indexes like migration 0002's (`person_search.Folded`: upper case, byte by byte), which
  already serve `name.familyName` and `emails.value`.
- `co` and `ew` (and `sw` too) of the folded names and email address, the position's name and the
  user id (`id`, and `userName` for people SCIM never provisioned): trigram GIN indexes
  (PostgreSQL's pg_trgm extension, created here when missing and kept when the migration is
  reversed; "trusted" since PostgreSQL 13, so the database's owner may create it). PostgreSQL
  only: SQLite answers those filters correctly by reading the table.
"""

from django.db import migrations, models


def _folded(column: str, vendor: str) -> str:
    return f'(UPPER({column}) COLLATE "C")' if vendor == "postgresql" else f"UPPER({column})"


# (name, table, column): B-tree of the folded column, then the id
FOLDED = [("person_folded_given", "directory_person", "given_name"),
          ("position_folded_name", "directory_position", "name")]
# (name, table, column, folded?): trigram GIN index of the column or of its folded form
TRIGRAM = [("person_trigram_uid", "directory_person", "uid", False),
           ("person_trigram_given", "directory_person", "given_name", True),
           ("person_trigram_family", "directory_person", "family_name", True),
           ("person_trigram_email", "directory_person", "email", True),
           ("position_trigram_name", "directory_position", "name", True)]


def create_indexes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor not in ("postgresql", "sqlite"):
        raise RuntimeError(f"careaccess supports SQLite and PostgreSQL, not {vendor}")
    for name, table, column in FOLDED:
        schema_editor.execute(f"CREATE INDEX {name} ON {table} ({_folded(column, vendor)}, id)", params=None)
    if vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm", params=None)
        for name, table, column, folded in TRIGRAM:
            expression = _folded(column, vendor) if folded else column
            schema_editor.execute(f"CREATE INDEX {name} ON {table} USING gin ({expression} gin_trgm_ops)", params=None)


def drop_indexes(apps, schema_editor):
    names = [name for name, _, _ in FOLDED]
    if schema_editor.connection.vendor == "postgresql":
        names += [name for name, _, _, _ in TRIGRAM]
    for name in names:
        schema_editor.execute(f"DROP INDEX {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [("directory", "0002_person_search_indexes")]

    operations = [
        migrations.AddIndex(model_name="person",
                            index=models.Index(fields=["created_at", "uid"], name="person_created")),
        migrations.AddIndex(model_name="person",
                            index=models.Index(fields=["updated_at", "uid"], name="person_updated")),
        migrations.AddIndex(model_name="person",
                            index=models.Index(fields=["uid"], condition=~models.Q(status="active"),
                                               name="person_not_active")),
        migrations.AddIndex(model_name="position",
                            index=models.Index(fields=["created_at", "id"], name="position_created")),
        migrations.AddIndex(model_name="position",
                            index=models.Index(fields=["updated_at", "id"], name="position_updated")),
        migrations.RunPython(create_indexes, drop_indexes),
    ]

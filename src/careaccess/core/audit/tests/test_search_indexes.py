"""The ledger's search indexes (migration 0006, rule PP15): a person's, an actor's, an
organisation's and an access request's entries are read as a range of an index, not the ledger."""

from importlib import import_module

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

INDEXES = import_module("careaccess.core.audit.migrations.0006_search_indexes").INDEXES


def test_each_column_searched_has_its_index_with_the_entry_order():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_entry")
    for name, column in INDEXES.items():
        assert constraints[name]["index"] and constraints[name]["columns"] == [column, "index"], name


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's (CI runs it)")
@pytest.mark.parametrize("condition", [
    "access_request = 'REQ-1'", "person_uid = '000000000001' OR actor_uid = '000000000001'",
    "organisation_code = 'A81001'"])
def test_postgresql_reads_a_search_through_the_view_from_the_indexes(condition):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f'EXPLAIN SELECT * FROM audit_ledger WHERE {condition} ORDER BY "index" DESC LIMIT 50')
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert any(name in plan for name in INDEXES), plan

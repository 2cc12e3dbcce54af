"""core.sql: reads through `fetchall`, writes through `execute` and `execute_returning`, each prepared
on PostgreSQL and kept in Django's query log."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from careaccess.core import sql
from careaccess.credentials import signin
from careaccess.credentials.models import Challenge

pytestmark = pytest.mark.django_db

_SPEND = "INSERT INTO credentials_challenge (nonce, created_at, expires_at, used_at) VALUES (%s, %s, %s, %s) "


def _times():
    now = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
    return [connection.ops.adapt_datetimefield_value(t) for t in (now, now + dt.timedelta(minutes=5), now)]


def test_execute_returning_writes_and_answers_the_rows():
    with CaptureQueriesContext(connection) as queries:
        rows = sql.execute_returning(_SPEND + "RETURNING nonce", ["sql-test-1", *_times()])
    assert rows == [("sql-test-1",)]
    assert Challenge.objects.filter(nonce="sql-test-1").exists()
    assert [q["sql"] for q in queries.captured_queries][-1].startswith("INSERT INTO credentials_challenge")
    # A second run of the same statement (prepared on PostgreSQL) answers nothing when nothing is written.
    again = sql.execute_returning(_SPEND + "ON CONFLICT (nonce) DO NOTHING RETURNING nonce", ["sql-test-1", *_times()])
    assert again == []


def test_fetchall_reads_and_execute_counts():
    assert sql.execute(_SPEND, ["sql-test-2", *_times()]) == 1
    assert sql.fetchall("SELECT nonce FROM credentials_challenge WHERE nonce = %s", ["sql-test-2"]) == [("sql-test-2",)]


def test_card_sign_in_spends_its_challenge_through_the_writing_helper(monkeypatch):  # rule SC2
    """The one statement that spends a challenge and reads the card (PostgreSQL) writes: it goes
    through `execute_returning`, never the read-only `fetchall`."""

    def read_only(statement, params):
        raise AssertionError(f"a writing statement went through fetchall: {statement[:60]}")

    monkeypatch.setattr(sql, "fetchall", read_only)
    now = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.timezone.utc)
    expires = now + dt.timedelta(minutes=5)
    assert signin._spend_and_read("sql-test-3", now, expires, "no-such-serial") == (True, None)
    assert signin._spend_and_read("sql-test-3", now, expires, "no-such-serial")[0] is False  # spent: a replay
    assert Challenge.objects.filter(nonce="sql-test-3").count() == 1

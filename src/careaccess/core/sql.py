"""Plain SQL for the few hot paths where the ORM's per-query cost is most of the answer's time
(access decisions, token checks; measured in benchmarks/). On PostgreSQL the statement is prepared
on the server, so its plan is made once per connection rather than on every call."""

from __future__ import annotations

import time
from typing import Any, Sequence

import psycopg
from django.db import connection


def fetchall(sql: str, params: Sequence[Any]) -> list[tuple]:
    """Rows of a read-only query written with %s placeholders, on either database."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        started = time.monotonic()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            rows = cursor.fetchall()
        if connection.queries_logged:  # keep Django's query log (and query-count tests) truthful
            connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
        return rows
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def date_param(value):
    """A date as the backend stores it (SQLite keeps ISO text)."""
    return connection.ops.adapt_datefield_value(value)

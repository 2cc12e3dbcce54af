"""Plain SQL for the few hot paths where the ORM's per-query cost is most of the answer's time
(access decisions, token checks; measured in benchmarks/). On PostgreSQL the statement is prepared
on the server, so its plan is made once per connection rather than on every call (planning the
decision query costs the backend about 1 ms, more than running it).

Django opens psycopg connections with prepared statements off (`prepare_threshold=None`, for
poolers such as PgBouncer in transaction mode); these helpers turn them on for their own statements only:
a threshold no query reaches means psycopg prepares exactly those asked for with `prepare=True`.
Django's own cursors bind on the client and never prepare. Behind a transaction-mode pooler, use
one that keeps prepared statements (PgBouncer 1.21+ with `max_prepared_statements`)."""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections


def fetchall(sql: str, params: Sequence[Any]) -> list[tuple]:
    """Rows of a read-only query written with %s placeholders, on either database. A statement
    that writes goes through `execute` or `execute_returning`."""
    return _run(sql, params, fetch=True)


def execute(sql: str, params: Sequence[Any]) -> int:
    """Run one writing statement (an INSERT on a hot path), prepared like `fetchall`'s; the number
    of rows it changed. Outside a transaction it commits on its own."""
    return _run(sql, params, fetch=False)


def execute_returning(sql: str, params: Sequence[Any]) -> list[tuple]:
    """Run one writing statement that also answers rows (`INSERT ... RETURNING`, or a `WITH` that
    writes and then reads), prepared like `fetchall`'s; its rows. Outside a transaction it commits
    on its own."""
    return _run(sql, params, fetch=True)


def _run(sql: str, params: Sequence[Any], *, fetch: bool):
    db = connections[DEFAULT_DB_ALIAS]  # once: each `connection.x` is a lookup in a thread-local
    if db.vendor == "postgresql":
        db.ensure_connection()
        raw = db.connection
        if raw.prepare_threshold is None:
            raw.prepare_threshold = sys.maxsize  # only explicit prepare=True prepares
        started = time.monotonic()
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(sql, params, prepare=True)
            result = cursor.fetchall() if fetch else cursor.rowcount
        if db.queries_logged:  # keep Django's query log (and query-count tests) truthful
            db.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
        return result
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if fetch else cursor.rowcount


def date_param(value):
    """A date as the backend stores it (SQLite keeps ISO text)."""
    return connection.ops.adapt_datefield_value(value)

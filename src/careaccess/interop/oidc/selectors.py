"""Reads of the OpenID Connect provider on its hot paths (userinfo, the token endpoint), each one
prepared statement by a unique index: the ORM's query building costs more CPU than the query."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection

from careaccess.core import clock, sql
from careaccess.core.tokens import hash_secret
from careaccess.directory.models import Person

from .claims import SUBJECT_COLUMNS, Subject
from .models import OidcClient, OidcToken


@cache
def _columns(model) -> tuple[str, ...]:
    return tuple(f.attname for f in model._meta.concrete_fields)


@cache
def _converters(model) -> tuple:
    """(position, field, its converters) for the columns the backend hands back raw (SQLite's
    timestamps are text): what the ORM applies to the same columns."""
    found = []
    for position, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(model._meta.db_table)
        converters = [*connection.ops.get_db_converters(col), *field.get_db_converters(connection)]
        if converters:
            found.append((position, col, converters))
    return tuple(found)


def _instance(model, values: tuple):
    values = list(values)
    for position, col, converters in _converters(model):
        for convert in converters:
            values[position] = convert(values[position], col, connection)
    return model.from_db(DEFAULT_DB_ALIAS, _columns(model), values)


@cache
def _client_sql() -> str:
    return f"SELECT {', '.join(_columns(OidcClient))} FROM interop_oidcclient WHERE client_id = %s"


def client(client_id: str) -> OidcClient | None:
    rows = sql.fetchall(_client_sql(), [client_id])
    return _instance(OidcClient, rows[0]) if rows else None


_HOLDER = ("uid", "given_name", "family_name", "status")


@cache
def _refresh_sql() -> str:
    token = ", ".join(f"t.{c}" for c in _columns(OidcToken))
    return (f"SELECT {token}, {', '.join(f'p.{c}' for c in _HOLDER)} FROM interop_oidctoken t "
            f"JOIN directory_person p ON p.id = t.person_id "
            f"WHERE t.refresh_digest = %s AND t.revoked_at IS NULL AND t.refresh_expires_at > %s "
            f"AND p.status = 'active'")


def refresh_token(value: str) -> OidcToken | None:
    """The token pair whose refresh token is `value`: unrevoked, unexpired, its holder active
    (with the holder's id, user id, names and status loaded)."""
    now = connection.ops.adapt_datetimefield_value(clock.now())
    rows = sql.fetchall(_refresh_sql(), [hash_secret(value), now])
    if not rows:
        return None
    columns = _columns(OidcToken)
    token = _instance(OidcToken, rows[0][:len(columns)])
    token.person = Person.from_db(DEFAULT_DB_ALIAS, ("id", *_HOLDER), (token.person_id, *rows[0][len(columns):]))
    return token


@dataclass(frozen=True)
class AccessGrant:
    """A usable access token: its row's id, its client, whose claims it releases and which."""

    token_id: int
    client_id: str
    scope: str
    acr: str
    selected_assignment_id: int | None
    subject: Subject


# One prepared statement by the token's unique digest: unrevoked, unexpired, its holder active,
# with the holder's columns and identity assurance level.
_ACCESS_GRANT = f"""
    SELECT t.id, c.client_id, t.scope, t.acr, t.selected_assignment_id, {SUBJECT_COLUMNS}
    FROM interop_oidctoken t
    JOIN interop_oidcclient c ON c.id = t.client_id
    JOIN directory_person p ON p.id = t.person_id
    WHERE t.access_digest = %s AND t.revoked_at IS NULL AND t.expires_at > %s AND p.status = 'active'
"""


def access_grant(access_token: str) -> AccessGrant | None:
    """What `access_token` grants, or None when it is unknown, revoked or expired, or its holder is
    no longer active."""
    now = connection.ops.adapt_datetimefield_value(clock.now())
    rows = sql.fetchall(_ACCESS_GRANT, [hash_secret(access_token), now])
    if not rows:
        return None
    token_id, client_id, scope, acr, selected, *person = rows[0]
    return AccessGrant(token_id, client_id, scope, acr, selected, Subject(*person))

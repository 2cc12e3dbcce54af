"""API bearer tokens: made, checked and revoked here, and nowhere else.

A secret reads `ca_<prefix>_<random>`: the prefix (8 hex digits) is kept in clear so staff can tell
tokens apart in lists and revoke one by it; the random part is 256 bits from `secrets`. Only the
SHA-256 of the whole secret is stored (a slow hash adds nothing to 256 random bits), so the secret
is shown once, when made, and never again.

`authenticate()` is on the hot path of every API call (decisions included): one indexed query,
and a write of `last_used_at` at most once a minute per token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.db import connection, transaction
from django.db.models import Q, QuerySet

from careaccess.core import clock, permissions, sql
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError, Conflict, InvalidInput, NotFound
from careaccess.core.models import ApiToken
from careaccess.directory.models import Person, Service

SECRET_PREFIX = "ca_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
TOKEN_AUDITED = ("name", "prefix", "person", "service", "created_at", "revoked_at")


class Unauthenticated(CareAccessError):
    """No usable credentials: the API answers 401 with this message."""

    status = 401
    title = "Unauthorized"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _snapshot(token: ApiToken) -> dict:
    return {
        "name": token.name,
        "prefix": token.prefix,
        "person": token.person.uid if token.person_id else None,
        "service": token.service.code if token.service_id else None,
        "created_at": token.created_at,
        "revoked_at": token.revoked_at,
    }


def create_token(actor: Actor, name: str, *, person=None, service=None) -> tuple[ApiToken, str]:
    """Make a token acting as `person` or as `service` (exactly one). Returns (token, secret);
    the secret is not kept anywhere and cannot be shown again."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "give the token a name that says who uses it and why, like 'care portal production'"
    elif len(name) > 100:
        errors["name"] = "use 100 characters or fewer"
    if (person is None) == (service is None):
        errors["person"] = "a token acts for exactly one person or one service; give one of them"
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        actor = permissions.authorise(actor, "token.create")
        for _ in range(5):
            prefix = secrets.token_hex(4)
            if not ApiToken.objects.filter(prefix=prefix).exists():
                break
        else:  # pragma: no cover - 2**32 prefixes
            raise Conflict("could not choose a free token prefix; try again")
        secret = f"{SECRET_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
        token = ApiToken.objects.create(
            name=name, prefix=prefix, secret_hash=hash_secret(secret), person=person, service=service,
            created_at=clock.now(),
        )
        ledger.record(
            "api_token.created", actor=actor, target_type="api_token", target_id=token.pk, after=_snapshot(token),
            person_uid=person.uid if person is not None else None,
        )
    return token, secret


def revoke_token(actor: Actor, prefix: str, *, reason: str = "") -> ApiToken:
    """Revoke the token with this prefix at once; it is kept (revoked) for the audit trail."""
    with transaction.atomic():
        actor = permissions.authorise(actor, "token.create")
        token = (ApiToken.objects.select_for_update().filter(prefix=(prefix or "").strip()).first())
        if token is None:
            raise NotFound(f"no API token has the prefix {prefix}; `careaccess token list` shows them")
        if token.revoked_at is not None:
            raise Conflict(f"token {token.prefix} was already revoked at {token.revoked_at.isoformat()}")
        before = _snapshot(token)
        token.revoked_at = clock.now()
        token.save(update_fields=["revoked_at"])
        ledger.record(
            "api_token.revoked", actor=actor, target_type="api_token", target_id=token.pk, before=before,
            after=_snapshot(token), person_uid=token.person.uid if token.person_id else None, reason=reason,
        )
    return token


def tokens() -> QuerySet[ApiToken]:
    return ApiToken.objects.select_related("person", "service").order_by("created_at", "id")


def authenticate(secret: str) -> Actor:
    """The actor a bearer secret acts as, or Unauthenticated saying why not."""
    secret = (secret or "").strip()
    if not secret.startswith(SECRET_PREFIX) or len(secret) > 200:
        raise Unauthenticated("the bearer token is not a careaccess API token (they start with ca_)")
    stale_before = connection.ops.adapt_datetimefield_value(clock.now() - LAST_USED_RESOLUTION)
    rows = sql.fetchall(_TOKEN_SQL, [stale_before, hash_secret(secret)])
    if not rows:
        raise Unauthenticated("the bearer token is not known; ask the registration authority for a new one")
    (token_id, prefix, revoked, stale, person_id, uid, given_name, family_name, person_status,
     service_id, service_code, service_status) = rows[0]
    if revoked:
        raise Unauthenticated(f"the bearer token {prefix} was revoked; ask the registration authority for a new one")
    if stale:
        # At most one write a minute per token, and only by the first request to see it stale.
        now = clock.now()
        ApiToken.objects.filter(pk=token_id).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
    if person_id is not None:
        if person_status != Person.Status.ACTIVE:
            raise Unauthenticated(f"the token's holder {uid} is {person_status}; their tokens do not work")
        person = Person(id=person_id, uid=uid, given_name=given_name, family_name=family_name, status=person_status)
        return permissions.actor_for_person(person, token_id=token_id)
    if service_status != Service.Status.ACTIVE:
        raise Unauthenticated(f"the service {service_code} is retired; its tokens do not work")
    return permissions.actor_for_service(Service(id=service_id, code=service_code, status=service_status), token_id=token_id)


# One prepared query on the hot path of every API call (decisions included).
_TOKEN_SQL = """
    SELECT t.id, t.prefix, t.revoked_at IS NOT NULL, (t.last_used_at IS NULL OR t.last_used_at <= %s),
           p.id, p.uid, p.given_name, p.family_name, p.status, s.id, s.code, s.status
    FROM core_api_token t
    LEFT JOIN directory_person p ON p.id = t.person_id
    LEFT JOIN directory_service s ON s.id = t.service_id
    WHERE t.secret_hash = %s
"""

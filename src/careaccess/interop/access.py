"""Bearer tokens with scopes for SCIM and FHIR, and the log of reads that reveal people.

The secret is checked by `careaccess.core.tokens.authenticate` (the one place tokens are checked);
this module adds the scope check (`ClientScope`, keyed to the token) and writes `ReadLog` rows.
"""

from __future__ import annotations

from django.db import transaction

from careaccess.core import clock, permissions, sql
from careaccess.core.audit import ledger
from careaccess.core.context import Actor, current_request_id
from careaccess.core.errors import CareAccessError, Forbidden, InvalidInput, NotFound
from careaccess.core.models import ApiToken
from careaccess.core.tokens import Unauthenticated, authenticate

from .models import SCOPES, ClientScope, ReadLog

MAX_LOGGED_UIDS = 500


def bearer(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("send the API token as `Authorization: Bearer ca_...`")
    return secret.strip()


def scopes_of(actor: Actor) -> frozenset[str]:
    """Read on every SCIM and FHIR request: plain SQL, prepared (core.sql), not the ORM."""
    if actor.token_id is None:
        return frozenset()
    rows = sql.fetchall("SELECT scopes FROM interop_clientscope WHERE token_id = %s", [actor.token_id])
    return ClientScope(scopes=rows[0][0]).scope_set() if rows else frozenset()


def authenticate_with_scope(request, scope: str) -> Actor:
    """The token's actor when the token carries `scope`; Unauthenticated (401) or Forbidden (403)."""
    actor = authenticate(bearer(request))
    if scope not in scopes_of(actor):
        raise Forbidden(f"the token does not carry the scope {scope}; ask the registration authority to grant it "
                        f"(`careaccess interop scopes PREFIX {scope}`)")
    return actor


def set_scopes(actor: Actor, prefix: str, scopes: list[str]) -> ClientScope | None:
    """Give the token with this prefix exactly these scopes (none removes them). Audited."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        raise InvalidInput({"scopes": f"unknown scopes {', '.join(unknown)}; choose from {', '.join(sorted(SCOPES))}"})
    with transaction.atomic():
        actor = permissions.authorise(actor, "token.create")
        token = ApiToken.objects.filter(prefix=(prefix or "").strip()).first()
        if token is None:
            raise NotFound(f"no API token has the prefix {prefix}; `careaccess token list` shows them")
        row = ClientScope.objects.select_for_update().filter(token=token).first()
        before = sorted(row.scope_set()) if row else []
        after = sorted(set(scopes))
        if before == after:
            return row
        if after:
            row = row or ClientScope(token=token)
            row.scopes = " ".join(after)
            row.updated_at = clock.now()
            row.save()
        elif row:
            row.delete()
            row = None
        ledger.record("api_token.scopes_changed", actor=actor, target_type="api_token", target_id=token.pk,
                      before={"scopes": before}, after={"scopes": after},
                      person_uid=token.person.uid if token.person_id else None)
    return row


def log_read(request, actor: Actor, protocol: str, uids: list[str]) -> None:
    """Record that `actor` was shown these people. Reads that show nobody are not logged."""
    if not uids:
        return
    unique = list(dict.fromkeys(uids))
    ReadLog.objects.create(
        at=clock.now(), protocol=protocol, actor_kind=actor.kind, actor=actor.label[:200], actor_uid=actor.person_uid,
        token_id=actor.token_id, request_id=current_request_id(), method=request.method[:10],
        path=request.path[:500], query=request.META.get("QUERY_STRING", "")[:2000],
        person_uids=" ".join(unique[:MAX_LOGGED_UIDS]), person_count=len(unique),
    )


__all__ = ["CareAccessError", "Unauthenticated", "authenticate_with_scope", "log_read", "scopes_of", "set_scopes"]

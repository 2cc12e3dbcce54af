"""Writes of the OpenID Connect provider: registering clients, issuing codes and tokens, revoking
a token (RFC 7009), remembering client-assertion ids, logging userinfo reads, rotating the signing
key and pruning what has expired. (A session's tokens end at sign-out: logout.end_session.)

The Authlib hooks in server.py call these; each writes in one transaction with its audit entry.
Two writes have none, as the SCIM and FHIR reads have none: a userinfo answer is a read, logged in
`ReadLog` (the ledger records changes), and a client-assertion id is a replay guard kept only
until the assertion expires, written by the same request whose outcome is audited."""

from __future__ import annotations

import datetime as dt
import json
import secrets

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from careaccess.core import clock, permissions, sql
from careaccess.core.audit import ledger
from careaccess.core.context import Actor, current_request_id
from careaccess.core.errors import CareAccessError, InvalidInput
from careaccess.core.tokens import hash_secret
from careaccess.directory.models import Service

from . import claims, keys
from .models import OidcClient, OidcCode, OidcJti, OidcToken


class TokenSpent(CareAccessError):
    """The code or refresh token was spent by another request first (server.py answers invalid_grant)."""


def _client_actor(client: OidcClient) -> Actor:
    return Actor.system(f"oidc:{client.client_id}")


def add_client(actor: Actor, *, name: str, redirect_uris: list[str], auth_method: str, jwks: dict | None = None,
               scope: str | None = None, backchannel_logout_uri: str = "",
               service: str | None = None) -> tuple[OidcClient, str | None]:
    """Register a relying service. `service` is the code of the directory service it speaks for
    (its sign-in policy then applies: rule DS18). Returns the client and, for client_secret_basic,
    its secret (shown once; only a digest is kept)."""
    if auth_method not in OidcClient.AuthMethod.values:
        raise CareAccessError(f"auth method must be one of {', '.join(OidcClient.AuthMethod.values)}")
    if not redirect_uris:
        raise CareAccessError("give at least one redirect URI")
    for uri in redirect_uris:
        if not uri.startswith(("https://", "http://localhost", "http://127.0.0.1")) or "#" in uri:
            raise CareAccessError(f"redirect URI {uri} must be https (or http on localhost) with no fragment")
    if auth_method == "private_key_jwt" and not (jwks and jwks.get("keys")):
        raise CareAccessError("private_key_jwt needs the client's public JWKS")
    scopes = (scope or " ".join(claims.SCOPES)).split()
    unknown = [s for s in scopes if s not in claims.SCOPES]
    if unknown:
        raise CareAccessError(f"unknown scopes: {' '.join(unknown)}")
    linked = None
    if service:
        linked = Service.objects.filter(code=service).first()
        if linked is None:
            raise InvalidInput({"service": f"no service has the code {service}"})
        if linked.status != Service.Status.ACTIVE:
            raise InvalidInput({"service": f"the service {service} is retired"})
    secret = secrets.token_urlsafe(32) if auth_method == "client_secret_basic" else None
    with transaction.atomic():
        client = OidcClient.objects.create(
            client_id=secrets.token_urlsafe(16), name=name, secret_digest=hash_secret(secret) if secret else "",
            redirect_uris="\n".join(redirect_uris), auth_method=auth_method,
            jwks=json.dumps(jwks) if jwks else "", scope=" ".join(scopes),
            backchannel_logout_uri=backchannel_logout_uri, service=linked, created_at=clock.now(),
        )
        ledger.record("oidc.client_added", actor=actor, target_type="oidc_client", target_id=client.client_id,
                      after={"name": name, "redirect_uris": redirect_uris, "auth_method": auth_method,
                             "scope": client.scope, "backchannel_logout_uri": backchannel_logout_uri,
                             "service": service or None})
    return client, secret


def issue_code(*, code: str, client: OidcClient, person, redirect_uri: str, scope: str, nonce: str,
               code_challenge: str, code_challenge_method: str, sign_in: claims.SignIn,
               selected_assignment_id: int | None, session_id: str) -> OidcCode:
    """The person's consent to tell `client` the claims of `scope`: an authorization code (kept as
    a digest), audited as `oidc.code_issued`."""
    with transaction.atomic():
        item = OidcCode.objects.create(
            code_digest=hash_secret(code), client=client, person=person, redirect_uri=redirect_uri, scope=scope,
            nonce=nonce, code_challenge=code_challenge, code_challenge_method=code_challenge_method,
            auth_time=sign_in.auth_time, acr=sign_in.acr, amr=" ".join(sign_in.amr),
            selected_assignment_id=selected_assignment_id, session_id=session_id, created_at=clock.now(),
        )
        ledger.record("oidc.code_issued", actor=permissions.actor_for_person(person), target_type="oidc_code",
                      target_id=item.pk, person_uid=person.uid,
                      after={"client": client.client_id, "scope": scope, "amr": sign_in.amr,
                             "selected_role": selected_assignment_id})
    return item


def issue_tokens(*, client: OidcClient, person, token: dict, grant_type: str, code: OidcCode | None = None,
                 refresh: OidcToken | None = None) -> OidcToken:
    """Store an issued token pair, spending what it was issued for (the code, or the refresh token
    it replaces) by one conditional UPDATE in the same transaction: of two requests with one code
    or refresh token, only one gets a pair (the other: TokenSpent). Audited as `oidc.token_issued`."""
    now = clock.now()
    source = code if code is not None else refresh
    with transaction.atomic():
        if code is not None:
            spent = OidcCode.objects.filter(pk=code.pk, used_at__isnull=True).update(used_at=now)
            refresh_expires_at = now + dt.timedelta(seconds=settings.CAREACCESS_OIDC_REFRESH_TOKEN_SECONDS)
        else:
            spent = OidcToken.objects.filter(pk=refresh.pk, revoked_at__isnull=True).update(revoked_at=now)
            refresh_expires_at = refresh.refresh_expires_at  # a rotation never extends the chain
        if not spent:
            raise TokenSpent(f"the {'code' if code is not None else 'refresh token'} was used already")
        has_refresh = bool(token.get("refresh_token"))
        item = OidcToken.objects.create(
            client=client, person=person, access_digest=hash_secret(token["access_token"]),
            refresh_digest=hash_secret(token["refresh_token"]) if has_refresh else None,
            refresh_expires_at=refresh_expires_at if has_refresh else None,
            scope=token.get("scope", ""), issued_at=now, expires_at=now + dt.timedelta(seconds=token["expires_in"]),
            auth_time=source.auth_time, acr=source.acr, amr=source.amr,
            selected_assignment_id=source.selected_assignment_id, session_id=source.session_id,
        )
        ledger.record("oidc.token_issued", actor=_client_actor(client), target_type="oidc_token", target_id=item.pk,
                      person_uid=person.uid, after={"client": client.client_id, "grant": grant_type,
                                                    "scope": item.scope, "refresh": has_refresh})
    return item


def revoke_token(token: OidcToken, *, presented_as: str) -> bool:
    """Revoke an issued token at its client's request: its access and refresh token end together.
    Returns False when it was revoked already (nothing changes, nothing is recorded)."""
    with transaction.atomic():
        revoked = OidcToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=clock.now())
        if revoked:
            ledger.record("oidc.token_revoked", actor=_client_actor(token.client), target_type="oidc_token",
                          target_id=token.pk, person_uid=token.person.uid,
                          after={"client": token.client.client_id, "presented": presented_as})
    return bool(revoked)


def remember_assertion(*, client_id: str, jti: str, expires_at: dt.datetime) -> bool:
    """Record a private_key_jwt assertion's id; False when the client used it before (a replay)."""
    try:
        with transaction.atomic():
            OidcJti.objects.create(client_id=client_id, jti=jti[:200], seen_at=clock.now(), expires_at=expires_at)
    except IntegrityError:
        return False
    return True


# The read log's row as one prepared INSERT: the ORM's insert costs more CPU than the rest of a
# userinfo answer (benchmarks/interop_bench.py).
_LOG_READ = """
    INSERT INTO interop_readlog (at, protocol, actor_kind, actor, actor_uid, token_id, request_id, method, path,
                                 query, person_uids, person_count)
    VALUES (%s, 'oidc', 'oidc_client', %s, NULL, %s, %s, %s, %s, '', %s, 1)
"""


def log_userinfo_read(*, client_id: str, token_id: int, person_uid: str, method: str, path: str) -> None:
    """One `ReadLog` row per userinfo answer: the relying service was shown this person's claims.
    A single statement (its own transaction)."""
    sql.execute(_LOG_READ, [connection.ops.adapt_datetimefield_value(clock.now()), f"oidc:{client_id}"[:200],
                            token_id, current_request_id(), method[:10], path[:500], person_uid])


def rotate_signing_key(actor: Actor) -> tuple[str, str]:
    """Make a new ID-token signing key (the previous one stays published); audited as
    `oidc.key_rotated` with both key ids. Returns (old kid, new kid)."""
    with transaction.atomic():
        old, new = keys.rotate()
        ledger.record("oidc.key_rotated", actor=actor, target_type="oidc_key", target_id=new,
                      before={"kid": old}, after={"kid": new})
    return old, new


def prune(*, leeway_seconds: int = 60) -> dict[str, int]:
    """Delete authorization codes past their lifetime (spent or not: either way no exchange can use
    them) and client-assertion ids whose assertion has expired (a replay is refused as expired),
    each kept `leeway_seconds` longer than the clock skew Authlib allows. Set-based, safe to run in
    two workers at once; audited as `oidc.pruned` when anything went."""
    now = clock.now()
    margin = dt.timedelta(seconds=leeway_seconds)
    code_cutoff = now - dt.timedelta(seconds=settings.CAREACCESS_OIDC_CODE_SECONDS) - margin
    with transaction.atomic():
        codes, _ = OidcCode.objects.filter(created_at__lt=code_cutoff).delete()
        assertions, _ = OidcJti.objects.filter(expires_at__lt=now - margin).delete()
        if codes or assertions:
            ledger.record("oidc.pruned", actor=Actor.system("worker"), target_type="oidc_housekeeping",
                          target_id=now.isoformat(), after={"codes": codes, "client_assertions": assertions})
    return {"codes": codes, "client_assertions": assertions}

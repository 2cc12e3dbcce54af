"""Writes of the OpenID Connect provider: registering clients, revoking a token (RFC 7009).
(A session's tokens end at sign-out: logout.end_session.)"""

from __future__ import annotations

import json
import secrets

from django.db import transaction

from careaccess.core.tokens import hash_secret
from careaccess.core import clock
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError

from . import claims
from .models import OidcClient, OidcToken


def add_client(actor: Actor, *, name: str, redirect_uris: list[str], auth_method: str, jwks: dict | None = None,
               scope: str | None = None, backchannel_logout_uri: str = "") -> tuple[OidcClient, str | None]:
    """Register a relying service. Returns the client and, for client_secret_basic, its secret
    (shown once; only a digest is kept)."""
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
    secret = secrets.token_urlsafe(32) if auth_method == "client_secret_basic" else None
    with transaction.atomic():
        client = OidcClient.objects.create(
            client_id=secrets.token_urlsafe(16), name=name, secret_digest=hash_secret(secret) if secret else "",
            redirect_uris="\n".join(redirect_uris), auth_method=auth_method,
            jwks=json.dumps(jwks) if jwks else "", scope=" ".join(scopes),
            backchannel_logout_uri=backchannel_logout_uri, created_at=clock.now(),
        )
        ledger.record("oidc.client_added", actor=actor, target_type="oidc_client", target_id=client.client_id,
                      after={"name": name, "redirect_uris": redirect_uris, "auth_method": auth_method,
                             "scope": client.scope, "backchannel_logout_uri": backchannel_logout_uri})
    return client, secret


def revoke_token(token: OidcToken, *, presented_as: str) -> bool:
    """Revoke an issued token at its client's request: its access and refresh token end together.
    Returns False when it was revoked already (nothing changes, nothing is recorded)."""
    with transaction.atomic():
        revoked = OidcToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=clock.now())
        if revoked:
            ledger.record("oidc.token_revoked", actor=Actor.system(f"oidc:{token.client.client_id}"),
                          target_type="oidc_token", target_id=token.pk, person_uid=token.person.uid,
                          after={"client": token.client.client_id, "presented": presented_as})
    return bool(revoked)

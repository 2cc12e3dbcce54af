"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a person signs out of
careaccess, the tokens issued in that browser session are revoked and each relying service that
registered a `backchannel_logout_uri` is sent a signed logout token naming the session (`sid`).

The notices go through the outbox: one message per relying service, written in the sign-out's
transaction and POSTed by `careaccess worker` (delivery.register_sender), so a relying service
that is down gets it later, with the outbox's retries, and is reported to the RA team when it
keeps failing. The token is signed when it is sent, so one delivered late is not stale."""

from __future__ import annotations

import json
import logging
import urllib.parse
import urllib.request

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver
from joserfc import jwt

from careaccess.core.tokens import hash_secret
from careaccess.core import clock
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.outbox import delivery
from careaccess.core.outbox.services import enqueue

from . import keys
from .models import OidcCode, OidcToken

log = logging.getLogger(__name__)
EVENT = "http://schemas.openid.net/event/backchannel-logout"
KIND = "oidc_backchannel_logout"


def session_id(request) -> str:
    key = request.session.session_key or ""
    return hash_secret("sid:" + key)[:32] if key else ""


def logout_token(*, issuer: str, client_id: str, sub: str, sid: str, jti: str) -> str:
    key = keys.signing_key()
    now = int(clock.now().timestamp())
    lifetime = settings.CAREACCESS_OIDC_LOGOUT_TOKEN_SECONDS  # from the moment the token is sent
    claims = {"iss": issuer, "aud": client_id, "iat": now, "exp": now + lifetime, "jti": jti,
              "sub": sub, "sid": sid, "events": {EVENT: {}}}
    return jwt.encode({"alg": keys.ALG, "kid": key.kid, "typ": "logout+jwt"}, claims, key)


def send_logout(message) -> None:
    """The outbox's sender for KIND: POST a freshly signed logout token; raise unless the relying
    service answered 2xx. The jti is the outbox message's id, the same on every retry."""
    notice = json.loads(message.body)
    token = logout_token(jti=message.id.hex, **notice)
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    request = urllib.request.Request(message.to[0], data=body, method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    timeout = settings.CAREACCESS_OIDC_BACKCHANNEL_TIMEOUT_SECONDS
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (registered by staff)
        response.read(1024)


delivery.register_sender(KIND, send_logout)


def end_session(sid: str, *, issuer: str) -> int:
    """Revoke the session's tokens and unused codes, and queue a logout notice for each relying
    service that asked for them, in one transaction."""
    if not sid:
        return 0
    now = clock.now()
    with transaction.atomic():
        # A code issued just before the sign-out must not be exchanged after it, tokens or not.
        OidcCode.objects.filter(session_id=sid, used_at__isnull=True).update(used_at=now)
        tokens = list(OidcToken.objects.select_related("client", "person").filter(session_id=sid, revoked_at__isnull=True))
        if not tokens:
            return 0
        OidcToken.objects.filter(pk__in=[t.pk for t in tokens]).update(revoked_at=now)
        notices = {(t.client.client_id, t.client.name, t.client.backchannel_logout_uri, t.person.uid)
                   for t in tokens if t.client.backchannel_logout_uri}
        if notices and not issuer:
            log.warning("session %s ended with no issuer to sign logout tokens (set CAREACCESS_OIDC_ISSUER)", sid)
            notices = set()
        for client_id, name, uri, uid in sorted(notices):
            enqueue(to=[uri], subject=f"Back-channel logout to {name}"[:300], kind=KIND, cause=f"oidc_session:{sid}",
                    body=json.dumps({"issuer": issuer, "client_id": client_id, "sub": uid, "sid": sid}))
        ledger.record("oidc.session_ended", actor=Actor.system("oidc"), target_type="oidc_session", target_id=sid,
                      person_uid=tokens[0].person.uid, after={"tokens_revoked": len(tokens),
                                                              "clients": sorted({t.client.client_id for t in tokens}),
                                                              "logout_notices": len(notices)})
    return len(tokens)


@receiver(user_logged_out, dispatch_uid="careaccess.oidc.backchannel_logout")
def on_sign_out(sender, request=None, user=None, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    # A sign-out without a host (a bare request, e.g. the test client's logout) still revokes the
    # session's tokens; the issuer then comes from the setting alone.
    has_host = "HTTP_HOST" in request.META or "SERVER_NAME" in request.META
    issuer = getattr(settings, "CAREACCESS_OIDC_ISSUER", "") or (request.build_absolute_uri("/oidc") if has_host else "")
    end_session(session_id(request), issuer=issuer)

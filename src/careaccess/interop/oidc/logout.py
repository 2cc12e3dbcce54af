"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a person signs out of
careaccess, the tokens issued in that browser session are revoked and each relying service that
registered a `backchannel_logout_uri` is sent a signed logout token naming the session (`sid`)."""

from __future__ import annotations

import logging
import secrets
import urllib.parse
import urllib.request

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.dispatch import receiver
from joserfc import jwt

from careaccess.core import clock
from careaccess.core.audit import ledger
from careaccess.core.context import Actor

from . import keys
from .models import OidcCode, OidcToken, digest

log = logging.getLogger(__name__)
EVENT = "http://schemas.openid.net/event/backchannel-logout"
TIMEOUT = 3  # seconds per relying service


def session_id(request) -> str:
    key = request.session.session_key or ""
    return digest("sid:" + key)[:32] if key else ""


def logout_token(*, issuer: str, client_id: str, sub: str, sid: str) -> str:
    key = keys.signing_key()
    now = int(clock.now().timestamp())
    claims = {"iss": issuer, "aud": client_id, "iat": now, "exp": now + 120, "jti": secrets.token_urlsafe(16),
              "sub": sub, "sid": sid, "events": {EVENT: {}}}
    return jwt.encode({"alg": keys.ALG, "kid": key.kid, "typ": "logout+jwt"}, claims, key)


def deliver_logout(uri: str, token: str) -> None:
    body = urllib.parse.urlencode({"logout_token": token}).encode()
    req = urllib.request.Request(uri, data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:  # noqa: S310 (registered https URI)
            response.read(1024)
    except OSError as exc:
        log.warning("back-channel logout to %s failed: %s", uri, exc)


def end_session(sid: str, *, issuer: str) -> int:
    """Revoke the session's tokens and unused codes; notify the relying services after commit."""
    if not sid:
        return 0
    now = clock.now()
    with transaction.atomic():
        tokens = list(OidcToken.objects.select_related("client", "person").filter(session_id=sid, revoked_at__isnull=True))
        if not tokens:
            return 0
        OidcToken.objects.filter(pk__in=[t.pk for t in tokens]).update(revoked_at=now)
        OidcCode.objects.filter(session_id=sid, used_at__isnull=True).update(used_at=now)
        notices = {(t.client.client_id, t.client.backchannel_logout_uri, t.person.uid)
                   for t in tokens if t.client.backchannel_logout_uri and issuer}
        ledger.record("oidc.session_ended", actor=Actor.system("oidc"), target_type="oidc_session", target_id=sid,
                      person_uid=tokens[0].person.uid, after={"tokens_revoked": len(tokens),
                                                              "clients": sorted({t.client.client_id for t in tokens})})

        def notify():
            for client_id, uri, uid in sorted(notices):
                deliver_logout(uri, logout_token(issuer=issuer, client_id=client_id, sub=uid, sid=sid))

        transaction.on_commit(notify)
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

"""Back-channel logout through the outbox: signing out queues a logout notice in the sign-out's
transaction; `careaccess worker` POSTs a signed logout token to a real HTTP server on loopback,
which is down at first (retried with backoff, reported to the RA team) and then up."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from urllib.parse import parse_qs

import pytest
from django.core.management import call_command
from joserfc import jwt
from joserfc.jwk import KeySet

from careaccess.core.audit.models import Entry
from careaccess.core.outbox import delivery
from careaccess.core.outbox.models import Message
from careaccess.directory import testing
from careaccess.interop.oidc import keys, logout
from careaccess.interop.oidc import services as oidc_services
from careaccess.interop.oidc.models import OidcToken

from .test_oidc import ISSUER, authorize, basic, browser, code_from, key_dir, redeem, world  # noqa: F401 (fixtures)


class RelyingService:
    """An HTTP server on a fixed loopback port that can be down, then up; keeps the POSTed forms."""

    def __init__(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.uri = f"http://127.0.0.1:{self.port}/backchannel-logout"
        self.received: list[dict] = []
        self.server = None

    def start(self):
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                received.append({"path": self.path, "type": self.headers["Content-Type"],
                                 "form": parse_qs(self.rfile.read(length).decode())})
                self.send_response(200)
                self.send_header("Cache-Control", "no-store")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def relying_service():
    service = RelyingService()
    yield service
    service.stop()


def run_worker():
    call_command("worker", "--once", "--no-jobs", stdout=StringIO())


def test_logout_notice_waits_in_the_outbox_until_the_relying_service_is_up(
        clock, settings, client, browser, world, relying_service):
    settings.CAREACCESS_OUTBOX_RETRY_SECONDS = 30
    settings.CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS = 2
    settings.CAREACCESS_RA_EMAIL = "ra-team@careaccess.test"
    rp, secret = oidc_services.add_client(testing.SYSTEM, name="Portal", redirect_uris=["https://rp.example/callback"],
                                          auth_method="client_secret_basic", backchannel_logout_uri=relying_service.uri)
    response, verifier = authorize(browser, rp.client_id)
    tokens = redeem(client, code_from(response), verifier, basic(rp.client_id, secret)).json()
    jwks = KeySet.import_key_set(keys.jwks())
    sid = jwt.decode(tokens["id_token"], jwks).claims["sid"]

    assert browser.post("/sign-out", secure=True).status_code == 302
    # The sign-out committed the notice with the revocation; nothing was sent in the request.
    [notice] = Message.objects.filter(kind=logout.KIND)
    assert notice.to == [relying_service.uri] and notice.state == Message.State.QUEUED
    assert json.loads(Entry.objects.get(action="oidc.session_ended").after)["logout_notices"] == 1
    assert client.get("/oidc/userinfo", secure=True,
                      HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 401

    # The relying service is down: each pass of the worker fails, backs off, and after two
    # attempts the RA team is told (once). The notice is kept.
    for attempt in (1, 2):
        run_worker()
        notice.refresh_from_db()
        assert notice.state == Message.State.QUEUED and notice.attempts == attempt
        assert "Connection refused" in notice.last_error
        clock.advance(notice.next_attempt_at - clock.now())
    [report] = Message.objects.filter(kind=delivery.FAILING_REPORT_KIND)
    assert report.to == ["ra-team@careaccess.test"] and str(notice.id) in report.body
    assert relying_service.uri in report.body

    relying_service.start()
    clock.advance(dt.timedelta(minutes=5))
    run_worker()
    notice.refresh_from_db()
    assert notice.state == Message.State.SENT
    [post] = relying_service.received
    assert post["path"] == "/backchannel-logout" and post["type"] == "application/x-www-form-urlencoded"
    decoded = jwt.decode(post["form"]["logout_token"][0], jwks)
    assert decoded.header["typ"] == "logout+jwt" and decoded.header["kid"] == keys.signing_key().kid
    claims = decoded.claims
    assert claims["iss"] == ISSUER and claims["aud"] == rp.client_id
    assert claims["sub"] == world.holder.uid and claims["sid"] == sid
    assert logout.EVENT in claims["events"] and "nonce" not in claims
    # Signed when sent, not when queued: a late notice is not already expired.
    assert claims["iat"] == int(clock.now().timestamp()) and claims["exp"] > claims["iat"]
    assert claims["jti"] == notice.id.hex

    run_worker()  # sent once, not again
    assert len(relying_service.received) == 1


def test_a_sign_out_that_rolls_back_queues_nothing(browser, world, monkeypatch):
    rp, secret = oidc_services.add_client(testing.SYSTEM, name="Portal", redirect_uris=["https://rp.example/callback"],
                                          auth_method="client_secret_basic", backchannel_logout_uri="https://rp.example/bcl")
    OidcToken.objects.create(client=rp, person=world.holder, access_digest="a" * 64, scope="openid",
                             issued_at=dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc),
                             expires_at=dt.datetime(2026, 6, 1, 0, 10, tzinfo=dt.timezone.utc), auth_time=0,
                             acr="", amr="pwd", session_id="s" * 32)

    def refuse(*args, **kwargs):
        raise RuntimeError("the ledger is unavailable")

    monkeypatch.setattr(logout.ledger, "record", refuse)
    with pytest.raises(RuntimeError):
        logout.end_session("s" * 32, issuer=ISSUER)
    assert not Message.objects.filter(kind=logout.KIND).exists()
    assert OidcToken.objects.get(session_id="s" * 32).revoked_at is None

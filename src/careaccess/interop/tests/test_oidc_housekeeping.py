"""The provider's lifetimes (settings), expiring refresh tokens, the worker's pruning of spent
codes and used client-assertion ids, audited key rotation, the signing key kept in memory until a
rotation, and userinfo reads in the read log."""

from __future__ import annotations

import datetime as dt
import json

from authlib.common.security import generate_token
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from joserfc import jwt
from joserfc.jwk import KeySet

from careaccess.core.audit.models import Entry
from careaccess.core.outbox import jobs
from careaccess.interop.models import ReadLog
from careaccess.interop.oidc import keys
from careaccess.interop.oidc import services as oidc_services
from careaccess.interop.oidc.models import OidcCode, OidcJti

from .test_oidc import (TOKEN_URL, assertion_data, authorize, basic, browser, code_from, jwt_rp, key_dir,  # noqa: F401
                        redeem, rp, world)


def tokens_for(client, browser, rp):  # noqa: F811
    rp_client, secret = rp
    response, verifier = authorize(browser, rp_client.client_id)
    answer = redeem(client, code_from(response), verifier, basic(rp_client.client_id, secret))
    assert answer.status_code == 200, answer.content
    return answer.json()


def refresh(client, rp, refresh_token):  # noqa: F811
    return client.post("/oidc/token", {"grant_type": "refresh_token", "refresh_token": refresh_token}, secure=True,
                       **basic(rp[0].client_id, rp[1]))


def test_lifetimes_come_from_the_settings(clock, client, browser, rp, settings):  # noqa: F811
    settings.CAREACCESS_OIDC_ACCESS_TOKEN_SECONDS = 120
    tokens = tokens_for(client, browser, rp)
    assert tokens["expires_in"] == 120
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(keys.jwks())).claims
    assert claims["exp"] == int(clock.now().timestamp()) + 120

    settings.CAREACCESS_OIDC_CODE_SECONDS = 30
    response, verifier = authorize(browser, rp[0].client_id)
    code = code_from(response)
    clock.advance(dt.timedelta(seconds=31))
    late = redeem(client, code, verifier, basic(rp[0].client_id, rp[1]))
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_refresh_tokens_expire_and_rotation_does_not_extend_them(clock, client, browser, rp, settings):  # noqa: F811
    settings.CAREACCESS_OIDC_REFRESH_TOKEN_SECONDS = 3600
    tokens = tokens_for(client, browser, rp)
    clock.advance(dt.timedelta(minutes=50))
    rotated = refresh(client, rp, tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    clock.advance(dt.timedelta(minutes=10))  # an hour after the sign-in, though the new token is 10 minutes old
    expired = refresh(client, rp, rotated.json()["refresh_token"])
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"


def test_the_worker_prunes_spent_codes_and_expired_assertion_ids(clock, client, browser, rp, jwt_rp):  # noqa: F811
    jobs.autodiscover()
    assert {j.name: j.func for j in jobs.registered()}["oidc.prune"] is oidc_services.prune
    clock.set(dt.datetime.now(dt.timezone.utc))  # Authlib checks an assertion's exp against the real time
    tokens_for(client, browser, rp)  # one code spent
    response, _ = authorize(browser, rp[0].client_id)  # one never exchanged
    code_from(response)
    rp_client, private = jwt_rp
    now = int(clock.now().timestamp())
    assertion = private_key_jwt_sign(private, rp_client.client_id, TOKEN_URL, alg="ES256",
                                     claims={"iat": now, "exp": now + 300})
    response, verifier = authorize(browser, rp_client.client_id)
    assert redeem(client, code_from(response), verifier, {}, assertion_data(assertion)).status_code == 200
    assert OidcCode.objects.count() == 3 and OidcJti.objects.count() == 1

    assert oidc_services.prune() == {"codes": 0, "client_assertions": 0}  # all still usable or replayable
    assert not Entry.objects.filter(action="oidc.pruned").exists()
    clock.advance(dt.timedelta(seconds=60 + 61))
    assert oidc_services.prune() == {"codes": 3, "client_assertions": 0}  # the assertion lives 5 minutes
    clock.advance(dt.timedelta(seconds=300))
    assert oidc_services.prune() == {"codes": 0, "client_assertions": 1}
    assert [json.loads(e.after) for e in Entry.objects.filter(action="oidc.pruned").order_by("recorded_at")] == [
        {"codes": 3, "client_assertions": 0}, {"codes": 0, "client_assertions": 1}]


def test_key_rotation_is_audited_and_every_process_signs_with_the_new_key(db):
    first = keys.signing_key()
    assert keys.signing_key() is first  # parsed once, kept in memory
    old, new = oidc_services.rotate_signing_key(oidc_services.Actor.system("test"))
    assert old == first.kid and keys.signing_key().kid == new
    entry = Entry.objects.get(action="oidc.key_rotated")
    assert json.loads(entry.before) == {"kid": old} and json.loads(entry.after) == {"kid": new}
    # Another process rotating replaces the file: this one notices without being told.
    keys.rotate()
    assert keys.signing_key().kid not in (old, new)


def test_userinfo_reads_are_logged(client, browser, rp, world):  # noqa: F811
    tokens = tokens_for(client, browser, rp)
    for _ in range(2):
        answer = client.get("/oidc/userinfo", secure=True, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
        assert answer.status_code == 200
    logged = list(ReadLog.objects.filter(protocol="oidc"))
    assert len(logged) == 2 and {r.person_uids for r in logged} == {world.holder.uid}
    assert logged[0].actor == f"oidc:{rp[0].client_id}" and logged[0].path == "/oidc/userinfo"
    # A refused call shows nobody and logs nothing.
    client.get("/oidc/userinfo", secure=True, HTTP_AUTHORIZATION=f"Bearer {generate_token(20)}")
    assert ReadLog.objects.filter(protocol="oidc").count() == 2

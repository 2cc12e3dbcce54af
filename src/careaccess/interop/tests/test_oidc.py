"""The OpenID Connect provider end to end: Django's test client plays the browser and the relying
service's HTTP; Authlib builds the PKCE challenge and client assertions; joserfc (Authlib's JOSE)
verifies the ID token against the published JWKS."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import parse_authorization_code_response, prepare_grant_uri
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.contrib.auth import get_user_model
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from careaccess.core.audit.models import Entry
from careaccess.directory import services as directory_services
from careaccess.directory import testing
from careaccess.directory.models import Person
from careaccess.interop.oidc import keys
from careaccess.interop.oidc import services as oidc_services

from .conftest import make_world

REDIRECT = "https://rp.example/callback"
ISSUER = "https://testserver/oidc"
TOKEN_URL = ISSUER + "/token"


@pytest.fixture(autouse=True)
def key_dir(tmp_path, settings):
    settings.CAREACCESS_OIDC_KEY_DIR = tmp_path / "oidc"


@pytest.fixture
def world(db):
    w = make_world()
    user = get_user_model().objects.create_user(username=w.holder.uid, password="unused-password-1")
    Person.objects.filter(pk=w.holder.pk).update(user=user)
    w.holder.refresh_from_db()
    return w


@pytest.fixture
def rp(world):
    client, secret = oidc_services.add_client(testing.SYSTEM, name="Care Record Portal", redirect_uris=[REDIRECT],
                                              auth_method="client_secret_basic")
    return client, secret


def basic(client_id: str, secret: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def authorize(browser, client_id, *, scope="openid profile", verifier=None, redirect=REDIRECT, post=None, nonce=None):
    verifier = verifier or generate_token(48)
    # Authlib's client helper builds the authorization request, as a relying service would.
    url = prepare_grant_uri("/oidc/authorize", client_id, "code", redirect_uri=redirect, scope=scope,
                            state="st4te", nonce=nonce or generate_token(16),
                            code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    page = browser.get(url, secure=True)
    assert page.status_code == 200, page.content
    response = browser.post(url, {"decision": "allow", **(post or {})}, secure=True)
    return response, verifier


def code_from(response) -> str:
    assert response.status_code == 302, response.content
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    return parse_authorization_code_response(response["Location"], state="st4te")["code"]


def redeem(web, code, verifier, headers, extra=None):
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
            **(extra or {})}
    return web.post("/oidc/token", data, secure=True, **headers)


@pytest.fixture
def browser(client, world):
    client.force_login(world.holder.user)
    return client


def test_discovery_and_jwks(client, db):
    doc = client.get("/oidc/.well-known/openid-configuration", secure=True).json()
    assert doc["issuer"] == ISSUER
    assert doc["token_endpoint"] == TOKEN_URL
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "private_key_jwt"}
    assert {"nhsperson", "associatedorgs", "nationalrbacaccess", "selectedrole"} <= set(doc["scopes_supported"])
    jwks = client.get("/oidc/jwks", secure=True).json()
    assert [k["kid"] for k in jwks["keys"]] == [keys.signing_key().kid]
    assert all("d" not in k for k in jwks["keys"])


def test_signed_out_user_is_sent_to_sign_in(client, rp):
    response = client.get("/oidc/authorize?" + urlencode({"client_id": rp[0].client_id}), secure=True)
    assert response.status_code == 302
    assert response["Location"].startswith("/sign-in?next=%2Foidc%2Fauthorize")


def test_code_flow_with_pkce_id_token_userinfo_and_refresh(client, browser, rp, world):
    rp_client, secret = rp
    response, verifier = authorize(browser, rp_client.client_id,
                                   scope="openid profile nhsperson associatedorgs nationalrbacaccess selectedrole", nonce="n0nce")
    code = code_from(response)
    answer = redeem(client, code, verifier, basic(rp_client.client_id, secret))
    assert answer.status_code == 200, answer.content
    tokens = answer.json()
    assert tokens["token_type"].lower() == "bearer" and tokens["refresh_token"]

    jwks = KeySet.import_key_set(client.get("/oidc/jwks", secure=True).json())
    id_token = jwt.decode(tokens["id_token"], jwks)
    assert id_token.header["alg"] == "ES256"
    claims = id_token.claims
    assert claims["iss"] == ISSUER and claims["aud"] == [rp_client.client_id] and claims["nonce"] == "n0nce"
    assert claims["sub"] == world.holder.uid
    assert claims["amr"] == ["pwd"] and claims["acr"] == "urn:careaccess:aal1"
    assert claims["authentication_assurance_level"] == 1 and "id_assurance_level" in claims
    assert claims["at_hash"]

    info = client.get("/oidc/userinfo", secure=True, HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
    assert info["sub"] == world.holder.uid and info["nhsid_useruid"] == world.holder.uid
    assert info["given_name"] == "Gina" and info["family_name"] == "Doctor"
    assert info["nhsid_user_orgs"] == [{"org_code": "B86001", "org_name": world.practice.name}]
    [role] = info["nhsid_nrbac_roles"]
    assignment = world.holder.assignments.get()
    assert role == {"person_roleid": str(assignment.id), "org_code": "B86001", "role_code": "S8000:G8000:R8000",
                    "role_name": "Clinical Practitioner Access Role", "position_name": "GP",
                    "activity_codes": ["B0825"], "activities": ["Amend Patient Demographics"]}
    assert info["selected_roleid"] == str(assignment.id)

    refreshed = client.post("/oidc/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                            secure=True, **basic(rp_client.client_id, secret))
    assert refreshed.status_code == 200, refreshed.content
    new = refreshed.json()
    assert new["access_token"] != tokens["access_token"] and new["refresh_token"] != tokens["refresh_token"]
    assert client.get("/oidc/userinfo", secure=True,
                      HTTP_AUTHORIZATION=f"Bearer {new['access_token']}").json()["sub"] == world.holder.uid
    # The old refresh token was rotated away.
    again = client.post("/oidc/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                        secure=True, **basic(rp_client.client_id, secret))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert Entry.objects.filter(action="oidc.token_issued").count() == 2


def test_reused_code_and_wrong_verifier_are_refused(client, browser, rp):
    rp_client, secret = rp
    response, verifier = authorize(browser, rp_client.client_id)
    code = code_from(response)
    assert redeem(client, code, verifier, basic(rp_client.client_id, secret)).status_code == 200
    reused = redeem(client, code, verifier, basic(rp_client.client_id, secret))
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"

    response, verifier = authorize(browser, rp_client.client_id)
    wrong = redeem(client, code_from(response), generate_token(48), basic(rp_client.client_id, secret))
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_bad_secret_bad_redirect_uri_and_missing_pkce(client, browser, rp):
    rp_client, secret = rp
    response, verifier = authorize(browser, rp_client.client_id)
    bad = redeem(client, code_from(response), verifier, basic(rp_client.client_id, "not-the-secret"))
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"

    page = browser.get("/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": rp_client.client_id, "redirect_uri": "https://evil.example/cb",
        "scope": "openid", "code_challenge": create_s256_code_challenge("x" * 43), "code_challenge_method": "S256"}),
        secure=True)
    assert page.status_code == 400 and "Location" not in page
    assert page.json()["error"] == "invalid_request"

    page = browser.get("/oidc/authorize?" + urlencode({
        "response_type": "code", "client_id": rp_client.client_id, "redirect_uri": REDIRECT, "scope": "openid",
        "state": "s"}), secure=True)
    assert page.status_code == 302
    assert parse_qs(urlsplit(page["Location"]).query)["error"] == ["invalid_request"]


def test_role_selection_when_two_live_assignments(client, browser, rp, world):
    second = directory_services.create_position(testing.SYSTEM, world.other, name="Care home nurse",
                                                job_roles=["S8000:G8000:R8000"], activities=["B0820"])
    assignment = directory_services.create_assignment(testing.SYSTEM, world.holder, second)
    rp_client, secret = rp
    verifier = generate_token(48)
    params = {"response_type": "code", "client_id": rp_client.client_id, "redirect_uri": REDIRECT,
              "scope": "openid selectedrole", "state": "st4te", "code_challenge": create_s256_code_challenge(verifier),
              "code_challenge_method": "S256"}
    url = "/oidc/authorize?" + urlencode(params)
    page = browser.get(url, secure=True)
    assert b"Choose the role you act in" in page.content and b"Care home nurse" in page.content
    assert browser.post(url, {"decision": "allow"}, secure=True).status_code == 400
    code = code_from(browser.post(url, {"decision": "allow", "role": str(assignment.id)}, secure=True))
    tokens = redeem(client, code, verifier, basic(rp_client.client_id, secret)).json()
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(keys.jwks())).claims
    assert claims["selected_roleid"] == str(assignment.id)


def test_cancel_returns_access_denied(browser, rp):
    params = {"response_type": "code", "client_id": rp[0].client_id, "redirect_uri": REDIRECT, "scope": "openid",
              "state": "st4te", "code_challenge": create_s256_code_challenge("v" * 43), "code_challenge_method": "S256"}
    response = browser.post("/oidc/authorize?" + urlencode(params), {"decision": "deny"}, secure=True)
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["access_denied"]


@pytest.fixture
def jwt_rp(world):
    private = ECKey.generate_key("P-256", private=True)
    public = {"keys": [private.as_dict(private=False)]}
    client, secret = oidc_services.add_client(testing.SYSTEM, name="Provider Portal", redirect_uris=[REDIRECT],
                                              auth_method="private_key_jwt", jwks=public)
    assert secret is None
    return client, private


def assertion_data(assertion: str) -> dict:
    return {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion}


def test_private_key_jwt_good_forged_expired_and_replayed(client, browser, jwt_rp):
    rp_client, private = jwt_rp
    forger = ECKey.generate_key("P-256", private=True)
    now = int(time.time())
    cases = {
        "forged": private_key_jwt_sign(forger, rp_client.client_id, TOKEN_URL, alg="ES256"),
        "expired": private_key_jwt_sign(private, rp_client.client_id, TOKEN_URL, alg="ES256",
                                        claims={"iat": now - 7200, "exp": now - 3600}),
        "wrong audience": private_key_jwt_sign(private, rp_client.client_id, "https://elsewhere.example/token",
                                               alg="ES256"),
    }
    for name, assertion in cases.items():
        response, verifier = authorize(browser, rp_client.client_id)
        refused = redeem(client, code_from(response), verifier, {}, assertion_data(assertion))
        # RFC 6749 5.2: 401 only when the client authenticated with the Authorization header.
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_client", name

    good = private_key_jwt_sign(private, rp_client.client_id, TOKEN_URL, alg="ES256")
    response, verifier = authorize(browser, rp_client.client_id)
    answer = redeem(client, code_from(response), verifier, {}, assertion_data(good))
    assert answer.status_code == 200, answer.content
    assert "id_token" in answer.json()

    response, verifier = authorize(browser, rp_client.client_id)
    replayed = redeem(client, code_from(response), verifier, {}, assertion_data(good))
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_client"

    # A private_key_jwt client cannot fall back to a secret.
    response, verifier = authorize(browser, rp_client.client_id)
    assert redeem(client, code_from(response), verifier, basic(rp_client.client_id, "x")).status_code == 401


def test_userinfo_refuses_unknown_token(client, db):
    response = client.get("/oidc/userinfo", secure=True, HTTP_AUTHORIZATION="Bearer nope")
    assert response.status_code == 401 and 'error="invalid_token"' in response["WWW-Authenticate"]


def test_key_rotation_keeps_previous_public_key(client, browser, rp):
    rp_client, secret = rp
    response, verifier = authorize(browser, rp_client.client_id)
    id_token = redeem(client, code_from(response), verifier, basic(rp_client.client_id, secret)).json()["id_token"]
    old_kid, new_kid = keys.rotate()
    assert old_kid != new_kid
    published = client.get("/oidc/jwks", secure=True).json()
    assert [k["kid"] for k in published["keys"]] == [new_kid, old_kid]
    assert jwt.decode(id_token, KeySet.import_key_set(published)).header["kid"] == old_kid
    assert (keys.key_dir() / "current.pem").stat().st_mode & 0o777 == 0o600
    keys.rotate()
    assert old_kid not in [k["kid"] for k in keys.jwks()["keys"]]


def test_cli_registers_clients_and_rotates_keys(db, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("oidc", "client", "add", "--name", "Portal", "--redirect-uri", REDIRECT, stdout=out)
    assert "client_id:" in out.getvalue() and "client_secret:" in out.getvalue()
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    out = StringIO()
    call_command("oidc", "client", "add", "--name", "JWT portal", "--redirect-uri", REDIRECT,
                 "--auth-method", "private_key_jwt", "--jwks", str(jwks_file), stdout=out)
    assert "client_secret" not in out.getvalue()
    assert Entry.objects.filter(action="oidc.client_added").count() == 2
    before = keys.signing_key().kid
    call_command("oidc", "rotate-key", stdout=StringIO())
    assert [k["kid"] for k in keys.jwks()["keys"]][1] == before


def test_suspended_person_loses_userinfo_and_refresh(client, browser, rp, world):
    rp_client, secret = rp
    response, verifier = authorize(browser, rp_client.client_id)
    tokens = redeem(client, code_from(response), verifier, basic(rp_client.client_id, secret)).json()
    Person.objects.filter(pk=world.holder.pk).update(status=Person.Status.SUSPENDED)
    assert client.get("/oidc/userinfo", secure=True,
                      HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 401
    refused = client.post("/oidc/token", {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                          secure=True, **basic(rp_client.client_id, secret))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_signing_out_without_a_host_still_works(client, world):
    # Django's test client (and any bare request) signs out with no host to derive the issuer from.
    holder = Person.objects.select_related("user").get(pk=world.holder.pk)
    client.force_login(holder.user)
    client.logout()
    assert "_auth_user_id" not in client.session


def test_a_code_issued_before_sign_out_cannot_be_exchanged_after_it(client, browser, rp):
    # The session ended before any token was issued: its unused code dies with it.
    rp_client, secret = rp
    response, verifier = authorize(browser, rp_client.client_id)
    code = code_from(response)
    browser.logout()
    late = redeem(client, code, verifier, basic(rp_client.client_id, secret))
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"

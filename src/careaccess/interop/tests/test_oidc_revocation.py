"""Token revocation (RFC 7009) and introspection (RFC 7662), driven by Authlib's own OAuth 2.0
client (`authlib.oauth2.client.OAuth2Client`, with `client_secret_basic` and its `PrivateKeyJWT`
client authentication) over Django's test client."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode, urlsplit

import pytest
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT

from careaccess.core.audit.models import Entry
from careaccess.directory import testing
from careaccess.interop.oidc import services as oidc_services
from careaccess.interop.oidc.models import OidcToken

from .test_oidc import (ISSUER, REDIRECT, TOKEN_URL, authorize, browser, code_from, jwt_rp, key_dir,  # noqa: F401
                        rp, world)

REVOKE_URL = ISSUER + "/revoke"
INTROSPECT_URL = ISSUER + "/introspect"


class DjangoSession:
    """The HTTP transport Authlib's OAuth2Client expects (`post(url, data, headers, auth)`), over
    Django's test client: Authlib prepares the client authentication, Django carries it."""

    def __init__(self, client):
        self.client = client

    def post(self, url, data=None, headers=None, auth=None, **kwargs):
        uri, headers, body = auth.prepare("POST", url, dict(headers or {}), urlencode(data or {}))
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
                 if k.lower() not in ("content-type", "content-length")}
        return self.client.post(urlsplit(uri).path, body, content_type="application/x-www-form-urlencoded",
                                secure=True, **extra)


def secret_client(client, rp_client, secret) -> OAuth2Client:
    return OAuth2Client(DjangoSession(client), client_id=rp_client.client_id, client_secret=secret,
                        token_endpoint_auth_method="client_secret_basic")


def jwt_client(client, rp_client, private_key) -> OAuth2Client:
    oauth = OAuth2Client(DjangoSession(client), client_id=rp_client.client_id, client_secret=private_key,
                         token_endpoint_auth_method="private_key_jwt",
                         revocation_endpoint_auth_method="private_key_jwt")
    # No fixed audience: each assertion names the endpoint it is sent to (token, revoke, introspect).
    oauth.register_client_auth_method(PrivateKeyJWT(alg="ES256"))
    return oauth


def tokens_for(browser, oauth: OAuth2Client, scope="openid profile") -> dict:
    response, verifier = authorize(browser, oauth.client_id, scope=scope)
    return oauth.fetch_token(TOKEN_URL, grant_type="authorization_code", code=code_from(response),
                             redirect_uri=REDIRECT, code_verifier=verifier)


def introspect(oauth, token, hint=None) -> dict:
    response = oauth.introspect_token(INTROSPECT_URL, token=token, token_type_hint=hint)
    assert response.status_code == 200, response.content
    return response.json()


def test_discovery_advertises_revocation_and_introspection(client, db):
    doc = client.get("/oidc/.well-known/openid-configuration", secure=True).json()
    assert doc["revocation_endpoint"] == REVOKE_URL and doc["introspection_endpoint"] == INTROSPECT_URL
    assert set(doc["revocation_endpoint_auth_methods_supported"]) == {"client_secret_basic", "private_key_jwt"}
    assert set(doc["introspection_endpoint_auth_methods_supported"]) == {"client_secret_basic", "private_key_jwt"}


def test_introspection_of_live_tokens(client, browser, rp, world, settings):
    oauth = secret_client(client, *rp)
    tokens = tokens_for(browser, oauth)
    access = introspect(oauth, tokens["access_token"])
    assert access["active"] is True and access["sub"] == world.holder.uid
    assert access["client_id"] == rp[0].client_id and access["scope"] == "openid profile"
    assert access["token_type"] == "Bearer" and access["iss"] == ISSUER
    assert access["exp"] - access["iat"] == tokens["expires_in"]
    refresh = introspect(oauth, tokens["refresh_token"], "refresh_token")
    assert refresh["active"] is True
    assert refresh["exp"] - refresh["iat"] == settings.CAREACCESS_OIDC_REFRESH_TOKEN_SECONDS


def test_revoking_the_refresh_token_stops_refresh_and_the_access_token(client, browser, rp, world):
    oauth = secret_client(client, *rp)
    tokens = tokens_for(browser, oauth)
    response = oauth.revoke_token(REVOKE_URL, token=tokens["refresh_token"], token_type_hint="refresh_token")
    assert response.status_code == 200
    [entry] = Entry.objects.filter(action="oidc.token_revoked")
    assert entry.person_uid == world.holder.uid
    with pytest.raises(OAuth2Error) as refused:
        oauth.refresh_token(TOKEN_URL, refresh_token=tokens["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert introspect(oauth, tokens["refresh_token"]) == {"active": False}
    assert introspect(oauth, tokens["access_token"]) == {"active": False}
    assert client.get("/oidc/userinfo", secure=True,
                      HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").status_code == 401
    # Revoking again, or revoking a token the server never issued, is answered 200 and changes nothing.
    assert oauth.revoke_token(REVOKE_URL, token=tokens["refresh_token"]).status_code == 200
    assert oauth.revoke_token(REVOKE_URL, token="never-issued").status_code == 200
    assert Entry.objects.filter(action="oidc.token_revoked").count() == 1


def test_expired_unknown_and_foreign_tokens_are_inactive(clock, client, browser, rp, world):
    oauth = secret_client(client, *rp)
    tokens = tokens_for(browser, oauth)
    other, other_secret = oidc_services.add_client(testing.SYSTEM, name="Another portal", redirect_uris=[REDIRECT],
                                                   auth_method="client_secret_basic")
    stranger = secret_client(client, other, other_secret)
    # Another client learns nothing about this client's tokens, and cannot revoke them.
    assert introspect(stranger, tokens["access_token"]) == {"active": False}
    refused = stranger.revoke_token(REVOKE_URL, token=tokens["refresh_token"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert introspect(oauth, tokens["refresh_token"])["active"] is True
    assert introspect(oauth, "never-issued") == {"active": False}

    clock.advance(dt.timedelta(seconds=tokens["expires_in"]))
    assert introspect(oauth, tokens["access_token"]) == {"active": False}
    assert introspect(oauth, tokens["refresh_token"])["active"] is True  # it lives longer


def test_private_key_jwt_client_revokes_and_introspects(client, browser, jwt_rp):
    rp_client, private = jwt_rp
    oauth = jwt_client(client, rp_client, private)
    tokens = tokens_for(browser, oauth)
    assert introspect(oauth, tokens["access_token"])["active"] is True
    assert oauth.revoke_token(REVOKE_URL, token=tokens["access_token"]).status_code == 200
    assert introspect(oauth, tokens["access_token"]) == {"active": False}
    assert OidcToken.objects.get(client=rp_client).revoked_at is not None


def test_clients_must_authenticate_with_their_registered_method(client, browser, rp, jwt_rp):
    oauth = secret_client(client, *rp)
    tokens = tokens_for(browser, oauth)
    wrong_secret = secret_client(client, rp[0], "not-the-secret")
    refused = wrong_secret.introspect_token(INTROSPECT_URL, token=tokens["access_token"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    refused = wrong_secret.revoke_token(REVOKE_URL, token=tokens["access_token"])
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    # A private_key_jwt client cannot fall back to a secret at these endpoints either.
    refused = secret_client(client, jwt_rp[0], "guess").introspect_token(INTROSPECT_URL, token=tokens["access_token"])
    assert refused.status_code == 401
    # A missing token parameter is invalid_request; nothing was revoked by any of this.
    missing = client.post("/oidc/revoke", {}, secure=True,
                          HTTP_AUTHORIZATION=oauth.client_auth("client_secret_basic").prepare(
                              "POST", REVOKE_URL, {}, "")[1]["Authorization"])
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    assert introspect(oauth, tokens["access_token"])["active"] is True

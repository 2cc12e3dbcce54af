"""A relying service that speaks for a card-only directory service is told only of card sign-ins
(rule DS18: no card, no access; no fall-back logon), end to end: Authlib's client helpers build
the requests, the software card signs the card sign-in's challenge, joserfc checks the ID token."""

from __future__ import annotations

import base64
import json
import re
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from joserfc import jwt
from joserfc.jwk import KeySet

from careaccess.core.audit.models import Entry
from careaccess.credentials import pki
from careaccess.credentials import testing as credential_testing
from careaccess.credentials.cards import SoftwareCard
from careaccess.directory import services as directory_services
from careaccess.directory import testing
from careaccess.directory.models import Person
from careaccess.interop.oidc import keys
from careaccess.interop.oidc import services as oidc_services
from careaccess.interop.oidc.models import OidcClient, OidcCode

from .test_oidc import REDIRECT, basic, browser, code_from, key_dir, redeem, world  # noqa: F401 (fixtures)


@pytest.fixture
def card_service(world):
    return directory_services.create_service(testing.SYSTEM, code="spine", name="Spine portal", card_only=True,
                                             roles=[{"code": "card-holder", "name": "Card holder"}])


@pytest.fixture
def card_rp(card_service):
    return oidc_services.add_client(testing.SYSTEM, name="Spine portal", redirect_uris=[REDIRECT],
                                    auth_method="client_secret_basic", service="spine")


def grant_url(client_id: str, verifier: str) -> str:
    return prepare_grant_uri("/oidc/authorize", client_id, "code", redirect_uri=REDIRECT, scope="openid profile",
                             state="st4te", nonce=generate_token(16),
                             code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")


def card_sign_in(web, holder, next_url: str):
    """The card sign-in page, answered by the holder's software card (as the card middleware would)."""
    card = credential_testing.card_for(holder)
    page = web.get("/account/card-sign-in", {"next": next_url}).content.decode()
    nonce = re.search(r'data-nonce="([^"]+)"', page).group(1)
    challenge = base64.b64decode(re.search(r'id="challenge"[^>]*>([^<]+)<', page).group(1))
    soft = SoftwareCard.open(card)
    soft.verify_pin(credential_testing.PIN)
    signature = soft.sign(challenge)
    card.refresh_from_db()
    return web.post("/account/card-sign-in", {
        "nonce": nonce, "certificate": base64.b64encode(bytes(card.certificate.der)).decode(),
        "signature": base64.b64encode(signature).decode(), "next": next_url})


def test_a_password_sign_in_gets_no_code_for_a_card_only_service(client, browser, card_rp):  # noqa: F811
    # rule DS18
    rp_client, _ = card_rp
    url = grant_url(rp_client.client_id, generate_token(48))
    page = browser.get(url, secure=True)
    assert page.status_code == 403
    text = page.content.decode()
    assert "Spine portal needs your smartcard" in text and "no card, no access" in text and "DS18" in text
    assert "/account/card-sign-in?next=%2Foidc%2Fauthorize" in text

    # Pressing on anyway issues nothing; going back tells the relying service access_denied.
    assert browser.post(url, {"decision": "allow"}, secure=True).status_code == 403
    assert not OidcCode.objects.exists()
    back = browser.post(url, {"decision": "deny"}, secure=True)
    assert back.status_code == 302 and back["Location"].startswith(REDIRECT)
    assert parse_qs(urlsplit(back["Location"]).query)["error"] == ["access_denied"]
    assert not Entry.objects.filter(action__in=["oidc.code_issued", "oidc.token_issued"]).exists()


def test_the_same_person_signed_in_with_a_card_gets_a_code(client, world, card_rp, settings, tmp_path):  # noqa: F811
    # rule DS18: the card is the way in.
    settings.CAREACCESS_PKI_DIR = str(tmp_path / "pki")
    settings.CAREACCESS_CRL_URL = "http://careaccess.test/pki/crl.der"
    pki.init()
    holder = credential_testing.verified_person(given_name="Cara", family_name="Holder")
    user = get_user_model().objects.create_user(username=holder.uid, password="not used here 123")
    Person.objects.filter(pk=holder.pk).update(user=user)
    rp_client, secret = card_rp
    verifier = generate_token(48)
    url = grant_url(rp_client.client_id, verifier)
    signed_in = card_sign_in(client, holder, url)
    assert signed_in.status_code == 302 and signed_in["Location"] == url
    assert client.get(url, secure=True).status_code == 200
    code = code_from(client.post(url, {"decision": "allow"}, secure=True))
    tokens = redeem(client, code, verifier, basic(rp_client.client_id, secret)).json()
    claims = jwt.decode(tokens["id_token"], KeySet.import_key_set(keys.jwks())).claims
    assert claims["sub"] == holder.uid and claims["amr"] == ["sc"] and claims["acr"] == "urn:careaccess:aal3"
    [issued] = Entry.objects.filter(action="oidc.code_issued")
    assert json.loads(issued.after)["amr"] == ["sc"] and issued.person_uid == holder.uid


def test_a_client_tied_to_no_service_or_to_a_password_service_takes_a_password_sign_in(browser, world):  # noqa: F811
    directory_services.create_service(testing.SYSTEM, code="portal", name="Portal", card_only=False)
    for service in (None, "portal"):
        rp_client, _ = oidc_services.add_client(testing.SYSTEM, name="Portal", redirect_uris=[REDIRECT],
                                                auth_method="client_secret_basic", service=service)
        url = grant_url(rp_client.client_id, generate_token(48))
        assert browser.get(url, secure=True).status_code == 200
        code_from(browser.post(url, {"decision": "allow"}, secure=True))


def test_the_cli_links_a_client_to_its_service_and_refuses_an_unknown_one(card_service):
    out = StringIO()
    call_command("oidc", "client", "add", "--name", "Spine portal", "--redirect-uri", REDIRECT, "--service", "spine",
                 stdout=out)
    client_id = re.search(r"client_id: (\S+)", out.getvalue()).group(1)
    assert OidcClient.objects.get(client_id=client_id).service == card_service
    assert json.loads(Entry.objects.get(action="oidc.client_added", target_id=client_id).after)["service"] == "spine"
    listed = StringIO()
    call_command("oidc", "client", "list", stdout=listed)
    assert f"{client_id}\tSpine portal\tclient_secret_basic\tspine" in listed.getvalue()
    with pytest.raises(CommandError, match="no service has the code nope"):
        call_command("oidc", "client", "add", "--name", "X", "--redirect-uri", REDIRECT, "--service", "nope")
    assert OidcClient.objects.count() == 1

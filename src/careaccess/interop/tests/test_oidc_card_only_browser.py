"""In Chromium with JavaScript off: a person who signed in with a password and follows a card-only
service's authorization request sees why there is no way in without their card (rule DS18), a
link to the card sign-in that comes back to the request, and a button back to the service, which
is told access_denied."""

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from careaccess.directory import services as directory_services
from careaccess.interop.oidc import services as oidc_services
from careaccess.interop.oidc.models import OidcCode
from careaccess.web.tests.conftest import PASSWORD, SYSTEM, organisation, person, place, staff_catalogue

pytestmark = pytest.mark.browser
REDIRECT = "https://rp.example/callback"


def test_a_password_sign_in_is_turned_away_from_a_card_only_service(live_server, new_page, transactional_db,
                                                                      settings, tmp_path):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]
    settings.CAREACCESS_OIDC_KEY_DIR = tmp_path / "oidc"
    staff_catalogue()
    holder = person("Cara", "Holder")
    place(holder, organisation("B86001", name="Riverside Surgery"), "GP")
    directory_services.create_service(SYSTEM, code="spine", name="Spine portal", card_only=True)
    rp, _ = oidc_services.add_client(SYSTEM, name="Spine portal", redirect_uris=[REDIRECT],
                                     auth_method="client_secret_basic", service="spine")
    request = prepare_grant_uri("/oidc/authorize", rp.client_id, "code", redirect_uri=REDIRECT, scope="openid",
                                state="st4te", code_challenge=create_s256_code_challenge(generate_token(48)),
                                code_challenge_method="S256")
    page, base = new_page(java_script_enabled=False), live_server.url
    page.route("https://rp.example/**", lambda route: route.fulfill(status=200, body="the relying service"))

    page.goto(f"{base}/sign-in?" + urlencode({"next": request}))
    page.fill("#username", holder.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/oidc/authorize?*")
    assert page.locator("h1").inner_text() == "Spine portal needs your smartcard"
    warning = page.locator(".nhsuk-warning-callout").inner_text()
    assert "No card, no access" in warning and "card-only" in warning and "DS18" in warning
    card_link = page.locator("a:has-text('Sign in with your smartcard')").get_attribute("href")
    assert card_link.startswith("/account/card-sign-in?next=%2Foidc%2Fauthorize%3F")

    page.click("button:has-text('Go back to Spine portal')")
    page.wait_for_url("https://rp.example/callback?*")
    assert parse_qs(urlsplit(page.url).query)["error"] == ["access_denied"]
    assert not OidcCode.objects.exists()

"""A FIDO2 security key in a real browser (issue 5, item 6): Debian's Chromium driven by Playwright,
with a virtual authenticator added through the Chrome DevTools Protocol. A sponsor registers the
key, signs out, and signs in again with password then key. WebAuthn needs a secure context, which
"localhost" is (127.0.0.1 is not the relying party id used here)."""

import pytest

from careaccess.core.audit.models import Entry
from careaccess.credentials.models import SecurityKey
from careaccess.web.tests.conftest import PASSWORD, organisation, person, place, staff_catalogue

pytestmark = pytest.mark.browser


@pytest.fixture
def page_with_authenticator(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    return page


def test_register_a_security_key_then_sign_in_with_it(live_server, page_with_authenticator, transactional_db,
                                                     settings):
    settings.ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]
    settings.CAREACCESS_REQUIRE_SECOND_FACTOR = True
    staff_catalogue()
    who = person("Priya", "Patel")
    place(who, organisation("A81001", name="Riverside Surgery"), "Practice manager", "sponsor")
    base = live_server.url.replace("127.0.0.1", "localhost")
    page = page_with_authenticator

    page.goto(f"{base}/sign-in")
    page.fill("#username", who.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/account/security/authenticator-app*")  # a sponsor must enrol
    page.click("text=Use a security key instead")
    page.wait_for_url(f"{base}/account/security/security-key*")
    page.fill("#key-name", "Blue key")
    page.click("#register-key")
    page.wait_for_url(f"{base}/account/security")
    key = SecurityKey.objects.get(person=who)
    assert key.name == "Blue key"
    assert "Blue key" in page.locator("main").inner_text()
    page.goto(f"{base}/")  # enrolled: the pages no longer send the sponsor to enrol
    assert page.url == f"{base}/"

    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base}/sign-in*")
    page.fill("#username", who.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/account/verify")
    page.click("#use-key")
    page.wait_for_url(f"{base}/")
    assert "Priya Patel" in page.locator("header.nhsuk-header").inner_text()
    assert Entry.objects.filter(action="signin.second_factor_passed", person_uid=who.uid,
                                reason__startswith="security key Blue key").exists()
    assert Entry.objects.filter(action="authenticator.security_key_registered", person_uid=who.uid).exists()

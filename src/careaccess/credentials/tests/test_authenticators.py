"""Second factors for staff (issue 5, item 6): TOTP enrolment, the second sign-in step, recovery
codes, replay refusal, and enforcement for staff with RA or sponsor rights. Time moves with the
project clock; nothing sleeps."""

import datetime as dt
import re

import pyotp
import pytest

from careaccess.core.audit.models import Entry
from careaccess.credentials import authenticators
from careaccess.credentials.models import RecoveryCode, TotpDevice
from careaccess.web.tests.conftest import organisation, person, place, sign_in, staff_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]


@pytest.fixture
def sponsor(db, clock):
    staff_catalogue()
    org = organisation("A81001", name="Riverside Surgery")
    who = person("Sam", "Sponsor")
    place(who, org, "Practice manager", "sponsor")
    return who


def code_now(secret, clock):
    return pyotp.TOTP(secret).at(clock.now())


def enrol(client, who, clock):
    """Sign in and set up an authenticator app through the pages; returns (secret, recovery codes)."""
    assert sign_in(client, who.uid).status_code == 302
    page = client.get("/account/security/authenticator-app")
    assert page.status_code == 200
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7]+)<', page.content.decode()).group(1)
    done = client.post("/account/security/authenticator-app", {"code": code_now(secret, clock)})
    assert done.status_code == 200 and "Your recovery codes" in done.content.decode()
    codes = re.findall(r"<code>([0-9a-f]{6}-[0-9a-f]{6})</code>", done.content.decode())
    client.post("/sign-out")
    return secret, codes


def test_enrolment_shows_the_secret_and_otpauth_uri_and_keeps_recovery_codes_hashed(client, sponsor, clock):
    sign_in(client, sponsor.uid)
    page = client.get("/account/security/authenticator-app").content.decode()
    device = TotpDevice.objects.get(person=sponsor)
    assert device.confirmed_at is None and device.secret in page
    assert f"otpauth://totp/careaccess:{sponsor.uid}?secret={device.secret}" in page.replace("&amp;", "&")
    wrong = client.post("/account/security/authenticator-app", {"code": "000000" if code_now(device.secret, clock) != "000000" else "111111"})
    assert "The code is not right" in wrong.content.decode()
    done = client.post("/account/security/authenticator-app", {"code": code_now(device.secret, clock)})
    codes = re.findall(r"<code>([0-9a-f]{6}-[0-9a-f]{6})</code>", done.content.decode())
    assert len(codes) == 10
    stored = set(RecoveryCode.objects.filter(person=sponsor).values_list("code_hash", flat=True))
    assert not any(c in stored for c in codes) and len(stored) == 10  # only hashes are kept
    device.refresh_from_db()
    assert device.confirmed_at == clock.now()
    assert Entry.objects.filter(action="authenticator.totp_enrolled", person_uid=sponsor.uid).exists()
    assert Entry.objects.filter(action="authenticator.totp_enrolment_failed", person_uid=sponsor.uid).exists()


def test_sign_in_asks_for_the_code_after_the_password(client, sponsor, clock):
    secret, _ = enrol(client, sponsor, clock)
    clock.advance(dt.timedelta(minutes=1))
    response = sign_in(client, sponsor.uid)
    assert response.status_code == 302 and response.url == "/account/verify"
    assert client.get("/").status_code == 302  # not signed in yet
    wrong = client.post("/account/verify", {"code": "12345x"})
    assert "The code is not right" in wrong.content.decode()
    ok = client.post("/account/verify", {"code": code_now(secret, clock)})
    assert ok.status_code == 302 and ok.url == "/"
    assert client.session["careaccess.amr"] == ["pwd", "otp"]  # what relying services are told (OIDC amr)
    assert "Sam Sponsor" in client.get("/").content.decode()
    assert Entry.objects.filter(action="signin.second_factor_passed", person_uid=sponsor.uid).exists()
    assert Entry.objects.filter(action="signin.second_factor_failed", person_uid=sponsor.uid).exists()


def test_a_code_is_accepted_once_and_drift_of_one_step_is_tolerated(client, sponsor, clock):
    secret, _ = enrol(client, sponsor, clock)
    clock.advance(dt.timedelta(minutes=2))
    code = code_now(secret, clock)
    assert authenticators.verify_second_factor(sponsor, code)
    assert not authenticators.verify_second_factor(sponsor, code)  # replayed
    clock.advance(dt.timedelta(seconds=30))
    earlier = pyotp.TOTP(secret).at(clock.now() - dt.timedelta(seconds=60))
    assert not authenticators.verify_second_factor(sponsor, earlier)  # two steps old
    assert authenticators.verify_second_factor(sponsor, pyotp.TOTP(secret).at(clock.now() + dt.timedelta(seconds=30)))
    assert Entry.objects.filter(action="signin.second_factor_failed", reason__startswith="code already used").exists()


def test_recovery_code_works_once(client, sponsor, clock):
    _, codes = enrol(client, sponsor, clock)
    sign_in(client, sponsor.uid)
    ok = client.post("/account/verify", {"code": codes[0].upper()})
    assert ok.status_code == 302 and ok.url == "/"
    client.post("/sign-out")
    sign_in(client, sponsor.uid)
    again = client.post("/account/verify", {"code": codes[0]})
    assert again.status_code == 200 and "The code is not right" in again.content.decode()
    assert authenticators.remaining_recovery_codes(sponsor) == 9


def test_the_second_step_expires_and_too_many_wrong_codes_start_again(client, sponsor, clock):
    secret, _ = enrol(client, sponsor, clock)
    sign_in(client, sponsor.uid)
    clock.advance(dt.timedelta(minutes=6))
    late = client.post("/account/verify", {"code": code_now(secret, clock)})
    assert late.status_code == 302 and late.url == "/sign-in"
    sign_in(client, sponsor.uid)
    for _ in range(5):
        response = client.post("/account/verify", {"code": "abcdef"})
    assert response.status_code == 302 and response.url == "/sign-in"
    assert client.get("/account/verify").url == "/sign-in"


def test_a_sponsor_without_a_second_factor_is_sent_to_enrol(client, sponsor, clock, settings):
    settings.CAREACCESS_REQUIRE_SECOND_FACTOR = True
    response = sign_in(client, sponsor.uid, next="/my-access")
    assert response.status_code == 302 and response.url.startswith("/account/security/authenticator-app")
    home = client.get("/")
    assert home.status_code == 302 and home.url.startswith("/account/security/authenticator-app")
    page = client.get(response.url)
    assert "You need a second factor" in page.content.decode()
    secret = TotpDevice.objects.get(person=sponsor).secret
    done = client.post(response.url, {"code": code_now(secret, clock), "next": "/my-access"})
    assert 'href="/my-access"' in done.content.decode()
    assert client.get("/").status_code == 200


def test_a_person_without_staff_rights_is_not_asked_to_enrol(client, db, clock, settings):
    settings.CAREACCESS_REQUIRE_SECOND_FACTOR = True
    who = person("Una", "User")
    assert not authenticators.requires_second_factor(who)
    response = sign_in(client, who.uid)
    assert response.status_code == 302 and response.url == "/"


def test_security_page_and_new_recovery_codes(client, sponsor, clock):
    sign_in(client, sponsor.uid)
    page = client.get("/account/security").content.decode()
    assert "Not set up" in page and "must sign in with a second factor" in page
    assert client.post("/account/security").status_code == 409  # no app yet
    client.post("/sign-out")
    secret, old = enrol(client, sponsor, clock)
    clock.advance(dt.timedelta(seconds=30))  # the enrolment used this step's code
    sign_in(client, sponsor.uid)
    assert client.post("/account/verify", {"code": code_now(secret, clock)}).url == "/"
    fresh = client.post("/account/security").content.decode()
    assert len(re.findall(r"<code>([0-9a-f]{6}-[0-9a-f]{6})</code>", fresh)) == 10
    assert not authenticators.verify_second_factor(sponsor, old[1])  # the old ones are gone
    assert Entry.objects.filter(action="authenticator.recovery_codes_renewed").exists()


def test_pages_need_sign_in(client, db):
    assert client.get("/account/security").url.startswith("/sign-in")
    assert client.get("/account/security/authenticator-app").url.startswith("/sign-in")
    assert client.get("/account/verify").url == "/sign-in"

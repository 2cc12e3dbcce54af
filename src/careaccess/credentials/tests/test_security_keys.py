"""Security-key refusals without a browser: forged or replayed answers, no pending sign-in."""

import json

import pytest

from careaccess.core.audit.models import Entry
from careaccess.credentials import securitykeys
from careaccess.credentials.models import SecurityKey
from careaccess.web.tests.conftest import organisation, person, place, sign_in, staff_catalogue

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]


@pytest.fixture
def sponsor(db, clock):
    staff_catalogue()
    who = person("Sam", "Sponsor")
    place(who, organisation("A81001", name="Riverside Surgery"), "Practice manager", "sponsor")
    return who


def test_registration_options_name_the_person_and_keep_the_challenge(client, sponsor):
    sign_in(client, sponsor.uid)
    options = client.post("/account/security/security-key/options").json()
    assert options["rp"]["id"] == "testserver" and options["user"]["name"] == sponsor.uid
    assert client.session["careaccess.webauthn_registration_challenge"] == options["challenge"]


def test_a_forged_registration_is_refused_and_recorded(client, sponsor):
    sign_in(client, sponsor.uid)
    client.post("/account/security/security-key/options")
    response = client.post("/account/security/security-key", json.dumps({"credential": {"id": "x", "rawId": "x"}}),
                           content_type="application/json")
    assert response.status_code == 422 and "could not be registered" in response.json()["error"]
    assert not SecurityKey.objects.exists()
    assert Entry.objects.filter(action="authenticator.security_key_refused", person_uid=sponsor.uid).exists()
    # The challenge is used once: answering again needs new options.
    again = client.post("/account/security/security-key", "{}", content_type="application/json")
    assert again.status_code == 409


def test_an_unknown_key_at_sign_in_is_refused(sponsor):
    assert not securitykeys.verify_security_key(sponsor, credential=json.dumps({"rawId": "AAAA"}), challenge="AAAA",
                                                rp_id="localhost", origin="http://localhost")
    assert Entry.objects.filter(action="signin.second_factor_failed", reason__startswith="unknown security key").exists()


def test_key_pages_need_a_pending_sign_in_or_a_signed_in_person(client, db):
    assert client.post("/account/verify/security-key/options").status_code == 409
    assert client.post("/account/verify/security-key", "{}", content_type="application/json").status_code == 409
    assert client.get("/account/security/security-key").url.startswith("/sign-in")

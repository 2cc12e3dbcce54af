"""Self-service pages (rules DS2, PP4): own contact details, certificate expiry, change password,
read the terms, report a suspected breach."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from careaccess.core.audit.models import Entry
from careaccess.core.context import Actor
from careaccess.core.outbox.models import Message
from careaccess.credentials import selfservice, testing
from careaccess.credentials.models import BreachReport
from careaccess.directory.models import Person
from careaccess.identity import services as identity_services
from careaccess.web.tests.conftest import PASSWORD, person, sign_in

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a much longer new passphrase 42"


@pytest.fixture(autouse=True)
def _quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]
    settings.CAREACCESS_RA_EMAIL = "ra-team@careaccess.test"


@pytest.fixture
def una(db, clock):
    return person("Una", "User", phone="01632 960001")


def test_account_page_shows_contact_details_and_no_card(client, una):
    sign_in(client, una.uid)
    page = client.get("/account/").content.decode()
    assert una.email in page and "You do not have a smartcard in use." in page
    assert "Change your password" in page and "Report a suspected breach" in page


def test_account_page_shows_the_certificate_expiry(client, clock, pki_dir):
    holder = testing.verified_person(given_name="Holly", family_name="Holder")
    user = get_user_model().objects.create_user(username=holder.uid, password=PASSWORD)
    Person.objects.filter(pk=holder.pk).update(user=user)
    card = testing.card_for(holder)
    clock.advance(dt.timedelta(days=100))
    sign_in(client, holder.uid)
    page = client.get("/account/").content.decode()
    expires = card.certificate.not_after
    assert card.serial in page
    assert f"(in {(expires - clock.now()).days} days)" in page  # rule DS2, DS13: two years from issue


def test_own_contact_details_change_is_audited(client, una):
    sign_in(client, una.uid)
    response = client.post("/account/contact-details", {"email": "una.user@example.nhs.uk", "phone": "01632 960002"})
    assert response.status_code == 302 and response.url == "/account/?updated=contact"
    una.refresh_from_db()
    assert una.email == "una.user@example.nhs.uk"
    entry = Entry.objects.get(action="person.contact_details_updated", person_uid=una.uid)
    assert entry.actor_uid == una.uid
    assert "updated" in client.get(response.url).content.decode()


def test_bad_email_is_refused_and_nothing_changes(client, una):
    before = una.email
    sign_in(client, una.uid)
    response = client.post("/account/contact-details", {"email": "not an email", "phone": ""})
    assert response.status_code == 200 and "There is a problem" in response.content.decode()
    una.refresh_from_db()
    assert una.email == before
    assert not Entry.objects.filter(action="person.contact_details_updated").exists()


def test_a_generic_address_is_refused_and_nothing_changes(client, una):
    # rule PP2: the address of a named individual, never a shared one
    before = una.email
    sign_in(client, una.uid)
    response = client.post("/account/contact-details", {"email": "reception@example.nhs.uk", "phone": ""})
    page = response.content.decode()
    assert response.status_code == 200 and "There is a problem" in page and "generic or shared" in page
    una.refresh_from_db()
    assert una.email == before
    assert not Entry.objects.filter(action="person.contact_details_updated").exists()


def test_only_contact_fields_and_only_oneself(una):
    actor = Actor(kind="person", label="Una", person_id=una.pk, person_uid=una.uid)
    with pytest.raises(Exception):
        selfservice.update_own_contact_details(actor, family_name="Changed")  # rule SC7: names stay with the RA
    with pytest.raises(Exception):
        selfservice.update_own_contact_details(Actor.system("x"), email="x@example.nhs.uk")


def test_change_password(client, una):
    sign_in(client, una.uid)
    wrong = client.post("/account/password", {"current_password": "nope", "new_password": NEW_PASSWORD,
                                              "confirm_password": NEW_PASSWORD})
    assert "Your current password is not right." in wrong.content.decode()
    weak = client.post("/account/password", {"current_password": PASSWORD, "new_password": "123",
                                             "confirm_password": "123"})
    assert weak.status_code == 200 and "too short" in weak.content.decode()  # Django's validators
    ok = client.post("/account/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                           "confirm_password": NEW_PASSWORD})
    assert ok.status_code == 302
    assert client.get("/account/").status_code == 200  # still signed in
    una.user.refresh_from_db()
    assert una.user.check_password(NEW_PASSWORD)
    assert Entry.objects.filter(action="person.password_changed", person_uid=una.uid).count() == 1


def test_suspected_breach_changes_the_password_records_and_tells_the_ra(client, una):
    sign_in(client, una.uid)
    empty = client.post("/account/report-a-breach", {"description": "", "new_password": NEW_PASSWORD,
                                                     "confirm_password": NEW_PASSWORD})
    assert "Say what happened" in empty.content.decode()
    response = client.post("/account/report-a-breach", {"description": "I typed it into a phishing page",
                                                        "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    assert response.status_code == 302 and response.url == "/account/?updated=breach"
    una.user.refresh_from_db()
    assert una.user.check_password(NEW_PASSWORD)  # rule PP4: at once
    report = BreachReport.objects.get(person=una)
    assert report.description == "I typed it into a phishing page"
    message = Message.objects.get(kind="breach_report")
    assert message.to == ["ra-team@careaccess.test"] and una.uid in message.subject
    assert Entry.objects.filter(action="breach.reported", person_uid=una.uid).exists()


def test_terms_page(client, una):
    sign_in(client, una.uid)
    assert "No terms have been published yet." in client.get("/account/terms").content.decode()
    identity_services.publish_terms(Actor.system("test"), kind="user", version="3", title="Terms of use",
                                    text="Keep your card safe.")
    page = client.get("/account/terms").content.decode()
    assert "Keep your card safe." in page and "version 3" in page


def test_self_service_pages_need_sign_in(client, db):
    for path in ("/account/", "/account/contact-details", "/account/password", "/account/report-a-breach",
                 "/account/terms"):
        assert client.get(path).url.startswith("/sign-in"), path

"""The RA removes a person's lost authenticator app or security key: who may (RA staff covering the
person, never the person themselves), what must be true (the person present, a photo ID checked
now, a reason), what is written (the removal, its audit entry and the email, together), and what
the person meets at their next sign-in (a new enrolment). Pages, API and CLI."""

import io
import json
import re

import pyotp
import pytest
from django.core.management import CommandError, call_command

from careaccess.api.testing import client_for
from careaccess.core import permissions
from careaccess.core.audit.models import Entry
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden, InvalidInput, NotFound
from careaccess.core.outbox.models import Message
from careaccess.credentials import authenticators, removal
from careaccess.credentials.models import RecoveryCode, SecurityKey, TotpDevice
from careaccess.web.tests.conftest import organisation, person, place, sign_in, squash, staff_catalogue

pytestmark = pytest.mark.django_db

PRESENT = {"reason": "phone lost on the bus", "in_person": True, "id_document": "passport"}


@pytest.fixture(autouse=True)
def _quick_hashes(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]


class Office:
    pass


@pytest.fixture
def office(db, clock):
    """An ICB's RA overseeing a practice whose sponsor has an authenticator app and a security key;
    an RA agent of another ICB; a second sponsor at the practice."""
    staff_catalogue()
    o = Office()
    icb = organisation("QWO", name="Wessex ICB", kind="icb", oversees_descendants=True)
    practice = organisation("B86001", name="Riverside Surgery", parent="QWO")
    elsewhere = organisation("QXX", name="Northern ICB", kind="icb", oversees_descendants=True)
    o.agent, o.manager, o.far_agent = person("Rita", "Agent"), person("Manny", "Manager"), person("Fay", "Faraway")
    place(o.agent, icb, "RA agent", "ra_agent")
    place(o.manager, icb, "RA manager", "ra_manager")
    place(o.far_agent, elsewhere, "RA agent", "ra_agent")
    o.holder, o.colleague = person("Sam", "Sponsor"), person("Cara", "Colleague")
    place(o.holder, practice, "Practice manager", "sponsor")
    place(o.colleague, practice, "Partner", "sponsor")
    o.app, o.codes = enrol_app(o.holder, clock)
    o.key = SecurityKey.objects.create(person=o.holder, credential_id="blue-key-credential", public_key=b"cose",
                                       name="Blue key", created_at=clock.now())
    return o


def enrol_app(who, clock):
    actor = permissions.actor_for_person(who)
    device = authenticators.start_totp_enrolment(actor)
    secret = pyotp.parse_uri(authenticators.provisioning_uri(device)).secret
    codes = authenticators.confirm_totp_enrolment(actor, pyotp.TOTP(secret).at(clock.now()))
    return TotpDevice.objects.get(pk=device.pk), codes


def as_actor(who) -> Actor:
    return permissions.actor_for_person(who)


def app_id(o) -> str:
    return f"app-{o.app.pk}"


def test_an_ra_agent_covering_the_person_removes_the_app_with_audit_and_email(office, clock):
    o = office
    removed = removal.remove_authenticator(as_actor(o.agent), o.holder, app_id(o), **PRESENT)
    assert removed.kind == "Authenticator app"
    o.app.refresh_from_db()
    assert o.app.removed_at == clock.now()
    assert [a.id for a in removal.authenticators_of(o.holder)] == [f"key-{o.key.pk}"]
    # Its recovery codes went with it: they may have been kept on the lost phone.
    assert not RecoveryCode.objects.filter(person=o.holder, used_at__isnull=True).exists()
    assert not authenticators.verify_second_factor(o.holder, o.codes[0])

    entry = Entry.objects.get(action="authenticator.removed", person_uid=o.holder.uid)
    assert entry.actor_uid == o.agent.uid and entry.reason == "phone lost on the bus"
    assert "RA agent" in entry.actor_position
    after = json.loads(entry.after)
    assert after["in_person"] is True and after["id_document"] == "passport"  # rules DS3, DS5
    assert after["recovery_codes_voided"] == 10 and after["left"] == [f"key-{o.key.pk}"]
    assert after["notified"] == o.holder.email

    message = Message.objects.get(kind="authenticator_removed")
    assert message.to == [o.holder.email]
    assert "Your authenticator app was removed" in message.subject
    assert "Rita Agent" in message.body and "phone lost on the bus" in message.body
    assert "ra-team@careaccess.localhost" in message.body  # if it was not them


def test_an_ra_manager_removes_one_security_key_and_the_app_stays(office):
    o = office
    removal.remove_authenticator(as_actor(o.manager), o.holder, f"key-{o.key.pk}", **PRESENT)
    o.key.refresh_from_db()
    assert o.key.removed_at is not None
    assert authenticators.confirmed_device(o.holder) is not None
    assert RecoveryCode.objects.filter(person=o.holder, used_at__isnull=True).count() == 10
    assert Entry.objects.get(action="authenticator.removed").target_type == "credentials.securitykey"


@pytest.mark.parametrize("who", ["holder", "colleague", "far_agent"])
def test_refused_for_the_person_themselves_a_sponsor_and_an_ra_agent_elsewhere(office, who):
    # rule DS5: only RA staff check identity, and never their own; an RA acts for the organisations it covers
    o = office
    with pytest.raises(Forbidden) as refused:
        removal.remove_authenticator(as_actor(getattr(o, who)), o.holder, app_id(o), **PRESENT)
    if who == "holder":
        assert "nobody may remove their own authenticator" in refused.value.message
    else:
        assert "only RA staff of the holder's organisation may" in refused.value.message
    assert removal.authenticators_of(o.holder)[0].id == app_id(o)
    assert not Entry.objects.filter(action="authenticator.removed").exists()
    assert not Message.objects.filter(kind="authenticator_removed").exists()


def test_an_ra_agent_may_not_remove_their_own_even_covering_themselves(office, clock):
    o = office
    app, _ = enrol_app(o.agent, clock)
    with pytest.raises(Forbidden, match="their own"):
        removal.remove_authenticator(as_actor(o.agent), o.agent, f"app-{app.pk}", **PRESENT)


def test_the_ra_agent_of_the_persons_organisation_may_and_the_system_may():
    assert "authenticator.remove" in permissions.ACTIONS
    assert set(permissions.ACTIONS["authenticator.remove"]) == {"ra_agent", "ra_manager"}
    assert permissions.can(Actor.system("cli"), "authenticator.remove")
    assert not permissions.can(Actor(kind="service", label="service x", service_id=1), "authenticator.remove")


@pytest.mark.parametrize("change, field, words", [
    ({"in_person": False}, "in_person", "never removed remotely"),  # rule DS3
    ({"id_document": "birth_certificate"}, "id_document", "photo ID"),  # rule DS5
    ({"id_document": ""}, "id_document", "photo ID"),
    ({"reason": "  "}, "reason", "enter why"),
    ({"reason": "x" * 301}, "reason", "300 characters"),
])
def test_bad_input_is_refused_by_field_and_nothing_changes(office, change, field, words):
    o = office
    with pytest.raises(InvalidInput) as refused:
        removal.remove_authenticator(as_actor(o.agent), o.holder, app_id(o), **{**PRESENT, **change})
    assert words in refused.value.errors[field]
    assert len(removal.authenticators_of(o.holder)) == 2
    assert not Entry.objects.filter(action="authenticator.removed").exists()


def test_an_unknown_or_already_removed_authenticator_is_not_found(office):
    o = office
    with pytest.raises(NotFound, match="theirs: app-"):
        removal.remove_authenticator(as_actor(o.agent), o.holder, "key-999999", **PRESENT)
    removal.remove_authenticator(as_actor(o.agent), o.holder, app_id(o), **PRESENT)
    with pytest.raises(NotFound):
        removal.remove_authenticator(as_actor(o.agent), o.holder, app_id(o), **PRESENT)
    with pytest.raises(NotFound):
        removal.remove_authenticator(as_actor(o.agent), o.holder, "phone", **PRESENT)


def test_with_nothing_left_the_person_sets_up_a_new_one_at_next_sign_in(office, client, settings):
    settings.CAREACCESS_REQUIRE_SECOND_FACTOR = True
    o = office
    assert sign_in(client, o.holder.uid).url == "/account/verify"  # before: the second step
    client.post("/sign-out")
    for a in removal.authenticators_of(o.holder):
        removal.remove_authenticator(as_actor(o.agent), o.holder, a.id, **PRESENT)
    assert not authenticators.has_second_factor(o.holder)
    response = sign_in(client, o.holder.uid)
    assert response.status_code == 302 and response.url.startswith("/account/security/authenticator-app")
    assert client.get("/").url.startswith("/account/security/authenticator-app")  # every page until enrolled


# --- pages ---

def test_pages_find_the_person_list_and_remove_with_an_error_summary(office, client):
    o = office
    sign_in(client, o.agent.uid)
    assert "User ID" in client.get("/account/people").content.decode()
    missing = client.get("/account/people", {"uid": "999999999999"})
    assert missing.status_code == 422 and "No person you can manage has the user ID 999999999999" in missing.content.decode()
    found = client.get("/account/people", {"uid": o.holder.uid})
    assert found.url == f"/account/people/{o.holder.uid}/authenticators"
    page = squash(client.get(found.url))
    assert "Sign-in security of Sam Sponsor" in page and "Blue key" in page
    remove_url = f"/account/people/{o.holder.uid}/authenticators/{app_id(o)}/remove"
    assert f'href="{remove_url}"' in page

    refused = client.post(remove_url, {"reason": ""})
    html = squash(refused)
    assert refused.status_code == 422 and "<title>Error: " in html and "There is a problem" in html
    for field in ("id_document", "in_person", "reason"):
        assert f'href="#{field}"' in html and f'id="{field}"' in html
    assert authenticators.confirmed_device(o.holder) is not None

    done = client.post(remove_url, {"reason": "phone lost", "in_person": "yes", "id_document": "passport"})
    assert done.status_code == 302 and done.url.startswith(f"/account/people/{o.holder.uid}/authenticators?removed=")
    after = squash(client.get(done.url))
    assert "Authenticator app was removed" in after and "Remove" in after
    assert authenticators.confirmed_device(o.holder) is None


def page_text(response) -> str:
    """The page, without its per-response CSRF token."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", squash(response))


def test_pages_refuse_sponsors_the_person_themselves_and_ra_staff_elsewhere(office, client):
    o = office
    url = f"/account/people/{o.holder.uid}/authenticators"
    sign_in(client, o.colleague.uid)
    assert client.get(url).status_code == 403  # a sponsor: not RA staff
    client.post("/sign-out")
    sign_in(client, o.far_agent.uid)
    # RA staff elsewhere are told what a user ID nobody has would tell them: not found, never
    # "forbidden", which would say the person exists
    hidden, nobody = client.get(url), client.get("/account/people/999999999999/authenticators")
    assert hidden.status_code == nobody.status_code == 404
    assert page_text(hidden).replace(o.holder.uid, "999999999999") == page_text(nobody)
    assert f"No person you can manage has the user ID {o.holder.uid}" in page_text(hidden)
    removing = client.post(f"{url}/{app_id(o)}/remove", {**PRESENT, "in_person": "yes"})
    assert removing.status_code == 404 and page_text(removing) == page_text(hidden)
    # and the find page answers both alike too (it went on to the page only for a person who exists)
    found_hidden, found_nobody = client.get("/account/people", {"uid": o.holder.uid}), \
        client.get("/account/people", {"uid": "999999999999"})
    assert found_hidden.status_code == found_nobody.status_code == 422
    assert page_text(found_hidden).replace(o.holder.uid, "999999999999") == page_text(found_nobody)
    client.post("/sign-out")
    sign_in(client, o.agent.uid)
    own = client.get(f"/account/people/{o.agent.uid}/authenticators")
    assert own.status_code == 403 and "their own authenticator" in own.content.decode()
    assert client.get("/account/people", {"uid": o.agent.uid}).url == f"/account/people/{o.agent.uid}/authenticators"
    assert len(removal.authenticators_of(o.holder)) == 2


# --- API and CLI ---

def test_api_lists_and_removes(office, settings):
    settings.ROOT_URLCONF = "careaccess.credentials.tests.urls_for_tests"
    o = office
    agent = client_for(actor=as_actor(o.agent))
    listed = agent.get(f"/identity/people/{o.holder.uid}/authenticators")
    assert listed.status_code == 200 and [a["id"] for a in listed.json()] == [app_id(o), f"key-{o.key.pk}"]
    assert client_for(actor=as_actor(o.holder)).get(f"/identity/people/{o.holder.uid}/authenticators").status_code == 200
    assert client_for(actor=as_actor(o.colleague)).get(f"/identity/people/{o.holder.uid}/authenticators").status_code == 403

    url = f"/identity/people/{o.holder.uid}/authenticators/{app_id(o)}/removal"
    remote = agent.post(url, {**PRESENT, "in_person": False})
    assert remote.status_code == 422 and "remotely" in remote.json()["errors"]["in_person"]
    assert client_for(actor=as_actor(o.holder)).post(url, PRESENT).status_code == 403
    done = agent.post(url, PRESENT)
    assert done.status_code == 200 and done.json()["id"] == app_id(o)
    assert agent.post(url, PRESENT).status_code == 404


def test_cli_lists_and_removes(office):
    o = office

    def run(*args):
        out = io.StringIO()
        call_command("authenticators", *args, stdout=out, stderr=io.StringIO())
        return out.getvalue()

    assert app_id(o) in run("list", "--person", o.holder.uid)
    with pytest.raises(CommandError, match="never removed remotely"):
        run("remove", app_id(o), "--person", o.holder.uid, "--id-document", "passport", "--reason", "lost")
    done = run("remove", app_id(o), "--person", o.holder.uid, "--in-person", "--id-document", "passport",
               "--reason", "lost")
    assert "removed" in done
    assert Entry.objects.get(action="authenticator.removed").actor_uid in ("", None)

"""Finding a person (/people) and a person's page (/people/<uid>): who may see whom, what the page
shows, the links to the actions the viewer may take, and the audit entries reading leaves."""

import datetime as dt
import re

import pyotp
import pytest
from django.test import Client

from careaccess.access_requests import services as request_services
from careaccess.core import permissions
from careaccess.core.audit.models import Entry
from careaccess.credentials import authenticators
from careaccess.credentials.testing import card_for
from careaccess.credentials.tests.conftest import pki_dir  # noqa: F401  (a fresh CA for the card)
from careaccess.directory import services as directory_services
from careaccess.identity import services as identity_services
from careaccess.lifecycle import services as lifecycle_services
from careaccess.lifecycle.models import Reinstatement

from .conftest import SYSTEM, organisation, person, place, sign_in, squash

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _quick_password_hashes(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]


class World:
    pass


@pytest.fixture
def world(catalogue, clock):
    """An ICB overseeing two practices. Staff: a sponsor at each practice; an RA agent, an RA manager
    and an auditor at the ICB. People: Xena at Riverside, Yuri at Hillside, Zack who left Riverside,
    Lou a locum at both, and Una, registered but placed nowhere yet."""
    w = World()
    w.icb = organisation("QWO", name="West Yorkshire ICB", kind="icb", oversees_descendants=True)
    w.riverside = organisation("A81001", name="Riverside Surgery", parent="QWO")
    w.hillside = organisation("B82002", name="Hillside Surgery", parent="QWO")
    w.sponsor, w.other_sponsor = person("Sam", "Sponsor"), person("Olive", "Othersponsor")
    place(w.sponsor, w.riverside, "Practice manager", "sponsor")
    place(w.other_sponsor, w.hillside, "Practice manager", "sponsor")
    w.agent, w.manager, w.auditor = person("Rita", "Agent"), person("Manny", "Manager"), person("Audrey", "Auditor")
    place(w.agent, w.icb, "RA agent", "ra_agent")
    place(w.manager, w.icb, "RA manager", "ra_manager")
    place(w.auditor, w.icb, "Auditor", "auditor")
    w.xena = person("Xena", "Taylor", email="Xena.Taylor@Example.nhs.uk")
    place(w.xena, w.riverside, "Receptionist")
    w.yuri = person("Yuri", "Taylor")
    place(w.yuri, w.hillside, "Receptionist")
    w.zack = person("Zack", "Taylor")
    clerk = directory_services.create_position(SYSTEM, w.riverside, name="Clerk")
    directory_services.create_assignment(SYSTEM, w.zack, clerk, starts_on=dt.date(2025, 1, 6),
                                         ends_on=dt.date(2026, 3, 31))
    w.lou = person("Lou", "Locum")
    place(w.lou, w.riverside, "Locum GP")
    place(w.lou, w.hillside, "Locum GP")
    w.una = person("Una", "Placed")
    return w


def signed_in(who) -> Client:
    """A browser of its own for each member of staff (no sign-out between them)."""
    client = Client()
    sign_in(client, who.uid)
    return client


def page_of(client, url, **query):
    response = client.get(url, query)
    return response, squash(response)


def without_csrf_token(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", squash(response))


def names_listed(html: str) -> list[str]:
    return re.findall(r'<a href="/people/\d{12}">([^<]+)</a>', html)


# --- who may find and see whom ---

def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    for url in ("/people", f"/people/{world.xena.uid}"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/sign-in?next=")


def test_people_without_a_staff_position_are_refused(client, world):
    sign_in(client, world.xena.uid)
    assert client.get("/people").status_code == 403
    assert client.get(f"/people/{world.yuri.uid}").status_code == 403


def test_a_sponsor_finds_only_the_people_of_their_own_practice(client, world):
    # rule SC8: people are reached through the positions they hold, in the viewer's organisations
    sign_in(client, world.sponsor.uid)
    response, html = page_of(client, "/people", q="taylor")
    assert response.status_code == 200
    assert names_listed(html) == ["Xena Taylor", "Zack Taylor"]
    assert "Receptionist, Riverside Surgery (A81001)" in html
    assert "No live position" in html  # Zack left

    sign_in(client, world.other_sponsor.uid)
    assert names_listed(page_of(client, "/people", q="Taylor")[1]) == ["Yuri Taylor"]


def test_someone_outside_the_scope_is_not_found_exactly_like_nobody(client, world):
    # rule SC8: no position of theirs in the sponsor's organisation; the answer does not tell
    # whether such a person exists
    sign_in(client, world.sponsor.uid)
    outside = client.get(f"/people/{world.yuri.uid}")
    nobody = client.get("/people/999999999999")
    malformed = client.get("/people/not-a-uid")
    assert outside.status_code == nobody.status_code == malformed.status_code == 404
    assert without_csrf_token(outside) == without_csrf_token(nobody)
    assert names_listed(page_of(client, "/people", q=world.yuri.uid)[1]) == []
    assert names_listed(page_of(client, "/people", q=world.yuri.email)[1]) == []


def test_a_leaver_stays_findable_by_the_practice_they_left(client, world):
    # rule SC10: the record stays theirs; the practice loses only its position
    sign_in(client, world.sponsor.uid)
    response, html = page_of(client, f"/people/{world.zack.uid}")
    assert response.status_code == 200
    assert "Clerk" in html and "06 January 2025" in html and "31 March 2026" in html
    assert re.search(r'nhsuk-tag--grey"?>\s*Ended', html)


def test_a_locum_is_seen_by_each_site_that_holds_their_position(client, world):
    # rule DS15: each site adds its position for the locum; each sees the locum
    for sponsor in (world.sponsor, world.other_sponsor):
        response, html = page_of(signed_in(sponsor), f"/people/{world.lou.uid}")
        assert response.status_code == 200
        assert "Riverside Surgery (A81001)" in html and "Hillside Surgery (B82002)" in html


def test_the_overseeing_ra_sees_every_practice_and_people_placed_nowhere(client, world):
    sign_in(client, world.agent.uid)
    assert names_listed(page_of(client, "/people", q="Taylor")[1]) == ["Xena Taylor", "Yuri Taylor", "Zack Taylor"]
    response, html = page_of(client, f"/people/{world.una.uid}")
    assert response.status_code == 200 and "has never held a position" in html
    assert signed_in(world.sponsor).get(f"/people/{world.una.uid}").status_code == 404


def test_an_ra_outside_the_tree_does_not_cover_people_placed_nowhere(client, world):
    far = organisation("QXX", name="Northern ICB", kind="icb", oversees_descendants=True)
    far_agent = person("Fay", "Faraway")
    place(far_agent, far, "RA agent", "ra_agent")
    sign_in(client, far_agent.uid)
    assert client.get(f"/people/{world.una.uid}").status_code == 404
    assert client.get(f"/people/{world.xena.uid}").status_code == 404
    assert names_listed(page_of(client, "/people", q="Placed")[1]) == []


# --- the search ---

@pytest.mark.parametrize("typed, expected", [
    ("Taylor", ["Xena Taylor", "Zack Taylor"]),
    ("tay", ["Xena Taylor", "Zack Taylor"]),
    ("  x   TAY ", ["Xena Taylor"]),
    ("xena.taylor@example.NHS.uk", ["Xena Taylor"]),
    ("Locum", ["Lou Locum"]),
    ("Xena", []),  # a given name alone is read as a family name
])
def test_search_by_name_or_email_address(client, world, typed, expected):
    sign_in(client, world.sponsor.uid)
    assert names_listed(page_of(client, "/people", q=typed)[1]) == expected


def test_search_by_user_id(client, world):
    sign_in(client, world.sponsor.uid)
    html = page_of(client, "/people", q=world.xena.uid)[1]
    assert names_listed(html) == ["Xena Taylor"]
    assert f"matching the user ID “{world.xena.uid}”" in html


@pytest.mark.parametrize("typed, message", [
    ("", "Enter a user ID, a name or an email address"),
    ("12345", "A user ID has 12 digits, like 123456789012"),
    ("someone@", "Enter the whole email address, like firstname.lastname@nhs.net"),
    ("Tay%lor", "A name has letters, spaces, hyphens and apostrophes only"),
    ("x" * 201, "Enter 200 characters or fewer"),
])
def test_a_search_that_cannot_be_made_shows_the_error_summary(client, world, typed, message):
    sign_in(client, world.sponsor.uid)
    response, html = page_of(client, "/people", q=typed)
    assert response.status_code == 200
    assert "<title>Error: Find a person – careaccess</title>" in html
    assert re.search(rf'<a href="#q">\s*{re.escape(message)}\s*</a>', html)
    assert html.count(message) == 2  # the summary and the field
    assert not Entry.objects.filter(action="person.searched").exists()


def test_no_match_says_so(client, world):
    sign_in(client, world.sponsor.uid)
    html = page_of(client, "/people", q="O'Brien-Smith")[1]
    assert 'id="no-results"' in html and "matches that name" in html


def test_the_first_visit_shows_the_form_only(client, world):
    sign_in(client, world.sponsor.uid)
    response, html = page_of(client, "/people")
    assert response.status_code == 200 and "<title>Find a person – careaccess</title>" in html
    assert "results-count" not in html and "no-results" not in html


def test_results_come_a_page_at_a_time_in_name_order(client, world, settings):
    settings.CAREACCESS_PAGE_SIZE = 2
    for given in ("Bea", "Ann", "Cy"):
        place(person(given, "Tailor"), world.riverside, f"Nurse {given}")
    sign_in(client, world.sponsor.uid)
    first = page_of(client, "/people", q="Tai")[1]
    assert names_listed(first) == ["Ann Tailor", "Bea Tailor"]
    assert "Showing people 1 to 2" in first
    assert 'href="/people?q=Tai&amp;page=2"' in first and "page=0" not in first
    second = page_of(client, "/people", q="Tai", page="2")[1]
    assert names_listed(second) == ["Cy Tailor"]
    assert 'href="/people?q=Tai&amp;page=1"' in second and "page=3" not in second
    assert names_listed(page_of(client, "/people", q="Tai", page="nonsense")[1]) == ["Ann Tailor", "Bea Tailor"]


# --- reading is recorded (rules PP9, PP15) ---

def test_each_search_is_an_audit_entry_naming_the_people_shown(client, world):
    # rule PP9, PP15: reading people's records is accountable
    sign_in(client, world.sponsor.uid)
    client.get("/people", {"q": "Taylor"})
    entry = Entry.objects.get(action="person.searched")
    assert entry.actor_uid == world.sponsor.uid
    assert entry.actor_position == "Practice manager, Riverside Surgery (A81001)"
    assert '"by":"name"' in entry.after.replace(" ", "")
    assert world.xena.uid in entry.after and world.zack.uid in entry.after and world.yuri.uid not in entry.after


def test_each_page_read_is_an_audit_entry_about_the_person_and_refusals_leave_none(client, world):
    # rule PP9, PP15
    sign_in(client, world.sponsor.uid)
    client.get(f"/people/{world.xena.uid}")
    entry = Entry.objects.get(action="person.viewed")
    assert (entry.person_uid, entry.organisation_code, entry.actor_uid) == (world.xena.uid, "A81001", world.sponsor.uid)
    client.get(f"/people/{world.yuri.uid}")
    client.get("/people/999999999999")
    assert Entry.objects.filter(action="person.viewed").count() == 1


# --- what the page shows ---

def test_the_page_shows_identity_positions_accounts_cards_authenticators_and_requests(
        client, world, clock, pki_dir):  # noqa: F811
    xena = world.xena
    identity_services.verify_identity(
        permissions.actor_for_person(world.agent), xena, document_type="passport", issuing_country="GB",
        document_number="123456789", document_expires_on=dt.date(2029, 1, 1), address_proof_kind="water bill",
        address_proof_issuer="Wessex Water", address_proof_issued_on=dt.date(2026, 5, 20))
    card = card_for(xena)
    actor = permissions.actor_for_person(xena)
    device = authenticators.start_totp_enrolment(actor)
    secret = pyotp.parse_uri(authenticators.provisioning_uri(device)).secret
    authenticators.confirm_totp_enrolment(actor, pyotp.TOTP(secret).at(clock.now()))
    service = directory_services.create_service(SYSTEM, code="care-record", name="Care record",
                                                allowed_purposes=["direct care"])
    directory_services.create_account(SYSTEM, xena, service, username="xtaylor", state="active")
    sponsor = permissions.actor_for_person(world.sponsor)
    req = request_services.raise_request(sponsor, kind="change_of_name", organisation=world.riverside,
                                         details={"person": xena.uid, "given_name": "Xena", "family_name": "Tailor"})

    sign_in(client, world.sponsor.uid)
    response, html = page_of(client, f"/people/{xena.uid}")
    assert response.status_code == 200
    assert "<title>Xena Taylor – careaccess</title>" in html
    assert "Level " in html and "by Rita Agent" in html
    assert "Receptionist" in html and "Riverside Surgery (A81001)" in html
    assert "Care record" in html and "xtaylor" in html and "Active" in html and "Never" in html
    assert card.serial in html and "Expires" in html
    assert "Authenticator app" in html and "set up" in html
    assert f'href="/requests/{req.reference}"' in html and req.title in html
    for secret_part in (card.pin_hash, secret, xena.ni_number):
        assert secret_part not in html


def test_requests_at_organisations_the_viewer_does_not_cover_are_not_listed(client, world):
    lou = world.lou
    request_services.raise_request(permissions.actor_for_person(world.other_sponsor), kind="change_of_name",
                                   organisation=world.hillside,
                                   details={"person": lou.uid, "given_name": "Lou", "family_name": "Locke"})
    sign_in(client, world.sponsor.uid)
    assert 'id="no-requests"' in page_of(client, f"/people/{lou.uid}")[1]
    assert "Lou Locke" in page_of(signed_in(world.other_sponsor), f"/people/{lou.uid}")[1]


def test_nothing_yet_reads_as_nothing(client, world):
    sign_in(client, world.sponsor.uid)
    html = page_of(client, f"/people/{world.xena.uid}")[1]
    for empty in ("no-accounts", "no-cards", "no-authenticators", "no-requests"):
        assert f'id="{empty}"' in html
    assert "Not checked yet" in html


# --- links to the actions the viewer may take ---

AUTHENTICATORS = "Remove a lost authenticator app or security key"
RAISE = "Raise a request about them"
AUDIT = "See the audit entries about them"


def links_on(who, person_uid) -> str:
    return page_of(signed_in(who), f"/people/{person_uid}")[1]


def test_each_link_shows_only_when_the_viewer_may_take_the_action(client, world):
    uid = world.xena.uid
    sponsor = links_on(world.sponsor, uid)
    assert RAISE in sponsor and AUTHENTICATORS not in sponsor and AUDIT not in sponsor
    # the request's first step, with their user id and the one organisation where the sponsor may raise it
    assert f'href="/requests/new?person={uid}&amp;organisation={world.riverside.code}"' in sponsor
    agent = links_on(world.agent, uid)
    assert f'href="/account/people/{uid}/authenticators"' in agent and RAISE in agent and AUDIT not in agent
    auditor = links_on(world.auditor, uid)
    assert f'href="/audit/?person={uid}"' in auditor
    assert AUTHENTICATORS not in auditor and RAISE not in auditor
    manager = links_on(world.manager, uid)
    assert AUTHENTICATORS in manager and RAISE in manager and AUDIT in manager


def test_nobody_is_offered_to_remove_their_own_authenticator(client, world):
    # rule DS5: another member of RA staff must
    assert AUTHENTICATORS not in links_on(world.agent, world.agent.uid)


def test_the_closure_of_their_organisation_is_linked_for_the_ra_manager(client, world):
    manager = permissions.actor_for_person(world.manager)
    closure = lifecycle_services.record_closure(manager, world.riverside, sudden=False, on=dt.date(2026, 9, 30),
                                                confirmation="Letter from the registered manager, 1 June 2026")
    text = "The closure of Riverside Surgery (A81001) on 30 September 2026"
    assert f'href="/lifecycle/closures/{closure.pk}">{text}' in links_on(world.manager, world.xena.uid)
    assert text not in links_on(world.manager, world.yuri.uid)
    assert text not in links_on(world.sponsor, world.xena.uid)


def test_home_pages_link_to_finding_people(client, world):
    for who in (world.sponsor, world.agent, world.auditor):
        assert '<a href="/people">Look up people</a>' in squash(signed_in(who).get("/"))


def test_the_search_and_page_answer_get_only(client, world):
    sign_in(client, world.sponsor.uid)
    assert client.post("/people", {"q": "Taylor"}).status_code == 405
    assert client.post(f"/people/{world.xena.uid}").status_code == 405


def test_a_confirmed_reinstatement_request_is_linked_for_those_who_check_it(world, clock):
    # rule PP13: staff check a suspended person's request to be reinstated
    service = directory_services.create_service(SYSTEM, code="portal", name="Provider portal",
                                                allowed_purposes=["direct care"])
    account = directory_services.create_account(SYSTEM, world.xena, service, username="xena", state="suspended")
    row = Reinstatement.objects.create(given_name="Xena", family_name="Taylor", email=world.xena.email,
                                       account=account, state=Reinstatement.State.CONFIRMED,
                                       created_at=clock.now(), confirmed_at=clock.now())
    link = f'href="/lifecycle/reinstatements/{row.pk}">Check their request to reinstate their Provider portal account'
    assert link in links_on(world.agent, world.xena.uid)
    assert link not in links_on(world.sponsor, world.xena.uid)
    assert "reinstate" not in links_on(world.agent, world.yuri.uid)

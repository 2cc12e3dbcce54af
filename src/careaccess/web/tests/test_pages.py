"""The acting position, the home page per capability, "Your access" and the staff decorators."""

import pytest
from django.conf import settings as django_settings
from django.test import RequestFactory

from careaccess.core import permissions
from careaccess.core.audit.models import Entry
from careaccess.directory import services
from careaccess.web import auth
from careaccess.web.menu import CAPABILITIES

from .conftest import SYSTEM, organisation, person, place, sign_in, squash

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_positions(catalogue):
    """Robin holds two staff positions: sponsor at a practice, RA agent at the ICB."""
    who = person("Robin", "Both")
    practice = organisation("B82002", name="Hillside Surgery")
    icb = organisation("QWO", name="West Yorkshire ICB", kind="icb", oversees_descendants=True)
    sponsor = place(who, practice, "Practice manager", "sponsor")
    agent = place(who, icb, "RA agent", "ra_agent")
    return who, sponsor, agent


def test_signed_out_visitors_are_sent_to_sign_in(client, db):
    for page in ("/", "/my-access", "/choose-position"):
        response = client.get(page)
        assert response.status_code == 302
        assert response.url.startswith("/sign-in?next=")


def test_several_positions_means_choosing_one(client, two_positions):
    who, sponsor, agent = two_positions
    response = sign_in(client, who.uid)
    assert response.url == "/choose-position"
    assert client.get("/").url == "/choose-position?next=%2F"

    page = squash(client.get("/choose-position"))
    assert "Choose the position you act in" in page
    assert "Practice manager, Hillside Surgery (B82002)" in page and "RA agent, West Yorkshire ICB (QWO)" in page
    assert "Position not chosen" in page

    empty = squash(client.post("/choose-position", {}))
    assert "<title>Error: Choose the position you act in – careaccess</title>" in empty
    assert 'class="nhsuk-error-summary"' in empty and '<a href="#assignment">' in empty
    assert empty.count("Select the position you act in") == 2

    response = client.post("/choose-position", {"assignment": agent.id, "next": "/my-access"})
    assert response.url == "/my-access"
    assert client.session[auth.SESSION_ASSIGNMENT] == agent.id
    home = squash(client.get("/"))
    assert "Acting as RA agent, West Yorkshire ICB (QWO)" in home
    assert 'href="/choose-position"' in home  # the way to change it
    assert ">RA agent</h2>" in home and ">Sponsor</h2>" not in home
    assert "West Yorkshire ICB (QWO) and the organisations under it" in home
    entry = Entry.objects.filter(action="signin.position_chosen", actor_uid=who.uid).get()
    assert entry.actor_position == "RA agent, West Yorkshire ICB (QWO)"

    client.post("/choose-position", {"assignment": sponsor.id})
    home = squash(client.get("/"))
    assert ">Sponsor</h2>" in home and ">RA agent</h2>" not in home


def test_someone_elses_position_cannot_be_chosen(client, two_positions, catalogue):
    who, sponsor, _ = two_positions
    other = person("Other", "Person")
    theirs = place(other, organisation("C83003"), "Manager", "ra_manager")
    sign_in(client, who.uid)
    page = squash(client.post("/choose-position", {"assignment": theirs.id}))
    assert "Select one of the positions listed" in page
    assert auth.SESSION_ASSIGNMENT not in client.session


def test_an_ended_position_is_dropped_from_the_session(client, two_positions):
    who, sponsor, agent = two_positions
    sign_in(client, who.uid)
    client.post("/choose-position", {"assignment": agent.id})
    services.update_assignment(SYSTEM, agent, state="ended")
    home = squash(client.get("/"))  # one position left: they act in it
    assert "Acting as Practice manager, Hillside Surgery (B82002)" in home
    assert client.session[auth.SESSION_ASSIGNMENT] == sponsor.id
    assert 'href="/choose-position"' not in home


@pytest.mark.parametrize("capability", list(CAPABILITIES))
def test_home_shows_a_section_per_capability(client, catalogue, capability):
    who = person("Casey", "Staff")
    place(who, organisation("D84004", name="Parkview Surgery"), f"{capability} post", capability)
    sign_in(client, who.uid)
    home = squash(client.get("/"))
    title = CAPABILITIES[capability][0]
    assert f'id="capability-{capability}">{title}</h2>' in home
    assert "For Parkview Surgery (D84004)" in home
    for other, (other_title, _) in CAPABILITIES.items():
        if other != capability:
            assert f'id="capability-{other}"' not in home
    # The actions listed are those permissions.ACTIONS gives the capability.
    if capability == "auditor":
        assert "Read the audit ledger" in home
    if capability == "ra_manager":
        assert "Issue API tokens to relying services" in home
    if capability == "sponsor":
        assert "Place people in positions open to sponsors" in home and "Register people" not in home
    assert 'href="/my-access"' in home


def test_no_staff_position_still_sees_their_access(client, catalogue):
    who = person("Nina", "Nurse")
    org = organisation("E85005", name="Lakeside Surgery")
    services.upsert_job_role(SYSTEM, code="S8000:G8000:R8000", name="Clinical practitioner")
    service = services.create_service(SYSTEM, code="connecting-care", name="Connecting Care",
                                      roles=[{"code": "care-professional", "name": "Care Professional"}])
    position = services.create_position(SYSTEM, org, name="Practice nurse", job_roles=["S8000:G8000:R8000"],
                                        activities=["B0825"], service_roles=["connecting-care:care-professional"])
    services.create_assignment(SYSTEM, who, position)
    sign_in(client, who.uid)

    home = squash(client.get("/"))
    assert "You do not hold a staff position in careaccess" in home
    assert "No staff position" in home
    assert "nhsuk-card__heading" in home and 'href="/my-access"' in home
    assert 'href="/choose-position"' not in home

    access = squash(client.get("/my-access"))
    assert "Practice nurse, Lakeside Surgery (E85005)" in access
    assert "S8000:G8000:R8000" in access
    assert "B0820, B0825" in access  # B0825 includes B0820
    assert "connecting-care:care-professional" in access
    assert who.uid in access

    assert client.get("/choose-position").status_code == 403


def test_no_position_at_all(client, catalogue):
    who = person("Pat", "Nobody")
    sign_in(client, who.uid)
    access = squash(client.get("/my-access"))
    assert "You do not hold any live position" in access


@pytest.fixture
def test_urls(settings):
    settings.ROOT_URLCONF = "careaccess.web.tests.urls_for_tests"


def test_staff_required(client, catalogue, test_urls):
    sponsor = person("Sam", "Sponsor")
    assignment = place(sponsor, organisation("F86006", name="Brookside Surgery"), "Manager", "sponsor")
    nurse = person("Nina", "Nurse")

    assert client.get("/test/staff").url == "/sign-in?next=%2Ftest%2Fstaff"

    sign_in(client, nurse.uid)
    response = client.get("/test/staff")
    assert response.status_code == 403
    assert "None of your live positions carries a staff right" in squash(response)
    client.post("/sign-out")

    sign_in(client, sponsor.uid)
    body = client.get("/test/staff").content.decode()
    assert body == f"staff page for {sponsor.uid} in assignment {assignment.id}: Manager, Brookside Surgery (F86006)"
    response = client.get("/test/ra")
    assert response.status_code == 403
    assert "This page needs a position with one of these rights: RA agent, RA manager." in squash(response)


def test_staff_required_asks_for_a_position_first(client, two_positions, test_urls):
    who, sponsor, agent = two_positions
    sign_in(client, who.uid)
    assert client.get("/test/ra").url == "/choose-position?next=%2Ftest%2Fra"
    client.post("/choose-position", {"assignment": sponsor.id})
    assert client.get("/test/ra").status_code == 403
    client.post("/choose-position", {"assignment": agent.id})
    assert client.get("/test/ra").content.decode() == f"RA page for {who.uid}"


def test_actor_for_request(client, two_positions):
    who, sponsor, agent = two_positions
    sign_in(client, who.uid)
    client.post("/choose-position", {"assignment": agent.id})
    request = RequestFactory().get("/")
    request.user = who.user
    request.session = client.session
    actor = auth.actor_for_request(request)
    assert actor.kind == "person" and actor.person_id == who.id and actor.person_uid == who.uid
    assert actor.assignment_id == agent.id
    assert actor.position_label == "RA agent, West Yorkshire ICB (QWO)"
    # The actor acts only in its position: sponsor rights held elsewhere do not count.
    assert permissions.can(actor, "person.create")
    assert not permissions.can(actor, "assignment.create_assignable", sponsor.position.organisation)

    from django.contrib.auth.models import AnonymousUser

    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    request.session = {}
    with pytest.raises(auth.NotSignedIn):
        auth.actor_for_request(request)


def test_login_url_is_sign_in():
    assert django_settings.LOGIN_URL == "/sign-in"


def test_error_pages_use_the_shell(client, sponsor):
    from django.template import loader

    page = squash(client.get("/no-such-page"))
    assert "Page not found" in page and "nhsuk-header" in page
    # The 500 page renders with no request and no database.
    html = squash(loader.get_template("500.html").render())
    assert "Sorry, there is a problem with the service" in html and "nhsuk-header" in html
    assert "Sign out" not in html
    # A form sent without its CSRF token gets the NHS page, not Django's.
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post("/sign-in", {"username": "x", "password": "y"})
    assert response.status_code == 403
    assert "Your form could not be sent" in squash(response)

"""Whose identity records staff read through the API: people their position may read (those who
hold or held a position where it covers, directory.person_search; rules SC8, SC10, DS15), and
their own; anyone else is 404 as a user id nobody has. Identity checks carry document numbers."""

import pytest

from careaccess.api.testing import client_for
from careaccess.credentials import testing
from careaccess.directory import testing as directory_testing

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = "careaccess.credentials.tests.urls_for_tests"


def status(client, path: str) -> int:
    return client.get(path).status_code


def test_identity_records_are_read_where_the_position_covers_the_person(world):
    nurse = testing.verified_person(world.practice, given_name="Nia", family_name="Nurse")
    paths = [f"/identity/people/{nurse.uid}/{what}" for what in ("checks", "assurance", "training")]
    here, elsewhere, agent = (client_for(actor=a) for a in (world.sponsor, world.other_sponsor, world.agent))
    for path in paths:
        assert status(here, path) == 200 and status(agent, path) == 200, path  # the practice; the ICB's RA
        hidden, nobody = elsewhere.get(path), elsewhere.get(path.replace(nurse.uid, "999999999999"))
        assert hidden.status_code == nobody.status_code == 404, path
        assert hidden.json()["detail"] == nobody.json()["detail"].replace("999999999999", nurse.uid)
    own = client_for(person=nurse)
    assert status(own, paths[1]) == 200 and status(own, paths[2]) == 200  # their own assurance and training
    assert status(own, paths[0]) == 403  # identity checks are for staff who read them


def test_ra_agent_appointments_are_listed_where_the_position_covers(world):
    recruit = directory_testing.person(given_name="Rob", family_name="Recruit")
    position = directory_testing.position(world.practice, "RA agent", capabilities=["ra_agent"])
    ok = client_for(actor=world.sponsor).post("/identity/ra-agent-appointments",
                                              {"person": recruit.uid, "position": position.id})
    assert ok.status_code == 201, ok.content
    listed = {a["person"] for a in client_for(actor=world.sponsor).get("/identity/ra-agent-appointments").json()}
    assert recruit.uid in listed
    assert client_for(actor=world.other_sponsor).get("/identity/ra-agent-appointments").json() == []
    assert recruit.uid in {a["person"] for a in client_for(actor=world.manager).get("/identity/ra-agent-appointments").json()}

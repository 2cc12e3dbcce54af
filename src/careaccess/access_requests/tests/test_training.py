"""Rule PP5: only staff trained to action a service's requests fulfil them. The training is the
identity app's one training record (kind "actioning", for a service or every service): recorded by
an RA manager on a page, through the API and the CLI; IG training (CC9) does not count; the
refusal says which record is missing and where it is recorded; the Fulfil button is offered only to
those who may fulfil, and an untrained fulfiller is told why instead."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core.management import CommandError, call_command

from careaccess.access_requests import services
from careaccess.api.testing import client_for
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.directory import services as directory
from careaccess.directory import testing
from careaccess.identity import services as identity_services
from careaccess.identity.models import TrainingRecord

from .conftest import ledger_size, person_of, walk
from .test_pages import login, squash, summary_of
from .test_separation import Unchanged, new_user, refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def untrained(world):
    return testing.staff(world.icb, "local_administrator", "ra_agent", given_name="Una", family_name="Trained")


@pytest.fixture
def ra_manager(world):
    return testing.staff(world.icb, "ra_manager", given_name="Rae", family_name="Manager")


def approved(world):
    return walk(world, world.gp, new_user(world, world.gp), until="approved")


def test_ig_training_is_not_training_to_action_requests_and_the_refusal_says_where_to_record_it(world, untrained):
    req = approved(world)
    identity_services.record_training(testing.SYSTEM, person_of(untrained), kind="ig", completed_on="2026-03-01")
    with Unchanged(), refused(Forbidden) as caught:
        services.fulfil(untrained, req, version=req.version)
    message = caught.value.message
    assert "training to action Connecting Care requests" in message and "(rule PP5)" in message
    assert "RA manager" in message and "person's page" in message and "IG training does not count" in message


def test_training_for_another_service_does_not_count_training_for_every_service_does(world, untrained):  # PP5
    nhsmail = directory.create_service(testing.SYSTEM, code="nhsmail", name="NHSmail",
                                                  allowed_purposes=["direct care"], approver_kind="sponsor",
                                                  sla_days=5, roles=[{"code": "mailbox-user", "name": "Mailbox user"}])
    req = approved(world)
    services.record_training(testing.SYSTEM, person_of(untrained), completed_on="2026-01-01", service=nhsmail)
    with Unchanged(), refused(Forbidden, "PP5"):
        services.fulfil(untrained, req, version=req.version)
    services.record_training(testing.SYSTEM, person_of(untrained), completed_on="2026-01-01")
    assert services.fulfil(untrained, req, version=req.version).state == "fulfilled"


def test_only_an_ra_manager_records_it_and_bad_input_changes_nothing(world, untrained, ra_manager):
    person = person_of(untrained)
    for actor in (world.gp.requester, world.fulfiller):  # a sponsor; a trained back office
        with Unchanged(), refused(Forbidden, "RA manager|ra manager|may not"):
            services.record_training(actor, person, completed_on="2026-01-01")
    with Unchanged(), refused(InvalidInput) as caught:
        services.record_training(ra_manager, person, completed_on="2026-01-01", valid_until="2025-12-31")
    assert "valid_until" in caught.value.errors
    with Unchanged(), refused(InvalidInput) as caught:
        identity_services.record_training(ra_manager, person, kind="ig", completed_on="2026-01-01",
                                          service=world.service)
    assert "service" in caught.value.errors
    before = ledger_size()
    record = services.record_training(ra_manager, person, completed_on="2026-01-01", service=world.service)
    assert record.kind == TrainingRecord.Kind.ACTIONING and record.service == world.service
    assert ledger_size() == before + 1


def test_recorded_through_the_api_with_kind_actioning(world, untrained, ra_manager):  # PP5
    person = person_of(untrained)
    api, sponsor = client_for(actor=ra_manager), client_for(actor=world.gp.requester)
    before = ledger_size()
    response = api.post(f"/identity/people/{person.uid}/training",
                        {"kind": "actioning", "completed_on": "2026-01-01", "service": "no-such-service"})
    assert response.status_code == 422 and "service" in response.content.decode() and ledger_size() == before
    response = sponsor.post(
        f"/identity/people/{person.uid}/training", {"kind": "actioning", "completed_on": "2026-01-01"})
    assert response.status_code == 403 and ledger_size() == before
    response = api.post(f"/identity/people/{person.uid}/training",
                        {"kind": "actioning", "completed_on": "2026-01-01", "service": "connecting-care"})
    assert response.status_code == 201, response.content
    assert response.json()["service"] == "connecting-care" and response.json()["kind"] == "actioning"
    req = approved(world)
    assert services.fulfil(untrained, req, version=req.version).state == "fulfilled"


def test_recorded_from_the_console(world, untrained):  # PP5
    person = person_of(untrained)
    out = io.StringIO()
    call_command("identity", "training", person.uid, "--kind", "actioning", "--service", "connecting-care",
                 "--completed-on", "2026-01-02", stdout=out)
    assert "Training to action requests for Connecting Care recorded" in out.getvalue()
    with pytest.raises(CommandError, match="no service has the code nope"):
        call_command("identity", "training", person.uid, "--kind", "actioning", "--service", "nope",
                     "--completed-on", "2026-01-02")
    with pytest.raises(CommandError, match="future"):
        call_command("identity", "training", person.uid, "--kind", "actioning", "--completed-on", "2030-01-01")
    assert TrainingRecord.objects.filter(person=person, kind="actioning").count() == 1


def test_the_training_page(client, world, untrained, ra_manager):  # PP5
    person = person_of(untrained)
    url = f"/requests/training/{person.uid}"
    login(client, world.gp.requester)
    assert client.get(url).status_code == 403
    login(client, ra_manager)
    person_page = squash(client.get(f"/people/{person.uid}"))
    assert f'href="{url}"' in person_page and "Record training to action requests" in person_page
    page = squash(client.get(url))
    assert "None: they cannot action requests yet" in page
    before = ledger_size()
    response = client.post(url, {"service": "", "completed_on_day": "", "completed_on_month": "",
                                 "completed_on_year": ""})
    summary = summary_of(squash(response))
    assert "Select the service the training is for, or every service" in summary
    assert "Enter the date the training was completed" in summary
    assert ledger_size() == before and not TrainingRecord.objects.filter(person=person).exists()
    response = client.post(url, {"service": "connecting-care", "completed_on_day": "1", "completed_on_month": "1",
                                 "completed_on_year": "2030"})
    assert "cannot be completed in the future" in summary_of(squash(response)) and ledger_size() == before
    response = client.post(url, {"service": "*", "completed_on_day": "2", "completed_on_month": "1",
                                 "completed_on_year": "2026"})
    assert response.status_code == 302 and response.url == url
    page = squash(client.get(url))
    assert "Every service: completed 2 January 2026" in page and ledger_size() == before + 1


def test_fulfil_is_offered_only_to_trained_fulfillers_and_the_untrained_are_told_why(client, world, untrained,
                                                                                        ra_manager):  # PP5
    req = approved(world)
    login(client, untrained)
    page = squash(client.get(f"/requests/{req.reference}"))
    assert 'id="form-fulfil"' not in page
    assert "no current training to action Connecting Care requests recorded (rule PP5)" in page
    login(client, world.fulfiller)
    page = squash(client.get(f"/requests/{req.reference}"))
    assert 'id="form-fulfil"' in page and 'id="fulfil-blocked"' not in page
    services.record_training(ra_manager, person_of(untrained), completed_on=dt.date(2026, 1, 1))
    login(client, untrained)
    assert 'id="form-fulfil"' in squash(client.get(f"/requests/{req.reference}"))


def test_a_trained_local_administrator_is_told_a_new_user_needs_an_ra_agent(client, world):  # PP5, DS5
    admin = testing.staff(world.icb, "local_administrator", given_name="Lou", family_name="Admin")
    services.record_training(testing.SYSTEM, person_of(admin), completed_on="2026-01-01")
    req = approved(world)
    with Unchanged(), refused(Forbidden, "registers the person, which needs a live position as ra agent or ra manager"):
        services.fulfil(admin, req, version=req.version)
    login(client, admin)
    page = squash(client.get(f"/requests/{req.reference}"))
    assert 'id="form-fulfil"' not in page and "registers the person" in page


def test_history_links_to_audit_entries_only_for_those_who_may_read_them(client, world, ra_manager):  # PP9, PP15
    req = walk(world, world.gp, new_user(world, world.gp))
    for actor in (world.gp.requester, world.fulfiller, world.gp.approver):
        login(client, actor)
        page = squash(client.get(f"/requests/{req.reference}"))
        history = page[page.index('id="history"'):]
        assert ">Fulfilled</td>" in history and 'href="/audit/' not in history
    login(client, ra_manager)  # audit.read over the ICB and its descendants
    page = squash(client.get(f"/requests/{req.reference}"))
    history = page[page.index('id="history"'):]
    links = re.findall(r'href="(/audit/\d+)"', history)
    assert len(links) >= 5 and ">Fulfilled</a>" in history
    assert all(client.get(link).status_code == 200 for link in links)

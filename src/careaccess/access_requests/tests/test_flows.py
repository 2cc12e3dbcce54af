"""The full happy path of every request type, through both routes (CC6), changing the directory
only through its service functions."""

import datetime as dt

import pytest

from careaccess.access_requests import services
from careaccess.access_requests.models import AccessRequest
from careaccess.access_requests.tests.conftest import ledger_size, outbox, walk
from careaccess.core.audit.models import Entry
from careaccess.core.errors import Conflict
from careaccess.directory import services as directory
from careaccess.directory import testing
from careaccess.directory.models import Account, Assignment, Person

pytestmark = pytest.mark.django_db
ROUTES = ["authoriser", "desk"]


def member(world, site, position=None, **names):
    """Someone already working at the site, with an account on the service."""
    person = testing.person(**names)
    assignment = directory.create_assignment(testing.SYSTEM, person, position or site.admin)
    account = directory.create_account(testing.SYSTEM, person, world.service, username=f"u{person.uid}",
                                       state="active")
    return person, assignment, account


def raise_(world, site, kind, details, **extra):
    return services.raise_request(site.requester, kind=kind, organisation=site.organisation, service=world.service,
                                  details=details, **extra)


@pytest.mark.parametrize("route", ROUTES)
def test_new_user_is_registered_placed_and_given_an_account(world, route):
    # rules CC4, SC4, CC6
    site = world.site(route)
    req = raise_(world, site, "new_user", world.new_user_details(site), note="ticket 42, intended position Clinician")
    assert req.state == "draft" and req.route == route.replace("desk", "service_desk")
    req = walk(world, site, req)
    assert req.state == "fulfilled"
    person = Person.objects.get(ni_number=req.details["ni_number"])
    assert req.subject == person and req.note == "ticket 42, intended position Clinician"
    account = Account.objects.get(person=person, service=world.service)
    assert account.state == "active" and account.username == req.outcome["username"]
    assert person.assignments.get().position == site.clinician


def test_the_desk_route_records_the_ticket_it_forwards_under(world):
    # rule CC6: the desk validates and forwards to the back office with a ticket reference
    site = world.trust
    req = raise_(world, site, "new_user", world.new_user_details(site), submit=True)
    req = services.validate(site.validator, req, version=req.version, ticket_reference="TD-55")
    assert req.ticket_reference == "TD-55" and req.state == "validated"


def test_a_temporary_member_of_staff_gets_the_end_date(world):
    # rule CC9: an end date for temporary staff
    site = world.gp
    req = raise_(world, site, "new_user", world.new_user_details(site, temporary="yes", ends_on="2026-12-31"))
    req = walk(world, site, req)
    assert Assignment.objects.get(pk=req.outcome["assignment"]).ends_on == dt.date(2026, 12, 31)


@pytest.mark.parametrize("route", ROUTES)
def test_amendment_changes_details_and_moves_to_another_position(world, route):
    # rule CC4: amendment, e.g. a role change — through positions (SC8)
    site = world.site(route)
    person, old, _ = member(world, site)
    req = raise_(world, site, "amendment", {"person": person.uid, "phone": "0113 496 0001",
                                            "position": site.clinician.pk, "service_role": "care-professional",
                                            "replaces_assignment": old.pk})
    walk(world, site, req)
    person.refresh_from_db()
    old.refresh_from_db()
    assert person.phone == "01134960001" and old.state == "ended"
    assert person.assignments.filter(position=site.clinician, state="active").exists()


@pytest.mark.parametrize("route", ROUTES)
def test_reactivation_reinstates_a_suspended_account(world, route):
    # rules CC4, PP8
    site = world.site(route)
    person, _, account = member(world, site)
    directory.update_account(testing.SYSTEM, account, state="suspended")
    walk(world, site, raise_(world, site, "reactivation", {"person": person.uid, "requested_from": person.email}))
    account.refresh_from_db()
    assert account.state == "active"


def test_reactivation_is_asked_for_from_the_address_on_the_account(world):
    # rule PP13
    from careaccess.core.errors import InvalidInput

    site = world.gp
    person, _, account = member(world, site)
    directory.update_account(testing.SYSTEM, account, state="suspended")
    with pytest.raises(InvalidInput, match="PP13"):
        raise_(world, site, "reactivation", {"person": person.uid, "requested_from": "someone.else@example.org"})


@pytest.mark.parametrize("route", ROUTES)
def test_a_leaver_loses_this_organisations_positions_and_the_account_is_suspended_not_deleted(world, route):
    # rules CC4 (deletion), SC10, PP8
    site = world.site(route)
    person, assignment, account = member(world, site)
    elsewhere = directory.create_assignment(testing.SYSTEM, person, world.provider.admin)
    walk(world, site, raise_(world, site, "deletion", {"person": person.uid, "cause": "leaver"}))
    assignment.refresh_from_db()
    account.refresh_from_db()
    elsewhere.refresh_from_db()
    assert assignment.state == "ended" and account.state == "suspended"
    assert elsewhere.state == "active"  # SC10: only this organisation's positions
    assert Account.objects.filter(pk=account.pk).exists()


@pytest.mark.parametrize("route", ROUTES)
def test_position_assignment_and_removal(world, route):
    # rule SC5: sponsors request assignments and removals; the back office grants them
    site = world.site(route)
    person, _, _ = member(world, site)
    req = walk(world, site, raise_(world, site, "position_assignment", {"person": person.uid,
                                                                       "position": site.clinician.pk}))
    assignment = Assignment.objects.get(pk=req.outcome["assignment"])
    assert assignment.position == site.clinician and assignment.state == "active"
    walk(world, site, raise_(world, site, "position_removal", {"assignment": assignment.pk}))
    assignment.refresh_from_db()
    assert assignment.state == "ended"


@pytest.mark.parametrize("route", ROUTES)
def test_change_of_name_needs_a_face_to_face_check_first(world, route):
    # rule SC7
    site = world.site(route)
    person, _, _ = member(world, site, given_name="Ann", family_name="Old")
    req = walk(world, site, raise_(world, site, "change_of_name", {"person": person.uid, "title": "Mrs",
                                                                  "given_name": "Ann", "family_name": "New"}),
               until="approved")
    size = ledger_size()
    with pytest.raises(Conflict, match="face-to-face"):
        services.fulfil(world.fulfiller, req, version=req.version)
    assert ledger_size() == size
    services.record_evidence(world.ra_agent, req, kind="face_to_face",
                             details="passport 123456789 and marriage certificate seen in person")
    req = services.fulfil(world.fulfiller, req, version=req.version)
    person.refresh_from_db()
    assert (person.title, person.family_name) == ("Mrs", "New")
    assert req.title == "Connecting Care change Ann New"


def test_change_of_lead_correspondent_needs_telephone_and_email_confirmation(world):
    # rule PP12
    site = world.provider
    lead_position = testing.position(site.organisation, "Lead correspondent", capabilities=["lead_correspondent"])
    newcomer, _, _ = member(world, site, given_name="Lee", family_name="Newlead")
    outgoing = Assignment.objects.get(person_id=site.requester.person_id)
    req = walk(world, site, raise_(world, site, "change_of_lead_correspondent",
                                   {"person": newcomer.uid, "position": lead_position.pk,
                                    "replaces_assignment": outgoing.pk}), until="approved")
    services.record_evidence(world.fulfiller, req, kind="telephone", details="rang the registered manager")
    with pytest.raises(Conflict, match="by email"):
        services.fulfil(world.fulfiller, req, version=req.version)
    services.record_evidence(world.fulfiller, req, kind="email", details="email from manager@cp001 confirming")
    services.fulfil(world.fulfiller, req, version=req.version)
    assert newcomer.assignments.filter(position=lead_position, state="active").exists()
    outgoing.refresh_from_db()
    assert outgoing.state == "ended"


def test_secondary_purpose_is_referred_to_the_central_team_never_approved(world):
    # rule CC2
    site = world.gp
    person, _, _ = member(world, site)
    req = services.raise_request(site.requester, kind="secondary_purpose", organisation=site.organisation,
                                 service=world.service, purpose="research",
                                 details={"person": person.uid, "description": "a study of discharge letters"},
                                 submit=True)
    assert req.state == "referred"
    assert "direct care only" in req.reason and "central team" in req.reason
    with pytest.raises(Conflict, match="never approved"):
        services.approve(site.approver, req)
    sent = outbox(req.reference)
    assert any(services.central_team_email() in m.to for m in sent)


def test_every_step_is_in_the_history_with_who_when_and_why(world):
    # rules PP9, CC6: the request's ledger entries are its history
    from careaccess.access_requests import selectors

    site = world.gp
    req = walk(world, site, raise_(world, site, "new_user", world.new_user_details(site)))
    history = list(selectors.history(req).values_list("action", "actor_uid"))
    steps = [s for s in history if s[0].startswith("request.")]
    assert [s[0] for s in steps] == ["request.raised", "request.submitted", "request.validated",
                                     "request.approved", "request.fulfilled"]
    assert steps[2][1] == site.validator.person_uid and steps[4][1] == world.fulfiller.person_uid
    # the directory changes the fulfilment made are in the history too, by the fulfiller
    changes = [s for s in history if not s[0].startswith("request.")]
    assert {"person.created", "assignment.created", "account.created"} <= {s[0] for s in changes}
    assert {s[1] for s in changes} == {world.fulfiller.person_uid}
    assert Entry.objects.filter(access_request=req.reference, action="request.fulfilled").get().actor_position


def test_withdraw_and_information_requested_and_back(world):
    # rule CC10: an authoriser can be asked for more information; the request then returns
    site = world.gp
    req = raise_(world, site, "new_user", world.new_user_details(site), submit=True)
    req = services.validate(site.validator, req, version=req.version)
    req = services.request_information(site.approver, req, version=req.version, reason="which team?")
    assert req.state == "information_requested" and req.paused_in == "validated"
    req = services.provide_information(site.requester, req, version=req.version, information="the frailty team")
    assert req.state == "validated"
    req = services.withdraw(site.requester, req, version=req.version, reason="no longer joining")
    assert req.state == "withdrawn" and req.closed_at is not None
    assert AccessRequest.objects.get(pk=req.pk).reason == "no longer joining"


def test_rejection_needs_reasons(world):
    from careaccess.core.errors import InvalidInput

    site = world.gp
    req = raise_(world, site, "new_user", world.new_user_details(site), submit=True)
    size = ledger_size()
    with pytest.raises(InvalidInput) as refused:
        services.reject(site.validator, req, version=req.version, reason=" ")
    assert "reason" in refused.value.errors and ledger_size() == size
    req = services.reject(site.validator, req, version=req.version, reason="wrong position asked for")
    assert req.state == "rejected"


def test_a_fulfiller_whose_rights_come_from_two_positions(world):
    # the directory checks each change against any of the fulfiller's live positions
    import datetime as dt

    from careaccess.core import permissions

    site = world.gp
    person = testing.person(given_name="Two", family_name="Hats")
    for capability in ("local_administrator", "ra_agent"):
        position = testing.position(world.icb, f"Back office {capability}", capabilities=[capability])
        directory.create_assignment(testing.SYSTEM, person, position)
    services.record_training(testing.SYSTEM, person, completed_on=dt.date(2026, 1, 5))
    req = walk(world, site, raise_(world, site, "new_user", world.new_user_details(site)), until="approved")
    req = services.fulfil(permissions.actor_for_person(person), req, version=req.version)
    assert req.state == "fulfilled" and req.fulfilled_by == person

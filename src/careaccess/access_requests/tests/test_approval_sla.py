"""Authoriser confirmations (CC9), the SLA from reaching the back office (CC7), queues."""

import datetime as dt

import pytest
from django.test import override_settings

from careaccess.access_requests import selectors, services
from careaccess.access_requests.tests.conftest import CONFIRMED, ledger_size, walk
from careaccess.core.errors import InvalidInput

pytestmark = pytest.mark.django_db


def new_user(world, site, **overrides):
    return services.raise_request(site.requester, kind="new_user", organisation=site.organisation,
                                  service=world.service, details=world.new_user_details(site, **overrides), submit=True)


def test_approval_needs_every_confirmation(world):
    # rules CC9, PP1: least role, told not to view own/colleagues'/family records, IG training current
    site = world.gp
    req = walk(world, site, new_user(world, site), until="validated")
    size = ledger_size()
    with pytest.raises(InvalidInput) as refused:
        services.approve(site.approver, req, confirmations=services.Confirmations())
    assert set(refused.value.errors) == {"least_role", "told_not_to_view_own_records", "ig_training_on"}
    stale = services.Confirmations(least_role=True, told_not_to_view_own_records=True,
                                   ig_training_on=dt.date(2025, 1, 1))
    with pytest.raises(InvalidInput, match="is out of date: it must have been completed in the last year"):
        services.approve(site.approver, req, confirmations=stale)
    assert ledger_size() == size
    req = services.approve(site.approver, req, confirmations=CONFIRMED)
    assert req.approval == {"least_role": True, "told_not_to_view_own_records": True, "ig_training_on": "2026-03-01",
                            "ends_on": None}


def test_temporary_staff_need_an_end_date_at_approval(world):
    # rule CC9
    site = world.gp
    req = new_user(world, site)
    req.details["temporary"] = True  # e.g. a locum, marked so by the desk
    req.save()
    req = walk(world, site, req, until="validated")
    with pytest.raises(InvalidInput, match="finishing date"):
        services.approve(site.approver, req, confirmations=CONFIRMED)
    confirmations = services.Confirmations(least_role=True, told_not_to_view_own_records=True,
                                           ig_training_on=dt.date(2026, 3, 1), ends_on=dt.date(2026, 9, 30))
    req = services.approve(site.approver, req, confirmations=confirmations)
    req = services.fulfil(world.fulfiller, req)
    assert req.subject.assignments.get().ends_on == dt.date(2026, 9, 30)


def test_a_removal_needs_no_confirmations(world):
    site = world.gp
    from careaccess.directory import services as directory
    from careaccess.directory import testing

    person = testing.person(given_name="Rae", family_name="Moved")
    assignment = directory.create_assignment(testing.SYSTEM, person, site.admin)
    req = services.raise_request(site.requester, kind="position_removal", organisation=site.organisation,
                                 details={"assignment": assignment.pk}, submit=True)
    req = services.validate(site.validator, req)
    assert services.approve(site.approver, req).state == "approved"


def test_the_sla_starts_when_the_request_reaches_the_back_office(world, clock):
    # rule CC7: 5 days (working days by default), from approval, not from raising
    site = world.gp
    req = new_user(world, site)  # Monday 1 June 2026
    clock.advance(dt.timedelta(days=3))  # validation took till Thursday
    req = walk(world, site, req, until="approved")
    assert req.forwarded_at.date() == dt.date(2026, 6, 4)
    assert req.due_on == dt.date(2026, 6, 11)  # Thursday + 5 working days


@override_settings(CAREACCESS_REQUEST_SLA_WORKING_DAYS=False)
def test_calendar_days_when_set(world):
    site = world.gp
    req = walk(world, site, new_user(world, site), until="approved")
    assert req.due_on == dt.date(2026, 6, 6)


def test_overdue_requests_come_first_in_the_back_office_queue(world, clock):
    # rule CC7: overdue flagged in queues, overdue first
    site = world.gp
    early = walk(world, site, new_user(world, site), until="approved")  # due 8 June
    clock.advance(dt.timedelta(days=7))
    late = walk(world, site, new_user(world, site), until="approved")  # due 15 June
    clock.advance(dt.timedelta(days=1))  # 9 June: the first is overdue
    rows = list(selectors.queue(world.fulfiller, "back_office"))
    assert [r.reference for r in rows] == [early.reference, late.reference]
    assert [r.overdue for r in rows] == [True, False]
    assert [r.reference for r in selectors.overdue()] == [early.reference]
    assert list(selectors.queue(world.fulfiller, "back_office", overdue=True)) == [rows[0]]
    assert selectors.summary(world.fulfiller).overdue == 1


def test_each_actor_sees_their_queue(world):
    # rule CC6: the desk's queue, the authoriser's queue, the requester's own
    desk_req = new_user(world, world.trust)
    gp_req = new_user(world, world.gp)
    assert [r.reference for r in selectors.queue(world.trust.validator, "desk")] == [desk_req.reference]
    assert list(selectors.queue(world.gp.validator, "desk")) == []
    assert [r.reference for r in selectors.queue(world.gp.validator, "authoriser")] == [gp_req.reference]
    assert list(selectors.queue(world.trust.approver, "authoriser")) == []  # the trust's go to its desk first
    assert [r.reference for r in selectors.queue(world.gp.requester, "mine")] == [gp_req.reference]
    assert {r.reference for r in selectors.queue(world.fulfiller, "organisation")} == {desk_req.reference,
                                                                                       gp_req.reference}
    assert list(selectors.queue(world.fulfiller, "back_office")) == []


def test_next_actions_follow_the_state_permission_and_separation(world):
    site = world.gp
    req = new_user(world, site)
    # a GP sponsor validates (CC1) and, as staff who raise its requests, may withdraw one
    assert selectors.next_actions(site.validator, req) == ["validate", "reject", "withdraw", "refer",
                                                           "request_information"]
    assert selectors.next_actions(site.requester, req) == ["withdraw"]
    assert selectors.next_actions(world.trust.validator, req) == []


def test_reading_a_request(world):
    from careaccess.core.errors import Forbidden, NotFound

    req = new_user(world, world.gp)
    assert selectors.get_request(world.gp.approver, req.reference.lower()) == req
    assert selectors.get_request(world.fulfiller, req.reference) == req  # the ICB oversees the practice
    with pytest.raises(Forbidden):
        selectors.get_request(world.trust.approver, req.reference)
    with pytest.raises(NotFound):
        selectors.get_request(world.gp.approver, "REQ-NOTHERE")


def test_the_authoriser_queue_holds_exactly_what_the_actor_may_validate_or_approve(world):
    # rules CC1, CC6, DS5: the set-based queue agrees with the per-request check
    from careaccess.directory import services as directory
    from careaccess.directory import testing

    sponsor_approved = directory.create_service(testing.SYSTEM, code="portal", name="Provider Portal",
                                                approver_kind="sponsor", roles=[{"code": "carer", "name": "Carer"}])
    testing.position(world.provider.organisation, "Carer", service_roles=["portal:carer"])
    requests = [new_user(world, world.gp), new_user(world, world.trust), new_user(world, world.provider)]
    requests.append(services.raise_request(world.provider.requester, kind="new_user",
                                           organisation=world.provider.organisation, service=sponsor_approved,
                                           details=world.new_user_details(world.provider, position="Carer",
                                                                          service_role="carer"), submit=True))
    requests.append(services.validate(world.gp.validator, new_user(world, world.gp)))
    actors = [world.gp.requester, world.gp.validator, world.gp.approver, world.trust.approver,
              world.trust.validator, world.provider.requester, world.provider.validator, world.provider.approver,
              world.fulfiller]
    for actor in actors:
        queued = {r.reference for r in selectors.queue(actor, "authoriser")}
        for req in requests:
            req = selectors._base().get(pk=req.pk)
            action = "validate" if req.state == "submitted" else "approve"
            expected = req.route == "authoriser" or req.state == "validated"
            assert (req.reference in queued) == (expected and selectors.may(actor, req, action)), (actor.label, req.title)

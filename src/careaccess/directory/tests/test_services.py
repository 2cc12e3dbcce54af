"""Directory service functions: validation, permission, audit, all in one transaction."""

import datetime as dt
import json

import pytest
from django.db.models import ProtectedError

from careaccess.core.audit.models import Entry, Head
from careaccess.core.errors import Conflict, Forbidden, InvalidInput
from careaccess.directory import selectors, services, testing
from careaccess.directory.models import Person

pytestmark = pytest.mark.django_db


def ledger_size() -> int:
    return Head.objects.size()


@pytest.fixture
def practice(clock):
    testing.staff_catalogue()
    testing.organisation("QWO", kind="icb", oversees_descendants=True)
    return testing.organisation("B86001", parent="QWO")


def test_invalid_input_names_every_field_and_changes_nothing(practice):
    before_people, before_ledger = Person.objects.count(), ledger_size()
    with pytest.raises(InvalidInput) as refused:
        services.create_person(testing.SYSTEM, given_name="", family_name="Jones", ni_number="12345",
                               email="not-an-email", date_of_birth="2999-01-01", phone="12")
    assert set(refused.value.errors) == {"given_name", "ni_number", "email", "date_of_birth", "phone"}
    assert "AB 12 34 56 C" in refused.value.errors["ni_number"]
    assert Person.objects.count() == before_people and ledger_size() == before_ledger


def test_unknown_fields_are_refused_not_ignored(practice):
    person = testing.person()
    with pytest.raises(InvalidInput) as refused:
        services.update_person(testing.SYSTEM, person, favourite_colour="blue")
    assert "favourite_colour" in refused.value.errors


def test_a_refused_change_writes_no_audit_entry(practice):
    # rule PP9: the ledger records changes, and a refusal is not a change
    outsider = testing.staff(testing.organisation("B86009"), "ra_agent")
    before = ledger_size()
    with pytest.raises(Forbidden, match="may not position create"):
        services.create_position(outsider, practice, name="Receptionist")
    assert ledger_size() == before


def test_every_change_is_audited_with_actor_position_and_before_after(practice):
    # rules PP9, SC2
    agent = testing.staff(practice, "ra_agent", given_name="Rita", family_name="Agent")
    person = testing.person(given_name="Pat")
    size = ledger_size()
    services.update_person(agent, person, phone="0113 496 0000")
    entry = Entry.objects.get(index=size)
    assert entry.action == "person.updated"
    assert entry.actor_uid == agent.person_uid and "B86001" in entry.actor_position
    assert json.loads(entry.before)["phone"] == "" and json.loads(entry.after)["phone"] == "01134960000"
    assert entry.person_uid == person.uid


def test_an_unchanged_update_writes_nothing(practice):
    person = testing.person(given_name="Sam")
    size = ledger_size()
    services.update_person(testing.SYSTEM, person, given_name="Sam")
    assert ledger_size() == size


def test_a_change_to_a_position_reaches_everyone_in_it(practice):
    # rule SC8: rights belong to positions; nobody gets codes individually
    position = testing.position(practice, "Receptionist", activities=["B0820"])
    people = [testing.person(given_name=f"P{i}") for i in range(3)]
    for person in people:
        services.create_assignment(testing.SYSTEM, person, position)
    services.update_position(testing.SYSTEM, position, activities=["B0825"])
    for person in people:
        assert selectors.effective_access(person).activity_codes == ["B0820", "B0825"]


def test_people_are_never_deleted(practice):
    # rule PP8 (and the audit trail): the database refuses to delete a person with history
    person = testing.person()
    services.create_assignment(testing.SYSTEM, person, testing.position(practice, "Clerk"))
    with pytest.raises(ProtectedError):
        person.delete()


def test_assignment_dates_are_checked(practice, clock):
    person = testing.person()
    position = testing.position(practice, "Locum GP")
    with pytest.raises(InvalidInput) as refused:
        services.create_assignment(testing.SYSTEM, person, position, starts_on="2026-06-10", ends_on="2026-06-01")
    assert "ends_on" in refused.value.errors
    services.create_assignment(testing.SYSTEM, person, position, ends_on=clock.today() + dt.timedelta(days=30))
    with pytest.raises(Conflict, match="already holds"):
        services.create_assignment(testing.SYSTEM, person, position)


def test_sponsors_assign_only_to_assignable_positions_in_their_organisation(practice):
    sponsor = testing.staff(practice, "sponsor")
    assignable = testing.position(practice, "Receptionist", assignable_by_sponsors=True)
    restricted = testing.position(practice, "Prescriber")
    person = testing.person()
    services.create_assignment(sponsor, person, assignable)
    with pytest.raises(Forbidden):
        services.create_assignment(sponsor, person, restricted)


def test_closing_needs_a_date_and_a_closed_organisation_takes_no_one(practice, clock):
    with pytest.raises(InvalidInput) as refused:
        services.update_organisation(testing.SYSTEM, practice, status="closing")
    assert "closes_on" in refused.value.errors
    services.update_organisation(testing.SYSTEM, practice, status="closed")
    with pytest.raises(InvalidInput, match="closed"):
        services.create_assignment(testing.SYSTEM, testing.person(), testing.position(practice, "Clerk"))


def test_an_organisation_cannot_be_its_own_ancestor(practice):
    with pytest.raises(InvalidInput, match="under itself"):
        services.update_organisation(testing.SYSTEM, testing.organisation("QWO"), parent="B86001")


def test_service_policy_is_data(practice):
    service = services.create_service(testing.SYSTEM, code="provider-portal", name="Provider portal",
                                      approver_kind="lead_correspondent", review_months=3,
                                      roles=[{"code": "viewer", "name": "Viewer"}, {"code": "finance", "name": "Finance"}])
    assert (service.sla_days, service.inactivity_days) == (5, 60)  # rules CC7, PP7 defaults
    testing.position(practice, "Finance clerk", service_roles=["provider-portal:finance"])
    with pytest.raises(InvalidInput, match="carried by positions"):
        services.update_service(testing.SYSTEM, service, roles=[{"code": "viewer", "name": "Viewer"}])
    with pytest.raises(InvalidInput) as refused:
        services.create_service(testing.SYSTEM, code="x", name="X", sla_days=0, approver_kind="anyone")
    assert set(refused.value.errors) == {"sla_days", "approver_kind"}

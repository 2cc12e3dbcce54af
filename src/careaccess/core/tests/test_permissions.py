"""One place decides every permission, deny by default; staff rights come from positions."""

import dataclasses
import datetime as dt

import pytest

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden
from careaccess.directory import services, testing
from careaccess.directory.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(clock):
    testing.staff_catalogue()
    icb = testing.organisation("QWO", kind="icb", oversees_descendants=True)
    practice = testing.organisation("B86001", parent="QWO")
    other = testing.organisation("B86002", parent="QWO")
    return icb, practice, other


def test_unknown_actions_are_denied_to_everyone(tree):
    icb, *_ = tree
    manager = testing.staff(icb, "ra_manager")
    assert not permissions.can(manager, "nuclear.launch")
    assert not permissions.can(Actor.system("x"), "nuclear.launch")
    with pytest.raises(Forbidden):
        permissions.authorise(manager, "nuclear.launch")


def test_a_person_without_staff_positions_may_do_nothing(tree):
    _, practice, _ = tree
    nobody = permissions.actor_for_person(testing.person())
    for action in permissions.ACTIONS:
        assert not permissions.can(nobody, action, practice)


def test_rights_are_scoped_to_the_positions_organisation(tree):
    # rule SC8: rights belong to positions, in their organisation
    _, practice, other = tree
    agent = testing.staff(practice, "ra_agent")
    assert permissions.can(agent, "position.create", practice)
    assert not permissions.can(agent, "position.create", other)


def test_an_overseeing_organisations_staff_act_for_its_descendants(tree):
    icb, practice, other = tree
    manager = testing.staff(icb, "ra_manager")
    assert permissions.can(manager, "position.create", practice)
    assert permissions.can(manager, "organisation.update", other)
    services.update_organisation(Actor.system("t"), icb, oversees_descendants=False)
    assert not permissions.can(manager, "position.create", practice)


def test_the_granting_position_becomes_the_acting_position(tree):
    icb, practice, _ = tree
    agent = testing.staff(practice, "ra_agent")
    acting = permissions.authorise(agent, "position.create", practice)
    assert acting.assignment_id is not None
    assert "B86001" in acting.position_label


def test_a_pinned_position_limits_the_actor_to_it(tree):
    icb, practice, _ = tree
    agent = testing.staff(practice, "ra_agent")
    person = Person.objects.get(uid=agent.person_uid)
    sponsor_position = testing.position(practice, "Sponsor", capabilities=["sponsor"])
    sponsor_assignment = services.create_assignment(testing.SYSTEM, person, sponsor_position)
    pinned = dataclasses.replace(agent, assignment_id=sponsor_assignment.id)
    assert not permissions.can(pinned, "position.create", practice)
    assert permissions.can(pinned, "assignment.create_assignable", practice)


def test_rights_end_with_the_assignment(tree, clock):
    _, practice, _ = tree
    agent = testing.staff(practice, "ra_agent")
    assignment = Person.objects.get(uid=agent.person_uid).assignments.get()
    services.update_assignment(testing.SYSTEM, assignment, ends_on=clock.today())
    assert permissions.can(agent, "person.create")
    clock.advance(dt.timedelta(days=1))
    assert not permissions.can(agent, "person.create")


def test_included_activities_count_for_staff_rights(tree, settings):
    # An activity that includes the sponsor activity makes its holders sponsors too.
    _, practice, _ = tree
    services.upsert_activity(testing.SYSTEM, code="B9900", name="Senior sponsor", includes=[settings.CAREACCESS_STAFF_ACTIVITIES["sponsor"]])
    who = testing.person(given_name="Sam")
    pos = testing.position(practice, "Senior sponsor", activities=["B9900"])
    services.create_assignment(testing.SYSTEM, who, pos)
    assert permissions.can(permissions.actor_for_person(who), "assignment.create_assignable", practice)


def test_services_may_only_ask_about_access(tree):
    _, practice, _ = tree
    service = Actor(kind="service", label="service scr", service_id=1)
    assert permissions.can(service, "decision.ask")
    assert permissions.can(service, "access.read")
    assert not permissions.can(service, "person.create")
    assert not permissions.can(service, "audit.read")


def test_auditors_read_the_ledger_but_change_nothing(tree):
    icb, practice, _ = tree
    auditor = testing.staff(icb, "auditor")
    assert permissions.can(auditor, "audit.read", practice)
    for action in ("person.create", "position.create", "assignment.create", "account.update", "organisation.update"):
        assert not permissions.can(auditor, action, practice)


def test_authorise_narrowed_to_a_routes_capabilities_names_what_is_needed(tree):
    # rule DS5: a route or service policy narrows who may act; the refusal says who could
    icb, practice, _ = tree
    sponsor = testing.staff(practice, "sponsor")
    assert permissions.authorise(sponsor, "request.approve", practice, capabilities=["sponsor"]).assignment_id
    with pytest.raises(Forbidden, match="may not approve requests for .*B86001.*as authoriser"):
        permissions.authorise(sponsor, "request.approve", practice, capabilities=["authoriser"],
                              doing="approve requests")
    with pytest.raises(Forbidden, match="a capability nobody has here"):
        permissions.authorise(sponsor, "request.approve", practice, capabilities=["ra_agent"])  # not an approver
    assert permissions.authorise(Actor.system("t"), "request.approve", practice, capabilities=["authoriser"])


def test_holds_and_covered_organisations_follow_oversight(tree):
    icb, practice, other = tree
    manager = testing.staff(icb, "ra_manager")
    agent = testing.staff(practice, "ra_agent")
    assert permissions.holds(manager, ["ra_manager"], practice) and not permissions.holds(agent, ["ra_agent"], other)
    assert not permissions.holds(Actor.system("t"), ["ra_manager"], practice)  # a capability, not an action
    assert permissions.covered_organisation_ids(manager, ["ra_manager"]) == {icb.id, practice.id, other.id}
    assert permissions.covered_organisation_ids(agent, ["ra_agent", "sponsor"]) == {practice.id}
    assert permissions.covered_organisation_ids(agent, ["sponsor"]) == set()
    assert permissions.covered_organisation_ids(Actor.system("t"), ["sponsor"]) is None


def test_covered_organisations_is_none_only_where_every_organisation_is_covered(tree):
    # The one "covers every organisation means all" step of the people search and the reports.
    icb, practice, other = tree
    manager, sponsor = testing.staff(icb, "ra_manager"), testing.staff(practice, "sponsor")
    assert permissions.covered_organisations(manager, "person.read") is None  # overseeing the only root
    assert permissions.covered_organisations(manager, "report.read") is None
    assert permissions.covered_organisations(sponsor, "person.read") == {practice.id}
    assert permissions.covered_organisations(manager, "mailbox.assess") == set()  # not a capability it holds
    assert permissions.covered_organisations(Actor.system("t"), "person.read") is None
    service = services.create_service(testing.SYSTEM, code="portal", name="Portal")
    portal = permissions.actor_for_service(service)
    assert permissions.covered_organisations(portal, "person.read") is None  # as `can` allows it anywhere
    assert permissions.covered_organisations(portal, "report.read") == set()
    with pytest.raises(KeyError):
        permissions.covered_organisations(manager, "nuclear.launch")
    # More trees: the ICB's RA no longer covers everything. Positions at both ICBs (overseeing
    # theirs) and at a lone practice (overseeing nothing) still do, counted rather than seen at the roots.
    elsewhere = testing.organisation("QXX", kind="icb", oversees_descendants=True)
    lone = testing.organisation("Z99999")
    assert permissions.covered_organisations(manager, "person.read") == {icb.id, practice.id, other.id}
    everywhere = testing.person("Eve", "Everywhere")
    for organisation in (icb, elsewhere, lone):
        services.create_assignment(testing.SYSTEM, everywhere,
                                   testing.position(organisation, f"Auditor {organisation.code}", capabilities=["auditor"]))
    assert permissions.covered_organisations(permissions.actor_for_person(everywhere), "report.read") is None
    assert permissions.covered_organisations(permissions.actor_for_person(everywhere), "card.issue") == set()


def test_first_covering_is_the_first_organisation_allowed_with_one_read_of_the_grants(tree):
    # rule SC8: where a person may act comes from their positions; asked for a list of organisations
    # (a person's sites) at the cost of one question, not one per organisation
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    icb, practice, other = tree
    sponsor = testing.staff(practice, "sponsor")
    with CaptureQueriesContext(connection) as queries:
        assert permissions.first_covering(sponsor, "person.read", [other, icb]) is None
    assert len(queries) == 1
    acting, where = permissions.first_covering(sponsor, "person.read", [other, practice, icb])
    assert where == practice and acting == permissions.authorise(sponsor, "person.read", practice)
    manager = testing.staff(icb, "ra_manager")  # oversees the practices
    assert permissions.first_covering(manager, "person.read", [other, practice])[1] == other
    assert permissions.first_covering(Actor.system("t"), "person.read", [other])[1] == other
    assert permissions.first_covering(sponsor, "person.read", []) is None

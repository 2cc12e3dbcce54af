"""Properties of effective access (rule SC8: access is the union of live assignments' positions):
adding an assignment never removes access, ending one never adds any; and the API's one-query
decision path answers exactly as `selectors.decide` does."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError
from careaccess.directory import selectors, services
from careaccess.directory.decisions import decide_lean
from careaccess.directory.models import Person

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test")
ACTIVITIES = {"B0001": [], "B0002": ["B0001"], "B0003": ["B0002"], "B0004": []}
ROLES = ["care-portal:care-professional", "care-portal:administrator"]
JOB_ROLES = ["R0001", "R0002"]
TODAY = dt.date(2026, 6, 1)
HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                            HealthCheck.too_slow])

position_specs = st.lists(
    st.fixed_dictionaries({
        "organisation": st.sampled_from(["OPEN1", "SHUT1"]),
        "activities": st.lists(st.sampled_from(sorted(ACTIVITIES)), unique=True, max_size=2),
        "service_roles": st.lists(st.sampled_from(ROLES), unique=True, max_size=2),
        "job_roles": st.lists(st.sampled_from(JOB_ROLES), unique=True, max_size=1),
        "retired": st.sampled_from([False, False, False, True]),
    }),
    min_size=1, max_size=4,
)
assignment_specs = st.lists(
    st.fixed_dictionaries({
        "position": st.integers(0, 3),
        "starts": st.integers(-20, 5),  # days from today
        "length": st.none() | st.integers(0, 60),
        "suspended": st.sampled_from([False, False, False, True]),
    }),
    max_size=5,
)
instants = st.integers(-10, 20).map(lambda days: dt.datetime(2026, 6, 1, 12, tzinfo=dt.timezone.utc) + dt.timedelta(days=days))


class Rollback(Exception):
    pass


def in_rollback(build):
    """Run one example in a savepoint that is rolled back, so examples never see each other's rows."""
    try:
        with transaction.atomic():
            build()
            raise Rollback
    except Rollback:
        pass


def directory(positions_spec):
    for code, includes in ACTIVITIES.items():
        services.upsert_activity(SYSTEM, code=code, name=f"Activity {code}", includes=includes)
    for code in JOB_ROLES:
        services.upsert_job_role(SYSTEM, code=code, name=f"Role {code}")
    services.create_service(SYSTEM, code="care-portal", name="Care Portal", roles=[
        {"code": "care-professional", "name": "Care Professional"}, {"code": "administrator", "name": "Administrator"}])
    organisations = {
        "OPEN1": services.create_organisation(SYSTEM, code="OPEN1", name="Open", kind="gp_practice"),
        "SHUT1": services.create_organisation(SYSTEM, code="SHUT1", name="Closing", kind="care_home", status="closing",
                                              closes_on=TODAY + dt.timedelta(days=10)),
    }
    positions = []
    for i, spec in enumerate(positions_spec):
        positions.append(services.create_position(
            SYSTEM, organisations[spec["organisation"]], name=f"Position {i}", activities=spec["activities"],
            service_roles=spec["service_roles"], job_roles=spec["job_roles"]))
    person = services.create_person(SYSTEM, given_name="Pat", family_name="Property")
    return positions, person


def assign(person, positions, spec):
    """Place the person as the spec says; None when the services refuse (overlap, retired position)."""
    position = positions[spec["position"] % len(positions)]
    starts_on = TODAY + dt.timedelta(days=spec["starts"])
    ends_on = None if spec["length"] is None else starts_on + dt.timedelta(days=spec["length"])
    try:
        assignment = services.create_assignment(SYSTEM, person, position, starts_on=starts_on, ends_on=ends_on)
        if spec["suspended"]:
            services.update_assignment(SYSTEM, assignment, state="suspended")
        return assignment
    except CareAccessError:
        return None


def retire(positions, positions_spec):
    for position, spec in zip(positions, positions_spec):
        if spec["retired"]:
            services.update_position(SYSTEM, position, status="retired")


def codes(access) -> dict[str, set[str]]:
    return {
        "assignments": {a.assignment_id for a in access.assignments},
        "organisations": set(access.organisations),
        "role_codes": set(access.role_codes),
        "activity_codes": set(access.activity_codes),
        "service_roles": set(access.service_roles),
    }


def subset(smaller: dict, larger: dict) -> bool:
    return all(smaller[k] <= larger[k] for k in smaller)


@HYPOTHESIS
@given(positions_spec=position_specs, existing=assignment_specs, new=assignment_specs.filter(bool), at=instants)
def test_adding_an_assignment_never_removes_access(clock, positions_spec, existing, new, at):
    def example():
        positions, person = directory(positions_spec)
        for spec in existing:
            assign(person, positions, spec)
        retire(positions, positions_spec)
        before = codes(selectors.effective_access(Person.objects.get(pk=person.pk), at))
        for spec in new:
            assign(person, positions, spec)
        after = codes(selectors.effective_access(Person.objects.get(pk=person.pk), at))
        assert subset(before, after), (before, after)

    in_rollback(example)


@HYPOTHESIS
@given(positions_spec=position_specs, existing=assignment_specs.filter(bool), which=st.integers(0, 4),
       how=st.sampled_from(["state", "ends_on"]), at=instants)
def test_ending_an_assignment_never_adds_access(clock, positions_spec, existing, which, how, at):
    def example():
        positions, person = directory(positions_spec)
        made = [a for a in (assign(person, positions, spec) for spec in existing) if a is not None]
        retire(positions, positions_spec)
        if not made:
            return
        before = codes(selectors.effective_access(Person.objects.get(pk=person.pk), at))
        target = made[which % len(made)]
        if how == "state":
            services.update_assignment(SYSTEM, target, state="ended", reason="property test")
        else:
            # Ending never moves an end date later (that would extend the assignment, which CC9
            # allows as an amendment, not an ending).
            ends_on = max(target.starts_on, TODAY - dt.timedelta(days=1))
            if target.ends_on is not None:
                ends_on = min(ends_on, target.ends_on)
            services.update_assignment(SYSTEM, target, ends_on=ends_on)
        after = codes(selectors.effective_access(Person.objects.get(pk=person.pk), at))
        assert subset(after, before), (before, after)

    in_rollback(example)


@settings(HYPOTHESIS, max_examples=40)
@given(positions_spec=position_specs, existing=assignment_specs.filter(bool), at=instants,
       asks=st.lists(st.tuples(st.sampled_from([*ACTIVITIES, "B0999", *ROLES, "care-portal:nobody"]),
                               st.sampled_from([None, "OPEN1", "SHUT1", "NOPE1"])), min_size=1, max_size=6))
def test_the_lean_decision_path_agrees_with_selectors_decide(clock, positions_spec, existing, at, asks):
    def example():
        positions, person = directory(positions_spec)
        for spec in existing:
            assign(person, positions, spec)
        retire(positions, positions_spec)
        person_row = Person.objects.get(pk=person.pk)
        for wanted, organisation in asks:
            kind = {"service_role": wanted} if ":" in wanted else {"activity": wanted}
            expected = selectors.decide(person_row, organisation_code=organisation, at=at, **kind)
            assert decide_lean(person.uid, organisation_code=organisation, at=at, **kind) == expected
            event(f"allowed={expected.allowed}")

    in_rollback(example)

"""The demo directory: idempotent, all-or-nothing, audited, and true to the rules it illustrates."""

from __future__ import annotations

import io

import pytest
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import TestCase, override_settings

from careaccess.core import clock, permissions
from careaccess.core.audit.models import Entry, Head
from careaccess.directory import demo, rules, selectors
from careaccess.directory.models import (
    Account,
    Activity,
    Assignment,
    JobRole,
    Organisation,
    OrganisationalUnit,
    Person,
    Position,
    Service,
    ServiceRole,
)

MODELS = (Organisation, OrganisationalUnit, Person, JobRole, Activity, Service, ServiceRole, Position, Assignment, Account)


def ledger_size() -> int:
    return Head.objects.size()


def counts() -> dict[str, int]:
    result = {model.__name__: model.objects.count() for model in MODELS}
    result["users"] = get_user_model().objects.count()
    for through in (Position.job_roles.through, Position.activities.through, Position.service_roles.through):
        result[through.__name__] = through.objects.count()
    return result


def code(capability: str) -> str:
    return settings.CAREACCESS_STAFF_ACTIVITIES[capability]


def live_holders(organisation: Organisation, activity: str) -> set[int]:
    """People holding `activity` (directly or through includes) in a live position at `organisation`."""
    live = Assignment.objects.filter(selectors.live_assignment_filter(clock.today()), position__organisation=organisation)
    result = set()
    for assignment in live.prefetch_related("position__activities"):
        direct = {a.code for a in assignment.position.activities.all()}
        if activity in rules.includes_closure(direct, selectors.activity_edges(direct)):
            result.add(assignment.person_id)
    return result


@pytest.mark.django_db
def test_a_failure_part_way_leaves_nothing_half_loaded(monkeypatch):
    before_counts, before_ledger = counts(), ledger_size()
    calls = {"n": 0}
    real = demo.services.create_assignment

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 50:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(demo.services, "create_assignment", failing)
    with pytest.raises(RuntimeError):
        demo.load()
    assert (counts(), ledger_size()) == (before_counts, before_ledger)


@pytest.mark.django_db
def test_the_plan_is_the_same_every_time_and_independent_of_the_database():
    first, second = demo.build_plan(), demo.build_plan()
    assert [(p.ni_number, p.email, p.accounts) for p in first.people] == [(p.ni_number, p.email, p.accounts) for p in second.people]
    assert Person.objects.count() == 0  # building the plan touched nothing


def test_the_shipped_catalogue_matches_the_shared_examples():
    from pathlib import Path

    shared = Path("/work/shared/domain/rbac-examples.csv")
    if shared.exists():
        assert demo.CSV_PATH.read_text() == shared.read_text()
    job_roles, activities = demo.read_catalogue()
    for role, _ in job_roles:
        rules.check_job_role_code(role)
    seen = set()
    for activity, name, includes in activities:
        rules.check_activity_code(activity)
        assert name and set(includes) <= seen, "included activities come first"
        seen.add(activity)
    assert set(settings.CAREACCESS_STAFF_ACTIVITIES.values()) <= seen


# Argon2 as configured costs a third of a second a hash; these tests check sign-in, not the hasher.
@override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"])
class LoadedDemo(TestCase):
    """One load for the class (rolled back after it)."""

    @classmethod
    def setUpTestData(cls):
        cls.ledger_before = ledger_size()
        cls.result = demo.load()
        cls.after_first = (counts(), ledger_size())

    def test_every_row_is_audited_by_the_demo_actor(self):
        assert self.result.created["people"] >= 300 and self.result.created["organisations"] >= 25
        assert self.after_first[1] - self.ledger_before >= self.result.total
        actors = Entry.objects.filter(index__gte=self.ledger_before).values_list("actor", flat=True).distinct()
        assert set(actors) == {"demo"}

    def test_loading_twice_adds_no_rows_and_no_audit_entries(self):
        assert (counts(), ledger_size()) == self.after_first
        second = demo.load()
        assert second.total == 0
        assert (counts(), ledger_size()) == self.after_first

    def test_size(self):
        assert Organisation.objects.count() >= 25
        assert Organisation.objects.filter(kind="gp_practice").count() == 12
        assert 300 <= Person.objects.count() <= 600
        assert Assignment.objects.count() > Person.objects.count()  # locums hold several
        assert Account.objects.count() > Person.objects.count()

    def test_one_icb_oversees_everything_and_its_ra_is_a_unit_of_it(self):
        icb = Organisation.objects.get(kind="icb")
        assert icb.oversees_descendants
        assert OrganisationalUnit.objects.filter(organisation=icb, code="RA").exists()
        for organisation in Organisation.objects.exclude(pk=icb.pk):
            assert icb in selectors.ancestors(organisation), organisation
        assert Position.objects.filter(organisation=icb, unit__code="RA", activities__code=code("ra_agent")).exists()

    def test_every_pharmacy_has_a_sponsor_and_two_sponsors_or_ra_agents(self):  # rule DS4
        pharmacies = Organisation.objects.filter(kind="pharmacy")
        assert pharmacies.count() >= 4
        for pharmacy in pharmacies:
            sponsors = live_holders(pharmacy, code("sponsor"))
            agents = live_holders(pharmacy, code("ra_agent"))
            assert len(sponsors) >= 1, pharmacy
            assert len(sponsors | agents) >= 2, pharmacy

    def test_care_homes_have_valid_unique_cqc_numbers(self):  # rules NM3, NM7
        homes = Organisation.objects.filter(kind="care_home")
        assert homes.count() >= 4
        numbers = [home.cqc_number for home in homes]
        for number in numbers:
            assert rules.normalise_cqc_number(number) == number
        assert len(set(numbers)) == len(numbers)

    def test_care_homes_have_at_most_three_individual_mailboxes(self):  # rule NM4
        for home in Organisation.objects.filter(kind="care_home"):
            people = Assignment.objects.filter(position__organisation=home).values("person_id")
            assert Account.objects.filter(service__code="nhsmail", person_id__in=people).count() <= 3, home

    def test_gp_practice_sponsors_are_authorisers(self):  # rule CC1
        for practice in Organisation.objects.filter(kind="gp_practice"):
            sponsors = live_holders(practice, code("sponsor"))
            assert sponsors, practice
            assert sponsors <= live_holders(practice, code("authoriser")), practice
            for position in Position.objects.filter(organisation=practice, activities__code=code("sponsor")):
                assert position.activities.filter(code=code("authoriser")).exists(), position

    def test_the_trust_has_a_service_desk_and_names_its_authorisers(self):  # rules CC1, CC6
        trust = Organisation.objects.get(kind="trust")
        assert trust.has_service_desk
        assert live_holders(trust, code("service_desk")) and live_holders(trust, code("authoriser"))

    def test_every_care_provider_has_one_lead_correspondent(self):  # rules PP3, PP11
        for provider in Organisation.objects.filter(kind="care_provider"):
            assert len(live_holders(provider, code("lead_correspondent"))) == 1, provider

    def test_services_carry_the_policies_of_the_sources(self):
        cc = Service.objects.get(code="connecting-care")
        assert (cc.approver_kind, cc.sla_days, cc.inactivity_days, cc.allowed_purposes) == ("authoriser", 5, 60, ["direct care"])
        assert {r.name for r in cc.roles.all()} == {"Care Professional", "Administrator"}  # rule CC3
        portal = Service.objects.get(code="provider-portal")
        assert (portal.approver_kind, portal.review_months, portal.inactivity_days) == ("lead_correspondent", 3, 60)
        assert Service.objects.get(code="nhsmail").approver_kind == "sponsor"
        assert Service.objects.get(code="smartcard").card_only

    def test_people_are_valid_and_named_individuals(self):  # rules SC4, PP2
        people = list(Person.objects.all())
        assert len({p.ni_number for p in people}) == len(people)
        assert len({p.email for p in people}) == len(people)
        for person in people:
            assert rules.normalise_ni_number(person.ni_number) == person.ni_number
            assert rules.is_user_id(person.uid)
            local = person.email.split("@")[0]
            assert "." in local and not local.startswith(("info", "admin", "office", "team")), person.email
        for account in Account.objects.filter(service__code="provider-portal").select_related("person"):
            assert account.username == account.person.email

    def test_accounts_come_only_from_positions(self):  # rule SC8: access only through positions
        for account in Account.objects.exclude(service__code="smartcard").select_related("service"):
            assert Position.objects.filter(assignments__person_id=account.person_id,
                                           service_roles__service=account.service).exists(), account
        for account in Account.objects.filter(service__code="smartcard"):
            assert Position.objects.filter(assignments__person_id=account.person_id, job_roles__isnull=False).exists()
            assert account.username == account.person.uid

    def test_each_demo_login_signs_in_and_holds_its_capability(self):
        rows = demo.logins()
        assert [row.actor for row in rows] == list(demo.ACTORS)
        for row in rows:
            user = authenticate(username=row.person.uid, password=demo.demo_password(row.actor))
            assert user is not None and user.pk == row.person.user_id, row.actor
            assert authenticate(username=row.person.uid, password="wrong-password") is None
            held = permissions.capabilities(permissions.actor_for_person(row.person))
            if row.actor == "user":
                assert held == {}
            else:
                assert row.actor in held, (row.actor, held)
                assert any(grant.position_label == row.position for grant in held[row.actor])

    def test_signins_are_audited(self):
        rows = demo.logins()
        entries = Entry.objects.filter(action="person.signin_created", person_uid__in=[r.person.uid for r in rows])
        assert entries.count() == len(rows)
        assert set(entries.values_list("actor", flat=True)) == {"demo"}

    def test_the_commands(self):
        out = io.StringIO()
        call_command("demo", "load", "--no-progress", stdout=out)
        assert "already loaded" in out.getvalue()
        out = io.StringIO()
        call_command("demo", "logins", stdout=out)
        text = out.getvalue()
        for row in demo.logins():
            assert row.person.uid in text and row.password in text

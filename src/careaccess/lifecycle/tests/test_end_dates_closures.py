"""Rules CC9 and DS15 (end dates), PP10 (closures), SC10 (leavers), DS10 (RA agent training),
certificate expiry notices — each with the clock moved."""

import datetime as dt

import pytest

from careaccess.core.errors import InvalidInput
from careaccess.directory import services as directory
from careaccess.directory import testing
from careaccess.directory.models import Account, Assignment, Organisation
from careaccess.lifecycle import services, sweeps
from careaccess.lifecycle.models import Closure

from .conftest import SYSTEM, ledger_size, messages_to


def test_cc9_ds15_locum_loses_one_site_after_its_end_date_and_the_account_only_with_the_last(world, clock):
    today = clock.today()
    locum, account = world.user(world.provider, ends_on=today + dt.timedelta(days=10), given_name="Lou")
    second = directory.create_assignment(SYSTEM, locum, world.gp_carer, ends_on=today + dt.timedelta(days=20))
    first = Assignment.objects.get(person=locum, position=world.provider_carer)

    result = sweeps.end_dates()  # CC9: warned before the end date
    assert result.counts["end-date warnings"] == 1
    assert "ends on" in messages_to(locum.email)[-1].subject

    clock.advance(dt.timedelta(days=10))  # the end date itself: still live (inclusive)
    sweeps.end_dates()
    first.refresh_from_db()
    assert first.state == Assignment.State.ACTIVE

    clock.advance(dt.timedelta(days=1))  # the day after: ended; DS15 the other site's position stays
    size = ledger_size()
    result = sweeps.end_dates()
    first.refresh_from_db(), second.refresh_from_db(), account.refresh_from_db()
    assert first.state == Assignment.State.ENDED and second.state == Assignment.State.ACTIVE
    assert account.state == Account.State.ACTIVE
    assert result.counts["assignments ended"] == 1 and ledger_size() == size + 1

    clock.advance(dt.timedelta(days=10))  # the last position ends: the account is suspended
    result = sweeps.end_dates()
    second.refresh_from_db(), account.refresh_from_db()
    assert second.state == Assignment.State.ENDED and account.state == Account.State.SUSPENDED
    assert result.counts["accounts suspended"] == 1

    size = ledger_size()
    assert sweeps.end_dates().changed == 0  # twice: nothing the second time
    assert ledger_size() == size


def test_cc9_end_dates_dry_run_changes_nothing(world, clock):
    _, account = world.user(ends_on=clock.today())
    clock.advance(dt.timedelta(days=1))
    size = ledger_size()
    result = sweeps.end_dates(dry_run=True)
    assert result.counts["assignments ended"] == 1 and result.counts["accounts suspended"] == 1
    assert Assignment.objects.filter(state=Assignment.State.ENDED).count() == 0
    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE and ledger_size() == size


def test_pp10_planned_closure_in_the_past_is_refused_and_changes_nothing(world, clock):
    size = ledger_size()
    with pytest.raises(InvalidInput) as refused:
        services.record_closure(world.ra_manager, world.provider, False, clock.today() - dt.timedelta(days=1),
                                "Registered manager, letter of 1 June")
    assert "past" in refused.value.errors["on"]
    world.provider.refresh_from_db()
    assert world.provider.status == Organisation.Status.ACTIVE and ledger_size() == size
    assert not Closure.objects.exists()


def test_pp10_planned_closure_suspends_on_the_date_and_successor_positions_start_then(world, clock):
    closing_on = clock.today() + dt.timedelta(days=5)
    staying, staying_account = world.user(world.provider, given_name="Stay")
    moving, moving_account = world.user(world.provider, given_name="Move")
    successor = testing.organisation("VN999", parent="QWO", kind="care_provider")
    new_carer = testing.position(successor, "Carer", service_roles=["provider-portal:carer"])
    with pytest.raises(InvalidInput):
        services.record_closure(world.ra_manager, world.provider, False, closing_on, "")  # PP14: confirmation needed
    closure = services.record_closure(world.ra_manager, world.provider, False, closing_on,
                                      "Registered manager, letter of 1 June", successor=successor)
    replacement = services.schedule_successor_position(world.ra_manager, closure, moving, new_carer)
    assert replacement.starts_on == closing_on

    clock.advance(dt.timedelta(days=4))  # the day before: nothing
    assert sweeps.closures().changed == 0
    staying_account.refresh_from_db()
    assert staying_account.state == Account.State.ACTIVE

    clock.advance(dt.timedelta(days=1))  # the closing date
    size = ledger_size()
    dry = sweeps.closures(dry_run=True)
    assert dry.counts["assignments suspended"] == 3 and dry.counts["accounts suspended"] == 1  # two carers, the lead
    assert ledger_size() == size and Organisation.objects.get(pk=world.provider.pk).status == "closing"
    result = sweeps.closures()
    world.provider.refresh_from_db(), staying_account.refresh_from_db(), moving_account.refresh_from_db()
    assert world.provider.status == Organisation.Status.CLOSED
    assert not Assignment.objects.filter(position__organisation=world.provider, state=Assignment.State.ACTIVE).exists()
    assert staying_account.state == Account.State.SUSPENDED  # PP10: suspended on the date
    assert moving_account.state == Account.State.ACTIVE  # carries on in the successor from the same date
    assert result.counts["organisations closed"] == 1
    closure.refresh_from_db()
    assert closure.processed_at is not None
    size = ledger_size()
    assert sweeps.closures().changed == 0 and ledger_size() == size


def test_pp10_sudden_closure_suspends_at_once(world, clock):
    _, account = world.user(world.provider)
    services.record_closure(world.ra_manager, world.provider, True, None, "Appointed administrator, email today")
    world.provider.refresh_from_db(), account.refresh_from_db()
    assert world.provider.status == Organisation.Status.CLOSED
    assert account.state == Account.State.SUSPENDED
    assert Assignment.objects.filter(position__organisation=world.provider,
                                     state=Assignment.State.SUSPENDED).exists()


def test_pp10_only_ra_managers_record_closures(world, clock):
    from careaccess.core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.record_closure(world.lead, world.provider, True, None, "someone")


def test_sc10_leaver_loses_one_organisations_positions_and_keeps_the_rest(world, clock):
    person, account = world.user(world.provider)
    elsewhere = directory.create_assignment(SYSTEM, person, world.gp_carer)
    services.leave_organisation(world.back_office, person, world.provider)
    assert not Assignment.objects.filter(person=person, position__organisation=world.provider,
                                         state=Assignment.State.ACTIVE).exists()
    elsewhere.refresh_from_db(), account.refresh_from_db()
    assert elsewhere.state == Assignment.State.ACTIVE and account.state == Account.State.ACTIVE


def test_sc10_leavers_sweep_ends_positions_of_people_who_left(world, clock):
    person, account = world.user(world.provider)
    directory.update_person(SYSTEM, person, status="left")
    result = sweeps.leavers()
    account.refresh_from_db()
    assert result.counts["assignments ended"] == 1 and account.state == Account.State.SUSPENDED
    assert sweeps.leavers().changed == 0


def test_ds10_untrained_ra_agent_loses_the_role_through_identitys_function(world, clock, settings):
    from careaccess.identity import services as identity

    settings.CAREACCESS_RA_AGENT_TRAINING_DAYS = 30
    agent = testing.person(given_name="New", family_name="Agent")
    position = testing.position(world.icb, "RA agent", capabilities=["ra_agent"])
    appointment = identity.appoint_ra_agent(world.ra_manager, agent, position)
    clock.advance(dt.timedelta(days=30))
    assert sweeps.ra_training().counts.get("RA agents removed", 0) == 0  # the deadline day itself
    clock.advance(dt.timedelta(days=1))
    assert sweeps.ra_training(dry_run=True).counts["RA agents removed"] == 1
    result = sweeps.ra_training()
    appointment.refresh_from_db()
    assert result.counts["RA agents removed"] == 1 and appointment.state == "removed"
    assert sweeps.ra_training().changed == 0


def test_ds10_ra_agent_is_warned_once_before_the_training_deadline(world, clock, settings):
    from careaccess.identity import services as identity

    settings.CAREACCESS_RA_AGENT_TRAINING_DAYS = 30
    settings.CAREACCESS_RA_TRAINING_WARNING_DAYS = 10
    agent = testing.person(given_name="New", family_name="Agent")
    position = testing.position(world.icb, "RA agent", capabilities=["ra_agent"])
    appointment = identity.appoint_ra_agent(world.ra_manager, agent, position)
    deadline = appointment.training_due_on

    def warnings():
        return [m for m in messages_to(agent.email) if "RA agent training" in m.subject]

    clock.advance(dt.timedelta(days=19))  # the day before the warning day
    assert sweeps.ra_training().changed == 0 and warnings() == []
    clock.advance(dt.timedelta(days=1))  # the warning day: 10 days before the deadline
    assert clock.today() == deadline - dt.timedelta(days=10)
    size = ledger_size()
    assert sweeps.ra_training(dry_run=True).counts == {"RA training warnings": 1} and warnings() == []
    result = sweeps.ra_training()
    assert result.counts == {"RA training warnings": 1} and ledger_size() == size
    [warning] = warnings()
    assert deadline.isoformat() in warning.subject and "rule DS10" in warning.body
    assert warning.kind == "lifecycle.ra-training"
    assert sweeps.ra_training().changed == 0  # once per deadline
    clock.advance(dt.timedelta(days=10))  # the deadline: still no second warning, the role is kept
    assert sweeps.ra_training().changed == 0 and len(warnings()) == 1
    appointment.refresh_from_db()
    assert appointment.state == "awaiting_training"
    clock.advance(dt.timedelta(days=1))  # the day after: removed, not warned again
    removed = sweeps.ra_training()
    assert removed.counts["RA agents removed"] == 1 and removed.changed == 1 and len(warnings()) == 1


def test_ds10_an_ra_agent_trained_under_the_terms_is_not_warned(world, clock, settings):
    from careaccess.identity import services as identity

    settings.CAREACCESS_RA_AGENT_TRAINING_DAYS = 5  # inside the warning window (14 days) at once
    agent = testing.person(given_name="Keen", family_name="Agent")
    position = testing.position(world.icb, "RA agent", capabilities=["ra_agent"])
    identity.appoint_ra_agent(world.ra_manager, agent, position)
    assert sweeps.ra_training(dry_run=True).counts == {"RA training warnings": 1}
    identity.record_training(world.ra_manager, agent, kind="ra_agent", completed_on=clock.today())
    assert sweeps.ra_training(dry_run=True).counts == {"RA training warnings": 1}  # the terms are still due
    identity.publish_terms(SYSTEM, kind="ra_agent", version="1", title="RA agent terms", text="I will check ID.")
    identity.accept_terms(SYSTEM, agent, kind="ra_agent", version="1")
    assert sweeps.ra_training().changed == 0 and messages_to(agent.email) == []


@pytest.fixture
def pki_dir(settings, tmp_path):
    from careaccess.credentials import pki

    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]
    settings.CAREACCESS_PKI_DIR = str(tmp_path / "pki")
    pki.init()


def test_certificate_expiry_notices_90_30_and_7_days_before_once_each(world, clock, pki_dir):
    from careaccess.credentials import testing as credentials_testing

    holder = credentials_testing.verified_person(world.gp)
    card = credentials_testing.card_for(holder)
    expires = card.certificate.not_after
    sent = []
    for days_before in (91, 89, 45, 29, 8, 6, 1):
        clock.set(expires - dt.timedelta(days=days_before))
        result = sweeps.certificates()
        sent.append(result.changed)
        assert sweeps.certificates().changed == 0  # twice: once each
    assert sent == [0, 1, 0, 1, 0, 1, 0]
    assert len([m for m in messages_to(holder.email) if "certificate expires" in m.subject]) == 3


def test_sc10_leaver_keeps_their_card(world, clock, pki_dir):
    from careaccess.credentials import testing as credentials_testing
    from careaccess.credentials.models import Card

    holder = credentials_testing.verified_person(world.provider)
    card = credentials_testing.card_for(holder)
    directory.create_assignment(SYSTEM, holder, world.gp_carer)
    services.leave_organisation(world.back_office, holder, world.provider)
    card.refresh_from_db()
    assert card.state == Card.State.ACTIVE and card.person_id == holder.pk
    assert Assignment.objects.filter(person=holder, position=world.gp_carer, state=Assignment.State.ACTIVE).exists()

"""Rule PP7 (suspended after 60 days unused), PP8 (never deleted), with the clock moved."""

import datetime as dt

from django.core.management import call_command

from careaccess.directory.models import Account
from careaccess.lifecycle import sweeps
from careaccess.lifecycle.models import Notice

from .conftest import ledger_size, messages_to


def test_pp7_not_suspended_at_59_days_but_warned_suspended_at_61(world, clock):
    person, account = world.user(last_used_at=clock.now())
    clock.advance(dt.timedelta(days=59))
    result = sweeps.inactivity()
    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE
    assert result.counts.get("accounts suspended", 0) == 0
    assert result.counts["inactivity warnings"] == 1  # PP7: warned 7 days before (a setting)
    assert "will be suspended on" in messages_to(person.email)[-1].subject

    clock.advance(dt.timedelta(days=2))  # 61 days
    size = ledger_size()
    result = sweeps.inactivity()
    account.refresh_from_db()
    assert account.state == Account.State.SUSPENDED
    assert result.counts["accounts suspended"] == 1
    assert ledger_size() == size + 1  # one audit entry per account
    assert Account.objects.filter(pk=account.pk).exists()  # PP8: suspended, never deleted
    assert "suspended" in messages_to(person.email)[-1].subject


def test_pp7_sweep_twice_changes_nothing_the_second_time(world, clock):
    world.user(last_used_at=clock.now())
    world.user(last_used_at=clock.now() + dt.timedelta(days=5))  # 56 days unused: warned
    clock.advance(dt.timedelta(days=61))
    first = sweeps.inactivity()
    assert first.counts["accounts suspended"] == 1 and first.counts["inactivity warnings"] == 1
    size, notices = ledger_size(), Notice.objects.count()
    second = sweeps.inactivity()
    assert second.changed == 0
    assert ledger_size() == size and Notice.objects.count() == notices


def test_pp7_dry_run_changes_nothing(world, clock):
    _, account = world.user(last_used_at=clock.now())
    clock.advance(dt.timedelta(days=61))
    size, states = ledger_size(), list(Account.objects.values_list("id", "state"))
    result = sweeps.inactivity(dry_run=True)
    assert result.counts["accounts suspended"] == 1
    assert any(account.username in line for line in result.changes)
    assert list(Account.objects.values_list("id", "state")) == states and ledger_size() == size


def test_pp7_never_used_account_counts_from_creation_and_service_limit_applies(world, clock):
    from careaccess.directory import services as directory

    directory.update_service(sweeps.SYSTEM, world.service, inactivity_days=30)  # the service's own limit
    _, account = world.user()
    clock.advance(dt.timedelta(days=29))
    sweeps.inactivity()
    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE
    clock.advance(dt.timedelta(days=2))
    sweeps.inactivity()
    account.refresh_from_db()
    assert account.state == Account.State.SUSPENDED


def test_pp7_cli_dry_run_and_run(world, clock, capsys):
    _, account = world.user(last_used_at=clock.now())
    clock.advance(dt.timedelta(days=61))
    call_command("sweep", "inactivity", "--dry-run")
    out = capsys.readouterr().out
    assert "would change 1 accounts suspended" in out and "Dry run: nothing was changed." in out
    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE
    call_command("sweep", "inactivity")
    account.refresh_from_db()
    assert account.state == Account.State.SUSPENDED
    call_command("sweep", "all")
    assert "inactivity: changed nothing" in capsys.readouterr().out


def test_sweeps_are_registered_as_worker_jobs():
    from careaccess.core.outbox import jobs
    from careaccess.lifecycle import jobs as lifecycle_jobs  # noqa: F401

    names = {j.name for j in jobs.registered()}
    assert {f"lifecycle.{kind}" for kind in sweeps.SWEEPS} <= names

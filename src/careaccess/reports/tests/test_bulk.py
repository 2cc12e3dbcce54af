"""Bulk operations by the RA manager (rule DS17): preview counts, application with one audit entry
per person, all-or-nothing batches, refusals, and the CLI."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from careaccess.core.audit.models import Entry
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.directory import services, testing
from careaccess.directory.models import Account, Assignment
from careaccess.reports import bulk

from .conftest import ledger_size


def entries_since(size):
    return list(Entry.objects.filter(index__gte=size).order_by("index"))


@pytest.mark.django_db
def test_end_assignments_preview_then_apply(world, clock):
    on = clock.today() + dt.timedelta(days=30)
    plan = bulk.plan_end_assignments(world.manager, world.reception, on=on)
    assert plan.count == 2  # Ann and Bob; Dan's has ended
    assert [s.split(" (")[0] for s in plan.sample] == ["Ann Abbott", "Bob Brown"]
    assert Assignment.objects.filter(position=world.reception, ends_on=on).count() == 0  # a preview changes nothing
    before = ledger_size()
    result = bulk.apply(world.manager, plan, batch_size=1)
    assert result.ok and (result.changed, result.batches) == (2, 2)
    assert Assignment.objects.filter(position=world.reception, ends_on=on, state="active").count() == 2
    made = entries_since(before)
    assert [(e.action, e.person_uid) for e in made] == [("assignment.updated", world.ann.uid),
                                                        ("assignment.updated", world.bob.uid)]
    assert all(e.actor_uid == world.manager.person_uid and e.organisation_code == "GPA01" for e in made)
    assert '"ends_on":"' + on.isoformat() in made[0].after
    # Run again: nothing left to change.
    assert bulk.plan_end_assignments(world.manager, world.reception, on=on).count == 2  # same date: still open
    again = bulk.apply(world.manager, bulk.plan_end_assignments(world.manager, world.reception, on=on + dt.timedelta(days=9)))
    assert again.changed == 0


@pytest.mark.django_db
def test_end_assignments_on_a_past_date_ends_them(world, clock):
    on = clock.today() - dt.timedelta(days=1)
    result = bulk.apply(world.manager, bulk.plan_end_assignments(world.manager, world.reception, on=on))
    assert result.changed == 2
    assert set(Assignment.objects.filter(position=world.reception).values_list("state", flat=True)) == {"ended"}
    assert bulk.plan_end_assignments(world.manager, world.reception, on=on).count == 0


@pytest.mark.django_db
def test_suspend_accounts_of_an_organisation_on_a_service(world):
    plan = bulk.plan_suspend_accounts(world.manager, world.gp, world.service)
    assert plan.count == 3  # Ann, Bob, Cat; Dan's account is already suspended
    before = ledger_size()
    result = bulk.apply(world.manager, plan)
    assert result.ok and result.changed == 3
    assert set(Account.objects.filter(person__in=[world.ann, world.bob, world.cat]).values_list("state", flat=True)) == {"suspended"}
    assert Account.objects.get(pk=world.acc_xen.pk).state == "active"  # another organisation's
    made = entries_since(before)
    assert sorted(e.person_uid for e in made) == sorted([world.ann.uid, world.bob.uid, world.cat.uid])
    assert {e.action for e in made} == {"account.updated"}


@pytest.mark.django_db
def test_move_everyone_from_one_position_to_another(world, clock):
    on = clock.today() + dt.timedelta(days=7)
    clerk = testing.position(world.gp, "Clerk")
    services.create_assignment(testing.SYSTEM, world.bob, clerk)  # already there: left alone
    plan = bulk.plan_move_assignments(world.manager, world.reception, clerk, on=on)
    assert plan.count == 1
    before = ledger_size()
    result = bulk.apply(world.manager, plan)
    assert result.ok and result.changed == 1
    old = Assignment.objects.get(person=world.ann, position=world.reception)
    new = Assignment.objects.get(person=world.ann, position=clerk)
    assert old.ends_on == on - dt.timedelta(days=1) and (new.starts_on, new.state) == (on, "active")
    made = entries_since(before)
    assert [(e.action, e.person_uid) for e in made] == [("assignment.moved", world.ann.uid)]
    assert f'"assignment":{new.id}' in made[0].after
    with pytest.raises(InvalidInput):
        bulk.plan_move_assignments(world.manager, clerk, clerk, on=on)


@pytest.mark.django_db
def test_a_failing_batch_changes_nothing_and_is_reported(world, clock):
    clerk = testing.position(world.gp, "Clerk")
    services.create_assignment(testing.SYSTEM, world.cat, world.reception, starts_on=clock.today() + dt.timedelta(days=20))
    # Moving on a date before Cat's start fails her batch; Ann's and Bob's batch goes through.
    plan = bulk.plan_move_assignments(world.manager, world.reception, clerk, on=clock.today() + dt.timedelta(days=10))
    assert plan.count == 3
    before = ledger_size()
    result = bulk.apply(world.manager, plan, batch_size=2)
    assert not result.ok and result.changed == 2 and result.failed[0]["batch"] == 2
    assert "choose a move date after that" in result.describe()
    assert not Assignment.objects.filter(person=world.cat, position=clerk).exists()
    assert Assignment.objects.get(person=world.cat, position=world.reception).ends_on is None
    assert ledger_size() == before + 2


@pytest.mark.django_db
def test_only_ra_managers_apply_bulk_changes(world, clock):
    for who in (world.agent, world.auditor, world.sponsor):
        with pytest.raises(Forbidden):
            bulk.plan_end_assignments(who, world.reception, on=clock.today())
    with pytest.raises(Forbidden):  # an RA manager outside the organisation's tree
        other_manager = testing.staff(world.other, "ra_manager", name="Otto")
        bulk.plan_suspend_accounts(other_manager, world.gp, world.service)
    with pytest.raises(InvalidInput):
        bulk.plan_end_assignments(world.manager, world.reception, on="31/12/2026")


@pytest.mark.django_db
def test_cli_previews_and_applies(world, clock):
    on = (clock.today() + dt.timedelta(days=30)).isoformat()
    out = io.StringIO()
    before = ledger_size()
    call_command("bulk", "end-assignments", "--organisation", "gpa01", "--position", "Receptionist", "--on", on,
                 "--as", world.manager.person_uid, stdout=out, stderr=io.StringIO())
    assert "2 to change" in out.getvalue() and "Nothing changed" in out.getvalue() and ledger_size() == before
    out = io.StringIO()
    call_command("bulk", "end-assignments", "--organisation", "GPA01", "--position", "Receptionist", "--on", on,
                 "--as", world.manager.person_uid, "--yes", stdout=out, stderr=io.StringIO())
    assert "2 of 2 changed in 1 batches" in out.getvalue() and ledger_size() == before + 2
    with pytest.raises(CommandError, match="may not"):
        call_command("bulk", "suspend-accounts", "--organisation", "GPA01", "--service", "connecting-care",
                     "--as", world.agent.person_uid, stdout=io.StringIO())
    with pytest.raises(CommandError, match="no position"):
        call_command("bulk", "end-assignments", "--organisation", "GPA01", "--position", "Nope", "--on", on,
                     stdout=io.StringIO())


@pytest.mark.django_db
def test_bulk_page_previews_then_applies(client, world, clock):
    from .conftest import sign_in

    sign_in(client, world.manager)
    on = (clock.today() + dt.timedelta(days=30)).isoformat()
    fields = {"operation": "end-assignments", "organisation": "gpa01", "position": "Receptionist", "on": on}
    assert "Bulk changes" in client.get("/reports/bulk").content.decode()
    before = ledger_size()
    preview = client.get("/reports/bulk", fields).content.decode()
    assert "This changes 2 people." in preview and "Ann Abbott" in preview and "Apply to 2 people" in preview
    assert ledger_size() == before
    stale = client.post("/reports/bulk", {**fields, "confirm": "5"}).content.decode()
    assert "changed since the preview" in stale and ledger_size() == before
    done = client.post("/reports/bulk", {**fields, "confirm": "2"}).content.decode()
    assert "2 of 2 changed in 1 batches" in done and ledger_size() == before + 2
    missing = client.get("/reports/bulk", {"operation": "move-assignments", "organisation": "GPA01"}).content.decode()
    assert "nhsuk-error-summary" in missing and "Enter the name of the position to move people to" in missing


@pytest.mark.django_db
def test_bulk_page_is_for_ra_managers(client, world):
    from .conftest import sign_in

    sign_in(client, world.auditor)
    assert client.get("/reports/bulk").status_code == 403


@pytest.mark.django_db
def test_cli_moves_with_the_same_lookups_as_the_page(world, clock):  # rule DS17
    on = (clock.today() + dt.timedelta(days=7)).isoformat()
    testing.position(world.gp, "Clerk")
    out = io.StringIO()
    call_command("bulk", "move-assignments", "--organisation", "GPA01", "--position", "Receptionist", "--to", "Clerk",
                 "--on", on, "--as", world.manager.person_uid, stdout=out, stderr=io.StringIO())
    assert "Move everyone in Receptionist (GPA01) to Clerk (GPA01)" in out.getvalue()
    with pytest.raises(CommandError, match="No organisation has the code NOPE"):
        call_command("bulk", "move-assignments", "--organisation", "GPA01", "--position", "Receptionist",
                     "--to", "Clerk", "--to-organisation", "nope", "--on", on, stdout=io.StringIO())

"""Lifecycle writes that staff make: recording a closure (PP10), scheduling the successor's
positions for the same date, and a leaver leaving one organisation (SC10)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, InvalidInput
from careaccess.directory import services as directory
from careaccess.directory.models import Account, Assignment, Organisation, Person, Position

from . import sweeps
from .models import Closure


def _as_date(value, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput({field: "enter a date as YYYY-MM-DD"}) from None


def _checked_closure(organisation: Organisation, sudden: bool, on, confirmation: str,
                     successor: Organisation | None) -> tuple[dt.date, str]:
    """The closure's effective date and confirmation, or InvalidInput naming every wrong field."""
    today = clock.today()
    on = _as_date(on, "on") if on not in (None, "") else (today if sudden else None)
    errors = {}
    confirmation = (confirmation or "").strip()
    if not confirmation:
        errors["confirmation"] = ("say who confirmed the closure in writing, with authority (a registered manager, "
                                  "an appointed administrator: rule PP14)")
    if on is None:
        errors["on"] = "give the date the planned closure takes effect"
    elif not sudden and on < today:
        errors["on"] = (f"a planned closure cannot be dated in the past ({on.isoformat()}); give today or a later "
                        f"date, or record a sudden closure")
    elif sudden and on > today:
        errors["on"] = "a sudden closure has already happened; give today's date or an earlier one"
    if successor is not None and successor.pk == organisation.pk:
        errors["successor"] = "the successor must be another organisation"
    if errors:
        raise InvalidInput(errors)
    return (min(on, today) if sudden else on), confirmation


@dataclass(frozen=True)
class ClosurePlan:
    """What recording a closure will do (the confirmation step): nothing is changed to make it."""

    organisation: Organisation
    sudden: bool
    closes_on: dt.date
    confirmation: str
    successor: Organisation | None
    assignments: int  # the organisation's active assignments, suspended on the closing date
    accounts: int  # active accounts whose holders keep no live position elsewhere, suspended with them


def plan_closure(actor: Actor, organisation: Organisation, sudden: bool, on=None, confirmation: str = "",
                 successor: Organisation | None = None) -> ClosurePlan:
    """Rule PP10: checks a closure as `record_closure` does and counts what it suspends (two COUNTs)."""
    closes_on, confirmation = _checked_closure(organisation, sudden, on, confirmation, successor)
    permissions.authorise(actor, "organisation.close", organisation)
    if organisation.status == Organisation.Status.CLOSED:
        raise Conflict(f"{organisation.name} is already closed")
    held = Assignment.objects.filter(position__organisation=organisation, state=Assignment.State.ACTIVE)
    elsewhere = Assignment.objects.filter(sweeps.current_or_future_assignment(closes_on),
                                          person=OuterRef("person")).exclude(position__organisation=organisation)
    accounts = Account.objects.filter(Exists(held.filter(person=OuterRef("person"))), ~Exists(elsewhere),
                                      state=Account.State.ACTIVE)
    return ClosurePlan(organisation, sudden, closes_on, confirmation, successor, held.count(), accounts.count())


@transaction.atomic
def record_closure(actor: Actor, organisation: Organisation, sudden: bool, on=None, confirmation: str = "",
                   successor: Organisation | None = None) -> Closure:
    """Rule PP10. Planned: the organisation is closing on `on` (today or later; a date in the past
    is refused) and the closures sweep suspends its assignments and accounts that day. Sudden: they
    are suspended now. `confirmation` is the written confirmation from someone with authority (PP14)."""
    effective, confirmation = _checked_closure(organisation, sudden, on, confirmation, successor)
    acting = permissions.authorise(actor, "organisation.close", organisation)
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    if organisation.status == Organisation.Status.CLOSED:
        raise Conflict(f"{organisation.name} is already closed")
    directory.update_organisation(acting, organisation, status=Organisation.Status.CLOSING, closes_on=effective)
    closure = Closure.objects.create(organisation=organisation, sudden=sudden, closes_on=effective,
                                     confirmation=confirmation, successor=successor, recorded_by_label=acting.label,
                                     recorded_at=clock.now())
    ledger.record("organisation.closure_recorded", actor=acting, target_type="closure", target_id=closure.pk,
                  after={"sudden": sudden, "closes_on": effective, "successor": successor.code if successor else None,
                         "confirmation": confirmation}, organisation_code=organisation.code,
                  reason="sudden closure: suspended on notification (rule PP10)" if sudden
                  else "planned closure: suspensions scheduled for the closing date (rule PP10)")
    if sudden:
        organisation.refresh_from_db()
        sweeps.close_organisations([organisation], actor=acting, dry_run=False,
                                   result=sweeps.SweepResult("closures", False))
    return closure


@transaction.atomic
def schedule_successor_position(actor: Actor, closure: Closure, person: Person, position: Position) -> Assignment:
    """PP10: the replacement access in the successor organisation starts on the closing date."""
    if closure.successor_id is None:
        raise InvalidInput({"position": "this closure names no successor organisation"})
    if position.organisation_id != closure.successor_id:
        raise InvalidInput({"position": f"choose a position at the successor, {closure.successor.name}"})
    return directory.create_assignment(actor, person, position, starts_on=max(closure.closes_on, clock.today()))


@transaction.atomic
def leave_organisation(actor: Actor, person: Person, organisation: Organisation, *, on=None,
                       reason: str = "") -> list[Assignment]:
    """SC10: a leaver loses that organisation's positions only; their card stays theirs and their
    positions elsewhere are untouched. Without `on` (their last day) or with a past one, the
    positions end now; with a later one they end after it (the end-dates sweep ends them). An
    account left with no position anywhere is suspended (never deleted, PP8)."""
    today = clock.today()
    last_day = _as_date(on, "on") if on not in (None, "") else None
    held = list(Assignment.objects.filter(person=person, position__organisation=organisation,
                                          state=Assignment.State.ACTIVE).order_by("id"))
    if not held:
        raise InvalidInput({"organisation": f"{person.uid} holds no active position at {organisation.code}"})
    why = reason or f"left {organisation.name} (rule SC10)"
    for assignment in held:
        if last_day is None or last_day < today:
            ends_on = max(assignment.starts_on, min(last_day or today, today))
            directory.update_assignment(actor, assignment, state=Assignment.State.ENDED, ends_on=ends_on, reason=why)
        elif assignment.ends_on is None or assignment.ends_on > last_day:
            directory.update_assignment(actor, assignment, ends_on=max(assignment.starts_on, last_day), reason=why)
    sweeps.suspend_accounts(sweeps.orphaned_accounts(today).filter(person=person), actor=actor, dry_run=False,
                            reason=f"no live position remains after leaving {organisation.name} (rule SC10)",
                            result=sweeps.SweepResult("leavers", False))
    return list(Assignment.objects.filter(pk__in=[a.pk for a in held]).order_by("id"))

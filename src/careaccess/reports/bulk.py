"""Bulk operations by the RA manager (rule DS17): one change applied to everyone in a position or an
organisation.

Each operation is planned first (`plan_*`: which rows, a preview count and sample, nothing
written), then applied in batches: each batch is one transaction that locks its rows, changes them
with set-based UPDATEs or one bulk INSERT, and writes one audit entry per person. A batch that fails
is rolled back whole and reported; the batches already applied stay applied (each is complete and
audited), and running the operation again picks up only the rows still to change.

Operations:
- `end_assignments`: every active assignment of a position ends on a date (the state becomes
  ended when the date is already past);
- `suspend_accounts`: every active or pending account on a service of the people holding a
  position at an organisation is suspended (never deleted, rule PP8);
- `move_assignments`: everyone in position A is moved to position B on a date: the old assignment
  ends the day before, a new one starts on the date (people already in B are left alone).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from django.conf import settings
from django.db import DatabaseError, transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError, InvalidInput
from careaccess.directory.models import Account, Assignment, Organisation, Person, Position, Service

BATCH_SIZE = 500
OPERATIONS = ("end-assignments", "suspend-accounts", "move-assignments")


@dataclass
class Plan:
    operation: str
    description: str
    organisation: Organisation
    ids: list[int]  # the rows to change, in order
    sample: list[str]  # a few of the people affected, for the preview
    apply_batch: Callable[[Actor, list[int]], int]
    params: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass
class Result:
    operation: str
    planned: int
    changed: int = 0
    batches: int = 0
    failed: list[dict] = field(default_factory=list)  # {"batch": n, "rows": k, "error": "..."}

    @property
    def ok(self) -> bool:
        return not self.failed

    def describe(self) -> str:
        text = f"{self.operation}: {self.changed} of {self.planned} changed in {self.batches} batches"
        if self.failed:
            rows = sum(f["rows"] for f in self.failed)
            text += f"; {len(self.failed)} batches ({rows} rows) failed and changed nothing: " + "; ".join(
                f"batch {f['batch']}: {f['error']}" for f in self.failed)
        return text


def _date(value, name: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput({name: "enter a date as YYYY-MM-DD"}) from None


def _sample(person_ids: list[int]) -> list[str]:
    people = Person.objects.filter(id__in=person_ids[:10]).order_by("family_name", "given_name", "id")
    return [f"{p.given_name} {p.family_name} ({p.uid})" for p in people]


def _audit(actor: Actor, action: str, target_type: str, target_id, *, before, after, person_uid: str,
           organisation_code: str | None, reason: str) -> None:
    ledger.record(action, actor=actor, target_type=target_type, target_id=target_id, before=before, after=after,
                  person_uid=person_uid, organisation_code=organisation_code, reason=reason)


# --- end every assignment of a position on a date ---

def plan_end_assignments(actor: Actor, position: Position, *, on, reason: str = "") -> Plan:
    on = _date(on, "on")
    organisation = position.organisation
    acting = permissions.authorise(actor, "bulk.apply", organisation)
    # Every assignment not yet ended; one already ending before the date keeps its earlier end.
    ending = list(Assignment.objects.filter(position=position).exclude(state=Assignment.State.ENDED)
                  .exclude(ends_on__lt=on).order_by("id").values_list("id", "person_id"))
    why = reason or f"bulk: every assignment of {position.name} at {organisation.code} ends on {on.isoformat()}"

    def apply_batch(actor_: Actor, ids: list[int]) -> int:
        locked = list(Assignment.objects.select_for_update().filter(id__in=ids).exclude(state=Assignment.State.ENDED)
                      .exclude(ends_on__lt=on).select_related("person").order_by("id"))
        now = clock.now()
        state = Assignment.State.ENDED if on < clock.today() else None
        changes = {"ends_on": on, "updated_at": now, **({"state": state} if state else {})}
        Assignment.objects.filter(id__in=[a.id for a in locked]).update(**changes)
        for a in locked:
            _audit(acting, "assignment.updated", "assignment", a.id,
                   before={"ends_on": a.ends_on, "state": a.state},
                   after={"ends_on": on, "state": state or a.state}, person_uid=a.person.uid,
                   organisation_code=organisation.code, reason=why)
        return len(locked)

    return Plan("end-assignments", f"End every assignment of {position.name} at {organisation.code} on {on.isoformat()}",
                organisation, [a for a, _ in ending], _sample([p for _, p in ending]), apply_batch,
                {"position": position.id, "on": on.isoformat()})


# --- suspend every account on a service of an organisation's people ---

def plan_suspend_accounts(actor: Actor, organisation: Organisation, service: Service, *, reason: str = "") -> Plan:
    acting = permissions.authorise(actor, "bulk.apply", organisation)
    placed = Assignment.objects.filter(position__organisation=organisation).exclude(
        state=Assignment.State.ENDED).values("person_id")
    accounts = list(Account.objects.filter(service=service, person_id__in=placed,
                                           state__in=(Account.State.ACTIVE, Account.State.PENDING))
                    .order_by("id").values_list("id", "person_id"))
    why = reason or f"bulk: accounts on {service.code} of {organisation.code}'s people suspended"

    def apply_batch(actor_: Actor, ids: list[int]) -> int:
        locked = list(Account.objects.select_for_update().filter(
            id__in=ids, state__in=(Account.State.ACTIVE, Account.State.PENDING)).select_related("person").order_by("id"))
        Account.objects.filter(id__in=[a.id for a in locked]).update(state=Account.State.SUSPENDED, updated_at=clock.now())
        for a in locked:
            _audit(acting, "account.updated", "account", a.id, before={"state": a.state},
                   after={"state": Account.State.SUSPENDED}, person_uid=a.person.uid,
                   organisation_code=organisation.code, reason=why)
        return len(locked)

    return Plan("suspend-accounts", f"Suspend every account on {service.name} of the people at {organisation.code}",
                organisation, [a for a, _ in accounts], _sample([p for _, p in accounts]), apply_batch,
                {"organisation": organisation.code, "service": service.code})


# --- move everyone from position A to position B ---

def plan_move_assignments(actor: Actor, source: Position, target: Position, *, on, reason: str = "") -> Plan:
    on = _date(on, "on")
    if source.pk == target.pk:
        raise InvalidInput({"target": "choose a different position to move people to"})
    if target.status != Position.Status.ACTIVE:
        raise InvalidInput({"target": f"position {target.name} is retired; choose an active position"})
    if target.organisation.status == Organisation.Status.CLOSED:
        raise InvalidInput({"target": f"{target.organisation.name} is closed; nobody can be placed in its positions"})
    acting = permissions.authorise(actor, "bulk.apply", source.organisation)
    permissions.authorise(actor, "bulk.apply", target.organisation)
    already = Assignment.objects.filter(position=target).exclude(state=Assignment.State.ENDED).exclude(
        ends_on__lt=on).values("person_id")
    rows = list(Assignment.objects.filter(position=source).exclude(state=Assignment.State.ENDED)
                .exclude(ends_on__lt=on).exclude(person_id__in=already).order_by("id").values_list("id", "person_id"))
    why = reason or f"bulk: moved from {source.name} to {target.name} on {on.isoformat()}"
    day_before = on - dt.timedelta(days=1)

    def apply_batch(actor_: Actor, ids: list[int]) -> int:
        taken = Assignment.objects.filter(position=target).exclude(state=Assignment.State.ENDED).exclude(
            ends_on__lt=on).values("person_id")
        locked = list(Assignment.objects.select_for_update().filter(id__in=ids).exclude(state=Assignment.State.ENDED)
                      .exclude(ends_on__lt=on).exclude(person_id__in=taken).select_related("person").order_by("id"))
        now = clock.now()
        ended_state = Assignment.State.ENDED if day_before < clock.today() else None
        for a in locked:
            # Starting later than the old one ended would leave a day of the new one before its start.
            if a.starts_on > day_before:
                raise InvalidInput({"on": f"{a.person.uid} started in {source.name} on {a.starts_on.isoformat()}: "
                                          f"choose a move date after that"})
        ended = {"ends_on": day_before, "updated_at": now, **({"state": ended_state} if ended_state else {})}
        Assignment.objects.filter(id__in=[a.id for a in locked]).update(**ended)
        created = Assignment.objects.bulk_create([
            Assignment(person_id=a.person_id, position=target, starts_on=on, ends_on=a.ends_on,
                       state=Assignment.State.ACTIVE, created_at=now, updated_at=now) for a in locked])
        new_ids = {c.person_id: c.id for c in created if c.id is not None}
        if len(new_ids) != len(locked):  # a database that does not return ids: read them back
            new_ids = dict(Assignment.objects.filter(position=target, starts_on=on, created_at=now,
                                                     person_id__in=[a.person_id for a in locked])
                           .values_list("person_id", "id"))
        for a in locked:
            _audit(acting, "assignment.moved", "assignment", a.id,
                   before={"assignment": a.id, "position_id": source.id, "ends_on": a.ends_on, "state": a.state},
                   after={"assignment": new_ids.get(a.person_id), "position_id": target.id, "starts_on": on,
                          "ends_on": a.ends_on, "previous_ends_on": day_before},
                   person_uid=a.person.uid, organisation_code=source.organisation.code, reason=why)
        return len(locked)

    return Plan("move-assignments", f"Move everyone in {source.name} ({source.organisation.code}) to {target.name} "
                f"({target.organisation.code}) on {on.isoformat()}", source.organisation,
                [a for a, _ in rows], _sample([p for _, p in rows]), apply_batch,
                {"source": source.id, "target": target.id, "on": on.isoformat()})


def apply(actor: Actor, plan: Plan, *, batch_size: int | None = None,
          progress: Callable[[int], None] | None = None) -> Result:
    """Apply the plan a batch at a time, each batch all-or-nothing; a failed batch is reported, not fatal."""
    acting = permissions.authorise(actor, "bulk.apply", plan.organisation)
    size = batch_size or getattr(settings, "CAREACCESS_BULK_BATCH_SIZE", BATCH_SIZE)
    result = Result(plan.operation, plan.count)
    for number, start in enumerate(range(0, plan.count, size), start=1):
        ids = plan.ids[start:start + size]
        try:
            with transaction.atomic():
                result.changed += plan.apply_batch(acting, ids)
        except CareAccessError as exc:
            result.failed.append({"batch": number, "rows": len(ids), "error": exc.message})
        except DatabaseError as exc:
            result.failed.append({"batch": number, "rows": len(ids), "error": f"database refused the batch: {exc}"})
        result.batches += 1
        if progress:
            progress(len(ids))
    return result


def plan_from(actor: Actor, fields: dict) -> Plan:
    """A plan from a form's fields (the bulk page): names resolved, every missing field reported at once."""
    operation = (fields.get("operation") or "").strip()
    if operation not in OPERATIONS:
        raise InvalidInput({"operation": "Choose what to change"})
    needed = {"organisation": "Enter the organisation code"}
    if operation in ("end-assignments", "move-assignments"):
        needed.update(position="Enter the position's name", on="Enter the date, as YYYY-MM-DD")
    if operation == "move-assignments":
        needed["target"] = "Enter the name of the position to move people to"
    if operation == "suspend-accounts":
        needed["service"] = "Enter the service code"
    errors = {name: message for name, message in needed.items() if not (fields.get(name) or "").strip()}
    if errors:
        raise InvalidInput(errors)

    def organisation(name: str) -> Organisation:
        code = fields[name].strip().upper()
        found = Organisation.objects.filter(code=code).first()
        if found is None:
            raise InvalidInput({name: f"No organisation has the code {code}"})
        return found

    def position(org: Organisation, name: str) -> Position:
        found = Position.objects.filter(organisation=org, name=fields[name].strip()).select_related("organisation").first()
        if found is None:
            raise InvalidInput({name: f"{org.code} has no position named {fields[name].strip()}"})
        return found

    org = organisation("organisation")
    reason = (fields.get("reason") or "").strip()[:300]
    if operation == "end-assignments":
        return plan_end_assignments(actor, position(org, "position"), on=fields["on"].strip(), reason=reason)
    if operation == "suspend-accounts":
        service = Service.objects.filter(code=fields["service"].strip()).first()
        if service is None:
            raise InvalidInput({"service": f"No service has the code {fields['service'].strip()}"})
        return plan_suspend_accounts(actor, org, service, reason=reason)
    target_org = organisation("target_organisation") if (fields.get("target_organisation") or "").strip() else org
    return plan_move_assignments(actor, position(org, "position"), position(target_org, "target"),
                                 on=fields["on"].strip(), reason=reason)

"""The lifecycle sweeps (issue 6): set-based, batched, idempotent, audited, notifying through the outbox.

Each sweep selects the ids it will change in one query, then changes them in batches: per batch,
one transaction that locks the batch's rows (re-checking the condition, so a concurrent run or a
change made meanwhile is respected), one UPDATE statement for the whole batch, one audit entry per
account or assignment (`ledger.record`) and the notifications, written to the outbox in the same
transaction. A second run finds nothing to change. `dry_run=True` reports what would change and
writes nothing.

Kinds: inactivity (PP7, PP8), end-dates (CC9, DS15), closures (PP10), leavers (SC10),
ra-training (DS10, through identity's own function), certificates (expiry notices 90/30/7 days),
campaigns (PP6: open the due review campaigns) and escalations (PP6: undecided items at the deadline).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from careaccess.core import clock
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.outbox.services import enqueue_many
from careaccess.directory.models import Account, Assignment, Organisation, Person, Service

from . import policy
from .models import Closure, Notice

SYSTEM = Actor.system("lifecycle sweep")
Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class SweepResult:
    kind: str
    dry_run: bool
    changes: list[str] = field(default_factory=list)  # one line per thing changed (or that would be)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        self.counts[what] = self.counts.get(what, 0) + n

    @property
    def changed(self) -> int:
        return sum(self.counts.values())


def batched(items: Sequence, size: int | None = None) -> Iterable[Sequence]:
    size = size or policy.sweep_batch_size()
    for start in range(0, len(items), size):
        yield items[start:start + size]


def queue_messages(rows: Iterable[tuple[str, str, str, str, str]]) -> int:
    """Outbox messages (to, subject, body, kind, cause) in the caller's transaction through
    `outbox.services.enqueue_many`; people without an address get none."""
    return enqueue_many({"to": to, "subject": subject[:300], "body": body, "kind": kind, "cause": cause[:100]}
                        for to, subject, body, kind, cause in rows if to)


def _tick(progress: Progress | None, what: str, done: int, total: int) -> None:
    if progress is not None:
        progress(what, done, total)


# --- shared: accounts that lost their last position ---

def current_or_future_assignment(on: dt.date, prefix: str = "") -> Q:
    """An assignment that gives (or will give) access: active, not past its end, organisation open,
    holder not recorded as left."""
    p = prefix
    open_org = Q(**{f"{p}position__organisation__status": Organisation.Status.ACTIVE}) | Q(
        **{f"{p}position__organisation__status": Organisation.Status.CLOSING,
           f"{p}position__organisation__closes_on__gt": on})
    return (Q(**{f"{p}state": Assignment.State.ACTIVE}) & (Q(**{f"{p}ends_on__isnull": True}) | Q(**{f"{p}ends_on__gte": on}))
            & open_org & ~Q(**{f"{p}person__status": Person.Status.LEFT}))


def orphaned_accounts(on: dt.date):
    """Active accounts whose holder had positions and now holds none, live or to come (CC9, PP10,
    SC10). Positions the sweeps are about to end or suspend (past their end date, at an
    organisation past its closing date, of someone who left) already count as lost, so a dry run
    lists the same accounts a real run suspends."""
    had = Assignment.objects.filter(person=OuterRef("person")).exclude(current_or_future_assignment(on))
    holds = Assignment.objects.filter(current_or_future_assignment(on), person=OuterRef("person"))
    return Account.objects.filter(Exists(had), ~Exists(holds), state=Account.State.ACTIVE)


def suspend_accounts(queryset, *, actor: Actor, reason: str, result: SweepResult, dry_run: bool,
                     progress: Progress | None = None, what: str = "accounts suspended",
                     message: Callable[[tuple], tuple[str, str]] | None = None) -> None:
    """Suspend (never delete, PP8) the active accounts of `queryset`, batch by batch."""
    fields = ("id", "username", "person__uid", "person__email", "service__name")
    rows = list(queryset.filter(state=Account.State.ACTIVE).order_by("id").values_list(*fields))
    if dry_run:
        result.changes += [f"suspend account {r[1]} of {r[2]} on {r[4]}" for r in rows]
        result.add(what, len(rows))
        return
    now = clock.now()
    done = 0
    for batch in batched([r[0] for r in rows]):
        with transaction.atomic():
            locked = list(queryset.select_for_update(of=("self",)).filter(id__in=batch, state=Account.State.ACTIVE)
                          .order_by("id").values_list(*fields))
            ids = [r[0] for r in locked]
            Account.objects.filter(id__in=ids).update(state=Account.State.SUSPENDED, updated_at=now)
            ledger.record_many([
                ledger.Change("account.suspended", actor=actor, target_type="account", target_id=account_id,
                              before={"state": Account.State.ACTIVE}, after={"state": Account.State.SUSPENDED},
                              person_uid=uid, reason=reason)
                for account_id, username, uid, email, service_name in locked
            ])
            queue_messages(
                (r[3], *(message(r) if message else (
                    f"Your {r[4]} account is suspended",
                    f"Your {r[4]} account ({r[1]}) was suspended: {reason}.\n\nIt was not deleted. To have it "
                    f"reinstated, ask at {policy.site_url()}/lifecycle/reinstate from this email address.\n")),
                 "lifecycle.suspended", f"account:{r[0]}") for r in locked)
        result.changes += [f"suspended account {r[1]} of {r[2]} on {r[4]}" for r in locked]
        result.add(what, len(locked))
        done += len(batch)
        _tick(progress, what, done, len(rows))


def change_assignments(queryset, *, state: str, actor: Actor, reason: str, result: SweepResult, dry_run: bool,
                       progress: Progress | None = None, what: str, action: str,
                       notify: Callable[[tuple], tuple[str, str, str]] | None = None) -> set[int]:
    """Move the assignments of `queryset` to `state` batch by batch; returns the people affected."""
    fields = ("id", "person_id", "person__uid", "position__name", "position__organisation__code", "state",
              "ends_on", "person__email")
    rows = list(queryset.order_by("id").values_list(*fields))
    if dry_run:
        result.changes += [f"{action.split('.')[-1].replace('_', ' ')}: {r[2]} in {r[3]} at {r[4]}" for r in rows]
        result.add(what, len(rows))
        return {r[1] for r in rows}
    now = clock.now()
    people: set[int] = set()
    done = 0
    for batch in batched([r[0] for r in rows]):
        with transaction.atomic():
            locked = list(queryset.select_for_update(of=("self",)).filter(id__in=batch).order_by("id")
                          .values_list(*fields))
            Assignment.objects.filter(id__in=[r[0] for r in locked]).update(state=state, updated_at=now)
            ledger.record_many([
                ledger.Change(action, actor=actor, target_type="assignment", target_id=assignment_id,
                              before={"state": before, "ends_on": ends_on}, after={"state": state, "ends_on": ends_on},
                              person_uid=uid, organisation_code=org_code, reason=reason)
                for assignment_id, person_id, uid, position, org_code, before, ends_on, _ in locked
            ])
            people.update(r[1] for r in locked)
            if notify:
                queue_messages((*notify(r), "lifecycle.assignment", f"assignment:{r[0]}") for r in locked)
        result.changes += [f"{action.split('.')[-1].replace('_', ' ')}: {r[2]} in {r[3]} at {r[4]}" for r in locked]
        result.add(what, len(locked))
        done += len(batch)
        _tick(progress, what, done, len(rows))
    return people


def send_notices(candidates: list[tuple[str, str, str, str]], *, kind: str, result: SweepResult, dry_run: bool,
                 what: str) -> None:
    """Warnings sent once each: candidates are (key, to, subject, body); keys already sent are skipped."""
    fresh = []
    for batch in batched(candidates):
        sent = set(Notice.objects.filter(key__in=[c[0] for c in batch]).values_list("key", flat=True))
        fresh += [c for c in batch if c[0] not in sent]
    result.changes += [f"{what}: {c[2]} -> {c[1] or '(no address)'}" for c in fresh]
    result.add(what, len(fresh))
    if dry_run:
        return
    now = clock.now()
    for batch in batched(fresh):
        with transaction.atomic():
            Notice.objects.bulk_create([Notice(key=c[0], kind=kind, sent_at=now) for c in batch], ignore_conflicts=True)
            queue_messages((c[1], c[2], c[3], f"lifecycle.{kind}", c[0][:100]) for c in batch)


# --- inactivity (PP7, PP8) ---

def inactivity(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None) -> SweepResult:
    """An account not used for its service's `inactivity_days` is suspended, never deleted; its
    holder is warned `CAREACCESS_INACTIVITY_WARNING_DAYS` before. A never-used account counts from
    its creation."""
    result = SweepResult("inactivity", dry_run)
    now = clock.now()
    warn_days = policy.inactivity_warning_days()
    for service in Service.objects.filter(status=Service.Status.ACTIVE).order_by("id"):
        limit = now - dt.timedelta(days=service.inactivity_days)
        stale = Q(last_used_at__lt=limit) | Q(last_used_at__isnull=True, created_at__lt=limit)
        suspend_accounts(
            Account.objects.filter(stale, service=service), actor=actor, dry_run=dry_run, progress=progress,
            reason=f"not used for {service.inactivity_days} days (rule PP7)", result=result)
        soon = limit + dt.timedelta(days=warn_days)
        warn = (Q(last_used_at__gte=limit, last_used_at__lt=soon)
                | Q(last_used_at__isnull=True, created_at__gte=limit, created_at__lt=soon))
        rows = Account.objects.filter(warn, service=service, state=Account.State.ACTIVE).values_list(
            "id", "username", "last_used_at", "created_at", "person__email")
        candidates = []
        for account_id, username, used, created, email in rows:
            basis = used or created
            on = (basis + dt.timedelta(days=service.inactivity_days)).astimezone(clock.local_zone()).date()
            candidates.append((f"inactivity:{account_id}:{basis.isoformat()}", email,
                               f"Your {service.name} account will be suspended on {on.isoformat()}",
                               f"Your {service.name} account ({username}) has not been used since "
                               f"{basis.astimezone(clock.local_zone()).date().isoformat()}. Accounts not used for "
                               f"{service.inactivity_days} days are suspended (rule PP7): sign in before "
                               f"{on.isoformat()} to keep it.\n"))
        send_notices(candidates, kind="inactivity", result=result, dry_run=dry_run, what="inactivity warnings")
    return result


# --- end dates (CC9, DS15) ---

def end_dates(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None,
              only: Iterable[int] | None = None) -> SweepResult:
    """Assignments past their end date end; accounts that lose their last position are suspended;
    temporary staff and locums are warned `CAREACCESS_END_DATE_WARNING_DAYS` before."""
    result = SweepResult("end-dates", dry_run)
    today = clock.today()
    past = Assignment.objects.filter(state=Assignment.State.ACTIVE, ends_on__lt=today)
    if only is not None:
        past = past.filter(id__in=list(only))
    change_assignments(past, state=Assignment.State.ENDED, actor=actor, dry_run=dry_run, progress=progress,
                       reason="end date passed (rules CC9, DS15)", result=result, what="assignments ended",
                       action="assignment.ended")
    suspend_accounts(orphaned_accounts(today), actor=actor, dry_run=dry_run, progress=progress, result=result,
                     reason="no live position remains (rules CC9, DS15)")
    horizon = today + dt.timedelta(days=policy.end_date_warning_days())
    rows = Assignment.objects.filter(state=Assignment.State.ACTIVE, ends_on__gte=today, ends_on__lte=horizon).values_list(
        "id", "ends_on", "person__email", "position__name", "position__organisation__name")
    candidates = [(f"end-date:{a}:{ends}", email, f"Your position {position} at {org} ends on {ends.isoformat()}",
                   f"Your position {position} at {org} ends on {ends.isoformat()} (temporary staff and locums have "
                   f"an end date, rules CC9 and DS15). If you are staying on, ask your sponsor or authoriser to amend "
                   f"the end date before then.\n") for a, ends, email, position, org in rows]
    send_notices(candidates, kind="end-date", result=result, dry_run=dry_run, what="end-date warnings")
    return result


# --- organisation closures (PP10) ---

def close_organisations(organisations: list[Organisation], *, actor: Actor, dry_run: bool, result: SweepResult,
                        progress: Progress | None = None) -> None:
    from careaccess.directory import services as directory

    today = clock.today()
    for org in organisations:
        result.changes.append(f"close {org.code} {org.name} (closing date {org.closes_on})")
        change_assignments(
            Assignment.objects.filter(position__organisation=org, state=Assignment.State.ACTIVE),
            state=Assignment.State.SUSPENDED, actor=actor, dry_run=dry_run, progress=progress,
            reason=f"{org.name} closed on {org.closes_on} (rule PP10)", result=result,
            what="assignments suspended", action="assignment.suspended")
        if not dry_run:
            with transaction.atomic():
                directory.update_organisation(actor, org, status=Organisation.Status.CLOSED)
                Closure.objects.filter(organisation=org, processed_at__isnull=True).update(processed_at=clock.now())
        result.add("organisations closed")
    suspend_accounts(orphaned_accounts(today), actor=actor, dry_run=dry_run, progress=progress, result=result,
                     reason="their organisation closed and no other live position remains (rule PP10)")


def closures(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None) -> SweepResult:
    """A closing organisation's assignments are suspended on its closing date, then the
    organisation is closed; accounts left with no live position are suspended (PP10)."""
    result = SweepResult("closures", dry_run)
    due = list(Organisation.objects.filter(status=Organisation.Status.CLOSING, closes_on__lte=clock.today())
               .order_by("closes_on", "id"))
    close_organisations(due, actor=actor, dry_run=dry_run, result=result, progress=progress)
    return result


# --- leavers (SC10) ---

def leavers(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None) -> SweepResult:
    """People recorded as left lose every position still active; their accounts are suspended. Their
    cards are theirs for good (SC10) and are not touched here."""
    result = SweepResult("leavers", dry_run)
    change_assignments(
        Assignment.objects.filter(person__status=Person.Status.LEFT, state=Assignment.State.ACTIVE),
        state=Assignment.State.ENDED, actor=actor, dry_run=dry_run, progress=progress,
        reason="the person has left (rule SC10)", result=result, what="assignments ended", action="assignment.ended")
    suspend_accounts(orphaned_accounts(clock.today()), actor=actor, dry_run=dry_run, progress=progress, result=result,
                     reason="no live position remains after leaving (rule SC10)")
    return result


# --- RA agent training deadline (DS10) ---

def ra_training(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None) -> SweepResult:
    """Identity's own DS10 function removes RA agents untrained by their deadline; each is warned
    `CAREACCESS_RA_TRAINING_WARNING_DAYS` before it, once per deadline."""
    from careaccess.identity import selectors as identity_selectors
    from careaccess.identity import services as identity_services

    result = SweepResult("ra-training", dry_run)
    today = clock.today()
    if dry_run:
        for appointment in identity_selectors.overdue_ra_agent_appointments(today):
            result.changes.append(f"remove RA agent role of {appointment.person.uid} (training due "
                                  f"{appointment.training_due_on})")
            result.add("RA agents removed")
    else:
        for appointment in identity_services.remove_untrained_ra_agents(actor):
            result.changes.append(f"removed RA agent role of {appointment.person.uid} (training due "
                                  f"{appointment.training_due_on})")
            result.add("RA agents removed")
    # Incomplete on the deadline or before it: those identity would find overdue the day after the horizon.
    horizon = today + dt.timedelta(days=policy.ra_training_warning_days())
    due_soon = identity_selectors.overdue_ra_agent_appointments(horizon + dt.timedelta(days=1)).filter(
        training_due_on__gte=today).values_list("id", "training_due_on", "person__email",
                                                "assignment__position__organisation__name")
    candidates = [(f"ra-training:{a}:{due.isoformat()}", email,
                   f"Complete your RA agent training by {due.isoformat()} or lose the role",
                   f"You were appointed an RA agent at {org}. Your RA agent training must be recorded, and the RA "
                   f"agent terms accepted, by {due.isoformat()}; otherwise the RA agent role is removed the next day "
                   f"(rule DS10). Book a training session now, or ask your RA manager.\n")
                  for a, due, email, org in due_soon]
    send_notices(candidates, kind="ra-training", result=result, dry_run=dry_run, what="RA training warnings")
    return result


# --- certificate expiry notices ---

def certificates(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None) -> SweepResult:
    """The holder of an active card is told its certificate expires, 90, 30 and 7 days before (one
    notice per threshold, the nearest threshold only when the sweep first sees it)."""
    from careaccess.credentials.models import Card, Certificate

    result = SweepResult("certificates", dry_run)
    now = clock.now()
    lower = 0
    for days in policy.certificate_notice_days():
        rows = Card.objects.filter(
            state=Card.State.ACTIVE, certificate__status=Certificate.Status.VALID,
            certificate__not_after__gt=now + dt.timedelta(days=lower),
            certificate__not_after__lte=now + dt.timedelta(days=days),
        ).values_list("serial", "certificate_id", "certificate__not_after", "person__email")
        candidates = []
        for serial, certificate_id, not_after, email in rows:
            expires = not_after.astimezone(clock.local_zone()).date()
            candidates.append((f"certificate:{certificate_id}:{days}", email,
                               f"Your smartcard certificate expires on {expires.isoformat()}",
                               f"The certificate on your smartcard {serial} expires on {expires.isoformat()} "
                               f"(within {days} days). Renew it before then: see your card on careaccess, or ask "
                               f"your sponsor or RA agent.\n"))
        send_notices(candidates, kind="certificate", result=result, dry_run=dry_run,
                     what=f"certificate notices ({days} days)")
        lower = days
    return result


def _campaigns(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None) -> SweepResult:
    from . import campaigns

    return campaigns.open_due_campaigns(actor=actor, dry_run=dry_run, progress=progress)


def _escalations(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None) -> SweepResult:
    from . import campaigns

    return campaigns.escalate_overdue(actor=actor, dry_run=dry_run, progress=progress)


SWEEPS: dict[str, Callable[..., SweepResult]] = {
    "inactivity": inactivity,
    "end-dates": end_dates,
    "closures": closures,
    "leavers": leavers,
    "ra-training": ra_training,
    "certificates": certificates,
    "campaigns": _campaigns,
    "escalations": _escalations,
}


def run(kind: str = "all", *, dry_run: bool = False, progress: Progress | None = None,
        actor: Actor = SYSTEM) -> list[SweepResult]:
    kinds = list(SWEEPS) if kind == "all" else [kind]
    unknown = [k for k in kinds if k not in SWEEPS]
    if unknown:
        from careaccess.core.errors import InvalidInput

        raise InvalidInput({"kind": f"choose all or one of: {', '.join(SWEEPS)}"})
    return [SWEEPS[k](actor=actor, dry_run=dry_run, progress=progress) for k in kinds]

"""Reads of the directory that several places need: live assignments and effective access."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from careaccess.core import clock

from . import rules
from .models import Activity, Assignment, Organisation, Person


def live_assignment_filter(on: dt.date, prefix: str = "") -> Q:
    """Started, not ended, position active, organisation open on `on`, person active."""
    p = prefix
    organisation_open = Q(**{f"{p}position__organisation__status": Organisation.Status.ACTIVE}) | Q(
        **{f"{p}position__organisation__status": Organisation.Status.CLOSING, f"{p}position__organisation__closes_on__gt": on}
    )
    return (
        Q(**{f"{p}state": Assignment.State.ACTIVE, f"{p}starts_on__lte": on})
        & (Q(**{f"{p}ends_on__isnull": True}) | Q(**{f"{p}ends_on__gte": on}))
        & Q(**{f"{p}position__status": "active", f"{p}person__status": Person.Status.ACTIVE})
        & organisation_open
    )


def live_assignments(person: Person, on: dt.date | None = None) -> QuerySet[Assignment]:
    on = on or clock.today()
    return (
        Assignment.objects.filter(live_assignment_filter(on), person=person)
        .select_related("position__organisation")
        .order_by("starts_on", "id")
    )


def activity_edges(codes: set[str]) -> dict[str, set[str]]:
    """The `includes` edges reachable from `codes`, one query per level of inclusion."""
    edges: dict[str, set[str]] = {}
    queried: set[str] = set()
    frontier = set(codes)
    while frontier:
        rows = Activity.includes.through.objects.filter(from_activity__code__in=frontier).values_list(
            "from_activity__code", "to_activity__code"
        )
        queried |= frontier
        for source, target in rows:
            edges.setdefault(source, set()).add(target)
        frontier = {target for targets in edges.values() for target in targets} - queried
    return edges


@dataclass
class AssignmentAccess:
    assignment_id: int
    position_id: int
    position: str
    organisation_code: str
    organisation: str
    starts_on: dt.date
    ends_on: dt.date | None
    role_codes: list[str] = field(default_factory=list)
    activity_codes: list[str] = field(default_factory=list)
    service_roles: list[str] = field(default_factory=list)


@dataclass
class Access:
    """A person's effective access at an instant: the union of their live assignments."""

    uid: str
    at: dt.datetime
    assignments: list[AssignmentAccess]

    @property
    def organisations(self) -> list[str]:
        return sorted({a.organisation_code for a in self.assignments})

    @property
    def role_codes(self) -> list[str]:
        return sorted({c for a in self.assignments for c in a.role_codes})

    @property
    def activity_codes(self) -> list[str]:
        return sorted({c for a in self.assignments for c in a.activity_codes})

    @property
    def service_roles(self) -> list[str]:
        return sorted({c for a in self.assignments for c in a.service_roles})


def effective_access(person: Person, at: dt.datetime | None = None) -> Access:
    at = at or clock.now()
    on = at.astimezone(clock.local_zone()).date()
    assignments = list(
        live_assignments(person, on).prefetch_related("position__job_roles", "position__activities", "position__service_roles__service")
    )
    direct = {a.id: {act.code for act in a.position.activities.all()} for a in assignments}
    edges = activity_edges(set().union(*direct.values())) if assignments else {}
    result = []
    for a in assignments:
        position = a.position
        result.append(
            AssignmentAccess(
                assignment_id=a.id,
                position_id=position.id,
                position=position.name,
                organisation_code=position.organisation.code,
                organisation=position.organisation.name,
                starts_on=a.starts_on,
                ends_on=a.ends_on,
                role_codes=sorted(r.code for r in position.job_roles.all()),
                activity_codes=sorted(rules.includes_closure(direct[a.id], edges)),
                service_roles=sorted(f"{sr.service.code}:{sr.code}" for sr in position.service_roles.all()),
            )
        )
    return Access(uid=person.uid, at=at, assignments=result)


@dataclass
class Decision:
    allowed: bool
    reason: str
    assignment_id: int | None = None
    position: str | None = None
    organisation_code: str | None = None


def decide(person: Person, *, activity: str | None = None, service_role: str | None = None,
           organisation_code: str | None = None, at: dt.datetime | None = None) -> Decision:
    """Allow or deny one thing (an activity, or a service's role) for a person, with the reason."""
    access = effective_access(person, at)
    wanted = activity or service_role
    if not access.assignments:
        return Decision(False, f"{person.uid} has no live assignment at {access.at.isoformat()}")
    candidates = [a for a in access.assignments if organisation_code in (None, a.organisation_code)]
    if not candidates:
        return Decision(False, f"{person.uid} holds no live position at organisation {organisation_code}")
    for a in candidates:
        held = a.activity_codes if activity else a.service_roles
        if wanted in held:
            return Decision(
                True,
                f"allowed by assignment {a.assignment_id}: position '{a.position}' at {a.organisation_code}",
                a.assignment_id,
                a.position,
                a.organisation_code,
            )
    where = f" at {organisation_code}" if organisation_code else ""
    kind = "activity" if activity else "service role"
    return Decision(False, f"no live position of {person.uid}{where} carries {kind} {wanted}")


def ancestors(organisation: Organisation) -> list[Organisation]:
    """The organisation's parents, nearest first (a short chain: a query per level)."""
    chain = []
    seen = {organisation.id}
    current = organisation
    while current.parent_id and current.parent_id not in seen:
        current = Organisation.objects.get(id=current.parent_id)
        seen.add(current.id)
        chain.append(current)
    return chain

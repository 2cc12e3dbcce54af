"""Reading the ledger (issue: audit ledger, part 3; rule PP15): staff with the auditor or RA manager
activity search entries by person, organisation, actor, kind and time. Reading is itself recorded.

An auditor sees the entries of the organisations their position covers (its own, and its
descendants where it oversees others), and of the people who hold positions there; an auditor at
a top-level organisation that oversees others also sees the entries that concern no organisation
(the catalogue, services, people not yet placed).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import Q, QuerySet

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput

from . import ledger
from .models import Entry


@dataclass(frozen=True)
class EntryFilter:
    person: str | None = None
    organisation: str | None = None
    actor: str | None = None
    action: str | None = None
    access_request: str | None = None
    request_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def check(self) -> None:
        from careaccess.directory.rules import is_user_id

        if self.person and not is_user_id(self.person):
            raise InvalidInput({"person": "give the person's 12-digit user id"})
        if self.organisation and len(self.organisation) > 20:
            raise InvalidInput({"organisation": "give an organisation code of 20 characters or fewer"})
        if self.since and self.until and self.since > self.until:
            raise InvalidInput({"until": "the end of the period must be after its start"})
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidInput({name: "give the time with its offset, like 2026-06-01T09:00:00+01:00"})

    def as_query(self) -> Q:
        query = Q()
        if self.person:
            query &= Q(person_uid=self.person) | Q(actor_uid=self.person)
        if self.organisation:
            query &= Q(organisation_code=self.organisation.upper())
        if self.actor:
            query &= Q(actor_uid=self.actor) | Q(actor__icontains=self.actor)
        if self.action:
            query &= Q(action__startswith=self.action)
        if self.access_request:
            query &= Q(access_request=self.access_request)
        if self.request_id:
            query &= Q(request_id=self.request_id)
        if self.since:
            query &= Q(recorded_at__gte=self.since)
        if self.until:
            query &= Q(recorded_at__lt=self.until)
        return query

    def describe(self) -> dict:
        return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in asdict(self).items() if v}


def _scope(actor: Actor) -> Q | None:
    """None when the actor (the system) sees the whole ledger, else the entries their positions cover."""
    if actor.kind == "system":
        return None
    from careaccess.directory.models import Assignment, Organisation

    ids = permissions.covered_organisation_ids(actor, ("auditor", "ra_manager"))
    covered = Organisation.objects.filter(id__in=ids)
    codes = set(covered.values_list("code", flat=True))
    # A covered top-level organisation that oversees others is one the actor's own position is at.
    sees_unplaced = covered.filter(parent_id__isnull=True, oversees_descendants=True).exists()
    people = Assignment.objects.filter(position__organisation_id__in=ids).values("person__uid")
    scope = Q(organisation_code__in=codes) | Q(person_uid__in=people)
    if sees_unplaced:
        scope |= Q(organisation_code__isnull=True, person_uid__isnull=True)
    return scope


def entries(actor: Actor, filters: EntryFilter) -> QuerySet[Entry]:
    """The entries the actor may read that match the filters, newest first (not yet recorded)."""
    filters.check()
    permissions.authorise(actor, "audit.read")
    scope = _scope(actor)
    query = filters.as_query() if scope is None else filters.as_query() & scope
    return Entry.objects.filter(query).order_by("-index")


@transaction.atomic
def record_search(actor: Actor, filters: EntryFilter, shown: int) -> None:
    """Reading the ledger is itself an entry in it (rule PP15: targeted audits are accountable)."""
    acting = permissions.authorise(actor, "audit.read")
    ledger.record("audit.searched", actor=acting, target_type="ledger", target_id="search",
                  after={"filters": filters.describe(), "shown": shown},
                  person_uid=filters.person,
                  organisation_code=filters.organisation.upper() if filters.organisation else None)


def get_entry(actor: Actor, index: int) -> Entry | None:
    """One entry the actor may read, or None when there is no such entry or it is outside their scope
    (the two are not told apart, so a reader learns nothing about entries they may not see)."""
    found = entries(actor, EntryFilter())  # checks the right to read first, whatever the index
    if not 0 <= index < 2**63:  # beyond the column's range: no such entry
        return None
    return found.filter(index=index).first()


@transaction.atomic
def record_read(actor: Actor, entry: Entry) -> None:
    """Opening one entry is recorded too, naming the entry read and whom it concerns (rule PP15)."""
    acting = permissions.authorise(actor, "audit.read")
    ledger.record("audit.entry_read", actor=acting, target_type="audit_entry", target_id=entry.index,
                  after={"entry": entry.index, "action": entry.action},
                  person_uid=entry.person_uid, organisation_code=entry.organisation_code)

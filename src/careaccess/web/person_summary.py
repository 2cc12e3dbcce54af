"""What the person page shows about one person, read from the apps that hold it: identity
assurance, assignments (live and ended), accounts, smartcards and their certificates,
authenticators (a summary: never a secret, PIN or key) and the open access requests the viewer
may read. Reads only; `directory.person_search.read_person` decides whether the viewer may see
the person at all and records the read."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from careaccess.access_requests.models import AccessRequest
from careaccess.access_requests.rules import OPEN_STATES
from careaccess.core import clock, permissions
from careaccess.core.context import Actor
from careaccess.credentials.models import Card
from careaccess.credentials.removal import Authenticator, authenticators_of
from careaccess.directory.models import Account, Assignment, Organisation, Person
from careaccess.directory.selectors import live_assignments
from careaccess.identity.models import IdentityCheck
from careaccess.identity.selectors import latest_check

# A card's summary: what it is and its state; never its keys or PIN hash.
CARD_FIELDS = ("serial", "series", "state", "lock_reason", "renewals", "issued_at", "cancelled_at",
               "certificate__serial", "certificate__not_after", "certificate__status")


@dataclass(frozen=True)
class AssignmentRow:
    assignment: Assignment
    live: bool
    status: str  # Live, Ended, Suspended, Starts later, or Not live (position retired, organisation closed...)


def _status(assignment: Assignment, live: bool, on: dt.date) -> str:
    if live:
        return "Live"
    if assignment.state == Assignment.State.ENDED or (assignment.ends_on and assignment.ends_on < on):
        return "Ended"
    if assignment.state == Assignment.State.SUSPENDED:
        return "Suspended"
    return "Starts later" if assignment.starts_on > on else "Not live"


@dataclass
class PersonSummary:
    person: Person
    identity_check: IdentityCheck | None
    assignments: list[AssignmentRow]
    accounts: list[Account]
    cards: list[Card]
    authenticators: list[Authenticator]
    open_requests: list[AccessRequest]

    @property
    def organisations(self) -> list[Organisation]:
        """Where they hold or held a position."""
        return _organisations(self.assignments)

    @property
    def live_organisations(self) -> list[Organisation]:
        return _organisations(row for row in self.assignments if row.live)


def _organisations(rows) -> list[Organisation]:
    by_id = {row.assignment.position.organisation_id: row.assignment.position.organisation for row in rows}
    return list(by_id.values())


def assignments_of(person: Person, on: dt.date) -> list[AssignmentRow]:
    """Live assignments first, then the others; the newest first within each."""
    live = set(live_assignments(person, on).values_list("id", flat=True))
    rows = (Assignment.objects.filter(person=person).select_related("position__organisation")
            .order_by("-starts_on", "-id"))
    return sorted((AssignmentRow(a, a.id in live, _status(a, a.id in live, on)) for a in rows),
                  key=lambda row: not row.live)


def open_requests_about(actor: Actor, person: Person) -> list[AccessRequest]:
    """The person's requests still in progress, at organisations where the actor may read requests."""
    requests = (AccessRequest.objects.filter(subject=person, state__in=OPEN_STATES)
                .select_related("organisation").order_by("created_at", "id"))
    ids = permissions.covered_organisations(actor, "request.read")
    return list(requests if ids is None else requests.filter(organisation_id__in=ids))


def summary(actor: Actor, person: Person) -> PersonSummary:
    return PersonSummary(
        person=person,
        identity_check=latest_check(person),
        assignments=assignments_of(person, clock.today()),
        accounts=list(Account.objects.filter(person=person).select_related("service").order_by("service__name")),
        cards=list(Card.objects.filter(person=person).select_related("certificate").only(*CARD_FIELDS)
                   .order_by("-issued_at", "-id")),
        authenticators=authenticators_of(person),
        open_requests=open_requests_about(actor, person),
    )

"""Reads for the mailboxes pages: the assessment queue (NM6) and the directory search (NM10)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import NotFound
from careaccess.directory.models import Organisation

from .models import Application, Mailbox, SharedMailbox


def administered_sponsors(actor: Actor, action: str = "mailbox.assess") -> list[Organisation]:
    """The sponsoring organisations this actor administers (NM6)."""
    ids = permissions.covered_organisation_ids(actor, permissions.ACTIONS[action])
    found = Organisation.objects.all() if ids is None else Organisation.objects.filter(id__in=ids)
    return list(found.order_by("name", "id"))


def queue(actor: Actor, state: str = Application.State.SUBMITTED):
    """Applications of the organisations the actor administers, oldest first."""
    return Application.objects.filter(sponsor__in=administered_sponsors(actor), state=state).select_related("sponsor")


def application_for(actor: Actor, reference: str) -> Application:
    app = Application.objects.select_related("sponsor", "cqc_home", "unit").filter(reference=reference).first()
    if app is None or not permissions.can(actor, "mailbox.assess", app.sponsor):
        raise NotFound(f"no mailbox application with reference {reference} that you administer")
    return app


@dataclass(frozen=True)
class Entry:
    kind: str  # "person" or "shared"
    name: str
    address: str
    organisation: str
    home: str
    role: str


def search(*, name: str = "", organisation: str = "", role: str = "", limit: int = 50) -> list[Entry]:
    """NM10: people and visible shared mailboxes by name, organisation and role. Hidden shared
    mailboxes never appear; members of shared mailboxes are never part of an entry."""
    name, organisation, role = (name or "").strip(), (organisation or "").strip(), (role or "").strip()
    if not (name or organisation or role):
        return []
    people = Mailbox.objects.exclude(state=Mailbox.State.CLOSED).select_related("unit__organisation")
    shared = SharedMailbox.objects.filter(hidden=False).select_related("unit__organisation")
    if name:
        people = people.filter(Q(display_name__icontains=name) | Q(address__istartswith=name))
        shared = shared.filter(Q(display_name__icontains=name) | Q(address__icontains=name))
    if organisation:
        where = (Q(unit__name__icontains=organisation) | Q(unit__organisation__name__icontains=organisation)
                 | Q(unit__organisation__code__iexact=organisation))
        people, shared = people.filter(where), shared.filter(where)
    if role:
        people = people.filter(job_title__icontains=role)
        shared = shared.none()
    entries = [Entry("person", m.display_name, m.address, m.unit.organisation.name, m.unit.name, m.job_title)
               for m in people.order_by("display_name")[:limit]]
    entries += [Entry("shared", s.display_name, s.address, s.unit.organisation.name, s.unit.name, "Shared mailbox")
                for s in shared.order_by("display_name")[:limit]]
    return entries[:limit]

"""The actions on a person that the person page links to, each shown only when the viewer may
take it: every decision is core.permissions' (through the apps' own checks where they have one),
made for the organisations where the person holds or held a position."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden
from careaccess.credentials import cardaccess, removal
from careaccess.directory.person_search import reading
from careaccess.lifecycle.models import Closure, Reinstatement

from .person_summary import PersonSummary


@dataclass(frozen=True)
class Link:
    text: str
    href: str


def _authenticators(actor: Actor, summary: PersonSummary) -> list[Link]:
    try:
        removal.authorise(actor, summary.person)
    except Forbidden:
        return []
    return [Link("Remove a lost authenticator app or security key",
                 reverse("credentials:person-authenticators", args=[summary.person.uid]))]


def _cards(actor: Actor, summary: PersonSummary) -> list[Link]:
    if not cardaccess.may_see(actor, summary.person):
        return []
    allowed = cardaccess.allowed(actor, summary.person)
    verbs = [page for page in cardaccess.HOLDER_ACTIONS if page in allowed]
    text = (f"{', '.join(verbs[:-1]).capitalize()} or {verbs[-1]} their smartcards" if len(verbs) > 1
            else f"{verbs[0].capitalize()} their smartcards" if verbs
            else "See their smartcards, or report suspected misuse of one")
    return [Link(text, reverse("credentials:person-cards", args=[summary.person.uid]))]


def _raise_request(actor: Actor, summary: PersonSummary) -> list[Link]:
    """The request's first step with their user id carried into its person field, and the
    organisation chosen when there is one where the viewer may raise it."""
    where = [o for o in summary.live_organisations if permissions.can(actor, "request.raise", o)]
    if not where:
        return []
    query = {"person": summary.person.uid, **({"organisation": where[0].code} if len(where) == 1 else {})}
    return [Link("Raise a request about them (a change, a position, a leaver)",
                 f"{reverse('requests:raise')}?{urlencode(query)}")]


def _training(actor: Actor, summary: PersonSummary) -> list[Link]:
    if not permissions.can(actor, "request.training"):  # rule PP5: an RA manager records it
        return []
    return [Link("Record training to action requests", reverse("requests:training", args=[summary.person.uid]))]


def _audit(actor: Actor, summary: PersonSummary) -> list[Link]:
    if reading(actor, summary.person, "audit.read") is None:
        return []
    query = urlencode({"person": summary.person.uid})
    return [Link("See the audit entries about them", f"{reverse('audit:ledger')}?{query}")]


def _reinstatements(actor: Actor, summary: PersonSummary) -> list[Link]:
    if not any(permissions.can(actor, "reinstatement.check", o) for o in summary.organisations):
        return []
    waiting = (Reinstatement.objects.filter(account__person=summary.person, state=Reinstatement.State.CONFIRMED)
               .select_related("account__service").order_by("confirmed_at", "id"))
    return [Link(f"Check their request to reinstate their {row.account.service.name} account",
                 reverse("lifecycle:reinstatement", args=[row.pk])) for row in waiting]


def _closures(actor: Actor, summary: PersonSummary) -> list[Link]:
    closing = [o for o in summary.live_organisations if permissions.can(actor, "organisation.close", o)]
    rows = Closure.objects.filter(organisation__in=closing).select_related("organisation").order_by("closes_on", "id")
    return [Link(f"The closure of {row.organisation.name} ({row.organisation.code}) on {row.closes_on:%d %B %Y}",
                 reverse("lifecycle:closure", args=[row.pk])) for row in rows]


def links(actor: Actor, summary: PersonSummary) -> list[Link]:
    return [link for find in (_cards, _authenticators, _raise_request, _reinstatements, _closures, _training, _audit)
            for link in find(actor, summary)]

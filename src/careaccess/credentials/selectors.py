"""Reads of cards and the CA that several places need."""

from __future__ import annotations

from django.db.models import QuerySet

from careaccess.core.errors import NotFound

from .models import Card, CrlIssue, MisuseReport


def card(serial: str) -> Card:
    found = Card.objects.select_related("person", "certificate", "replaces").filter(serial=str(serial).strip()).first()
    if found is None:
        raise NotFound(f"no card has the serial {serial}")
    return found


def cards_of(person) -> QuerySet[Card]:
    return Card.objects.filter(person=person).select_related("certificate", "replaces").order_by("-issued_at", "-id")


def current_card(person) -> Card | None:
    """The holder's card in use (their newest active card), for self-service: certificate expiry (DS2)."""
    return cards_of(person).filter(state=Card.State.ACTIVE).first()


def latest_crl() -> CrlIssue | None:
    return CrlIssue.objects.order_by("-id").first()


def open_misuse_reports(actor) -> QuerySet[MisuseReport]:
    """The open reports the actor may decide: about holders their position covers (SC3, SC10)."""
    from careaccess.directory.person_search import about_readable

    reports = MisuseReport.objects.filter(outcome=MisuseReport.Outcome.OPEN).select_related("card__person")
    return about_readable(actor, reports, "card.misuse_decide", "card__person_id")

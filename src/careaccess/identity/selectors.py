"""Reads of identity data that several places need."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q, QuerySet

from careaccess.core import clock

from .models import IdentityCheck, RaAgentAppointment, TermsAcceptance, TermsVersion, TrainingRecord


def latest_check(person) -> IdentityCheck | None:
    return IdentityCheck.objects.filter(person=person).order_by("-checked_at", "-id").first()


def assurance_level(person) -> int:
    """The person's identity assurance: the level of their latest check, 0 when never checked."""
    check = latest_check(person)
    return check.assurance_level if check else 0


def current_terms(kind: str = TermsVersion.Kind.USER) -> TermsVersion | None:
    return TermsVersion.objects.filter(kind=kind).order_by("-published_at", "-id").first()


def has_accepted(person, terms: TermsVersion) -> bool:
    return TermsAcceptance.objects.filter(person=person, terms=terms).exists()


def latest_training(person, kind: str = TrainingRecord.Kind.IG) -> TrainingRecord | None:
    return TrainingRecord.objects.filter(person=person, kind=kind).order_by("-completed_on", "-id").first()


def trained_to_action(person_id: int, service) -> bool:
    """Rule PP5: the person has current training to action requests for the service (or for every
    service): completed by today and not past its end date."""
    today = clock.today()
    return TrainingRecord.objects.filter(
        Q(service__isnull=True) | Q(service=service), person_id=person_id, kind=TrainingRecord.Kind.ACTIONING,
        completed_on__lte=today,
    ).filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today)).exists()


def actioning_training(person) -> list[TrainingRecord]:
    """A person's training to action requests, newest first, with its service."""
    return list(TrainingRecord.objects.filter(person=person, kind=TrainingRecord.Kind.ACTIONING)
                .select_related("service").order_by("-completed_on", "-id"))


def overdue_ra_agent_appointments(on: dt.date) -> QuerySet[RaAgentAppointment]:
    """Appointments past their deadline without training or without the RA agent terms (DS10)."""
    incomplete = Q(state=RaAgentAppointment.State.AWAITING_TRAINING) | Q(
        state=RaAgentAppointment.State.TRAINED, terms_acceptance__isnull=True)
    return (RaAgentAppointment.objects.filter(incomplete, training_due_on__lt=on)
            .select_related("person", "assignment__position__organisation").order_by("training_due_on", "id"))

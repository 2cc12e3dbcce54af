"""The only code that writes identity checks, terms, acceptances, training records and RA agent
appointments. Each function checks permission, validates, writes and audits in one transaction;
a refusal raises before anything is written."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.db import transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, Forbidden, InvalidInput
from careaccess.credentials import policy
from careaccess.directory import services as directory_services
from careaccess.directory.models import Assignment, Person, Position

from . import rules, selectors
from .models import IdentityCheck, RaAgentAppointment, TermsAcceptance, TermsVersion, TrainingRecord


def _date(value, field: str, errors: dict) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        errors[field] = "enter a date as YYYY-MM-DD"
        return None


def _record(action: str, actor: Actor, instance, *, person_uid=None, before=None, after=None, reason="",
            organisation_code=None):
    ledger.record(action, actor=actor, target_type=f"{instance._meta.app_label}.{instance._meta.model_name}",
                  target_id=instance.pk, before=before, after=after, person_uid=person_uid,
                  organisation_code=organisation_code, reason=reason)


# --- identity checks (DS1, DS5, DS7) ---

@transaction.atomic
def verify_identity(
    actor: Actor,
    person: Person,
    *,
    document_type: str,
    issuing_country: str,
    document_number: str,
    document_expires_on=None,
    address_proof_kind: str = "",
    address_proof_issuer: str = "",
    address_proof_issued_on=None,
    photo: bytes | None = None,
    sponsor: Person | None = None,
    request_reference: str = "",
) -> IdentityCheck:
    """An RA agent records the evidence seen face to face and the resulting assurance level."""
    # rule DS5: nobody checks their own identity; the sponsor of the request never checks it.
    if actor.kind == "person" and actor.person_id == person.id:
        raise Forbidden("nobody may check their own identity (rule DS5); another RA agent must do it")
    if actor.kind == "person" and sponsor is not None and actor.person_id == sponsor.id:
        raise Forbidden("the sponsor of this request may not check the identity for it (rule DS5); "
                        "an RA agent who is not the sponsor must do it")
    today = clock.today()
    errors: dict[str, str] = {}
    if document_type not in IdentityCheck.DocumentType.values:
        errors["document_type"] = f"choose one of: {', '.join(IdentityCheck.DocumentType.values)}"
    try:
        country = rules.normalise_country(issuing_country)
    except ValueError as exc:
        errors["issuing_country"] = str(exc)
    try:
        number = rules.normalise_document_number(document_type, document_number)
    except ValueError as exc:
        errors["document_number"] = str(exc)
    expires_on = _date(document_expires_on, "document_expires_on", errors)
    if "document_expires_on" not in errors and "document_type" not in errors:
        try:
            rules.check_document_expiry(document_type, expires_on, today)
        except ValueError as exc:
            errors["document_expires_on"] = str(exc)
    kind = " ".join(str(address_proof_kind or "").split())
    if not kind:
        errors["address_proof_kind"] = "say what the proof of address is, like 'water bill'"
    try:
        issuer = rules.check_address_issuer(address_proof_issuer)
    except ValueError as exc:
        errors["address_proof_issuer"] = str(exc)
    issued_on = _date(address_proof_issued_on, "address_proof_issued_on", errors)
    if issued_on is None and "address_proof_issued_on" not in errors:
        errors["address_proof_issued_on"] = "enter the date the proof of address was issued"
    elif issued_on is not None:
        try:
            rules.check_address_proof_date(issued_on, today, policy.address_proof_max_age_months())
        except ValueError as exc:
            errors["address_proof_issued_on"] = str(exc)
    if photo is not None and not isinstance(photo, (bytes, bytearray)):
        errors["photo"] = "send the photo as image bytes"
    if errors:
        raise InvalidInput(errors)
    actor = permissions.authorise(actor, "identity.verify")
    level = rules.assurance_level(document_type, bool(photo))
    check = IdentityCheck.objects.create(
        person=person,
        checked_by_id=actor.person_id,
        checked_by_label=actor.label,
        sponsor=sponsor,
        request_reference=str(request_reference or "")[:100],
        document_type=document_type,
        issuing_country=country,
        document_number=number,
        document_expires_on=expires_on,
        address_proof_kind=kind[:100],
        address_proof_issuer=issuer[:200],
        address_proof_issued_on=issued_on,
        photo=bytes(photo) if photo else None,
        photo_sha256=hashlib.sha256(photo).hexdigest() if photo else "",
        assurance_level=level,
        checked_at=clock.now(),
    )
    _record("identity.verified", actor, check, person_uid=person.uid, after={
        "document_type": document_type, "issuing_country": country,
        # The number itself is personal data: the ledger keeps its last four characters only.
        "document_number_end": number[-4:], "document_expires_on": expires_on,
        "address_proof_kind": kind, "address_proof_issuer": issuer, "address_proof_issued_on": issued_on,
        "photo_sha256": check.photo_sha256, "assurance_level": level,
        "sponsor": sponsor.uid if sponsor else None, "request_reference": check.request_reference,
    })
    return check


# --- terms (SC1, DS10) ---

@transaction.atomic
def publish_terms(actor: Actor, *, kind: str, version: str, title: str, text: str) -> TermsVersion:
    errors = {}
    if kind not in TermsVersion.Kind.values:
        errors["kind"] = f"choose one of: {', '.join(TermsVersion.Kind.values)}"
    version = str(version or "").strip()
    if not version or len(version) > 20:
        errors["version"] = "give a version of 1 to 20 characters, like 2026.1"
    title = str(title or "").strip()
    if not title or len(title) > 200:
        errors["title"] = "give a title of 1 to 200 characters"
    if not str(text or "").strip():
        errors["text"] = "give the text of the terms"
    if errors:
        raise InvalidInput(errors)
    actor = permissions.authorise(actor, "terms.publish")
    if TermsVersion.objects.filter(kind=kind, version=version).exists():
        raise Conflict(f"{kind} terms version {version} are already published; publish a new version number")
    terms = TermsVersion.objects.create(kind=kind, version=version, title=title, text=text,
                                        sha256=hashlib.sha256(text.encode()).hexdigest(), published_at=clock.now())
    _record("terms.published", actor, terms, after={"kind": kind, "version": version, "title": title,
                                                    "sha256": terms.sha256})
    return terms


def _accept(actor: Actor, person: Person, terms: TermsVersion, occasion: str) -> TermsAcceptance:
    acceptance = TermsAcceptance.objects.create(person=person, terms=terms, occasion=occasion, accepted_at=clock.now())
    _record("terms.accepted", actor, acceptance, person_uid=person.uid,
            after={"kind": terms.kind, "version": terms.version, "sha256": terms.sha256, "occasion": occasion})
    if terms.kind == TermsVersion.Kind.RA_AGENT:
        RaAgentAppointment.objects.filter(person=person, terms_acceptance__isnull=True).exclude(
            state=RaAgentAppointment.State.REMOVED).update(terms_acceptance=acceptance)
    return acceptance


@transaction.atomic
def accept_terms(actor: Actor, person: Person, *, kind: str = TermsVersion.Kind.USER, version: str,
                 occasion: str = TermsAcceptance.Occasion.REGISTRATION) -> TermsAcceptance:
    """The person accepts the current version of the terms themselves (SC1, DS10)."""
    if actor.kind == "person" and actor.person_id != person.id:
        raise Forbidden("only the person themselves can accept terms; ask them to sign in and accept")
    if actor.kind == "service":
        raise Forbidden("a relying service cannot accept terms for a person")
    if occasion not in TermsAcceptance.Occasion.values:
        raise InvalidInput({"occasion": f"choose one of: {', '.join(TermsAcceptance.Occasion.values)}"})
    current = selectors.current_terms(kind)
    if current is None:
        raise InvalidInput({"kind": f"no {kind} terms are published yet"})
    if str(version) != current.version:
        raise InvalidInput({"version": f"version {version} is not the current {kind} terms; "
                                       f"read and accept version {current.version}"})
    return _accept(actor, person, current, occasion)


def accept_terms_in_transaction(actor: Actor, person: Person, terms: TermsVersion, occasion: str) -> TermsAcceptance:
    """For other services that record an acceptance inside their own transaction (card sign-in)."""
    return _accept(actor, person, terms, occasion)


# --- training (CC9, DS10, PP5) ---

# Who may record each kind of training (core.permissions decides).
TRAINING_ACTIONS = {TrainingRecord.Kind.IG: "training.record", TrainingRecord.Kind.RA_AGENT: "training.record_ra",
                    TrainingRecord.Kind.ACTIONING: "request.training"}


@transaction.atomic
def record_training(actor: Actor, person: Person, *, kind: str, completed_on, note: str = "", service=None,
                    valid_until=None) -> TrainingRecord:
    """Record a training the person completed. Training to action requests (PP5) is for one service
    (`service`) or, with none, for every service, and may expire (`valid_until`)."""
    errors: dict[str, str] = {}
    if kind not in TrainingRecord.Kind.values:
        errors["kind"] = f"choose one of: {', '.join(TrainingRecord.Kind.values)}"
    completed = _date(completed_on, "completed_on", errors)
    until = _date(valid_until, "valid_until", errors)
    if completed is None and "completed_on" not in errors:
        errors["completed_on"] = "enter the date the training was completed"
    elif completed is not None and completed > clock.today():
        errors["completed_on"] = "the training cannot be completed in the future"
    if kind != TrainingRecord.Kind.ACTIONING and (service is not None or until is not None):
        errors["service" if service is not None else "valid_until"] = (
            "only training to action requests is for a service and has an end date")
    if until is not None and completed is not None and until < completed:
        errors["valid_until"] = "the training cannot stop being current before it was completed"
    if errors:
        raise InvalidInput(errors)
    actor = permissions.authorise(actor, TRAINING_ACTIONS[kind])
    record = TrainingRecord.objects.create(person=person, kind=kind, service=service, completed_on=completed,
                                           valid_until=until, note=str(note or "")[:300],
                                           recorded_by_label=actor.label, recorded_at=clock.now())
    _record("training.recorded", actor, record, person_uid=person.uid,
            after={"kind": kind, "service": service.code if service is not None else None, "completed_on": completed,
                   "valid_until": until, "note": record.note})
    if kind == TrainingRecord.Kind.RA_AGENT:
        for appointment in RaAgentAppointment.objects.select_for_update().filter(
                person=person, state=RaAgentAppointment.State.AWAITING_TRAINING):
            appointment.training = record
            appointment.state = RaAgentAppointment.State.TRAINED
            appointment.save(update_fields=["training", "state"])
            _record("ra_agent.trained", actor, appointment, person_uid=person.uid,
                    before={"state": RaAgentAppointment.State.AWAITING_TRAINING},
                    after={"state": appointment.state, "training": record.id})
    return record


# --- RA agent appointments (DS10) ---

def _carries_ra_agent(position: Position) -> bool:
    code = permissions.capability_codes()["ra_agent"]
    return position.activities.filter(code=code).exists()


@transaction.atomic
def appoint_ra_agent(actor: Actor, person: Person, position: Position, *, starts_on=None) -> RaAgentAppointment:
    """Someone with sponsor rights at the position's organisation appoints a new RA agent: the
    assignment starts now; the RA agent terms and training are due by the deadline (rule DS10)."""
    position = Position.objects.select_related("organisation").get(pk=position.pk)
    if not _carries_ra_agent(position):
        raise InvalidInput({"position": f"position {position.name} does not carry the RA agent activity; "
                                        f"choose an RA agent position"})
    if actor.kind == "person" and actor.person_id == person.id:
        raise Forbidden("nobody may appoint themselves an RA agent (rule DS10); ask someone with sponsor rights")
    actor = permissions.authorise(actor, "ra_agent.appoint", position.organisation)
    # The assignment is made on the appointer's authority (recorded in this entry and the next).
    assignment = directory_services.create_assignment(
        Actor.system(f"RA agent appointment by {actor.label}"), person, position, starts_on=starts_on)
    due = clock.today() + dt.timedelta(days=policy.ra_agent_training_days())
    appointment = RaAgentAppointment.objects.create(
        person=person, assignment=assignment, appointed_by_label=actor.label, appointed_at=clock.now(),
        training_due_on=due)
    _record("ra_agent.appointed", actor, appointment, person_uid=person.uid,
            organisation_code=position.organisation.code,
            after={"assignment": assignment.id, "position": position.name, "training_due_on": due})
    return appointment


@transaction.atomic
def remove_untrained_ra_agents(actor: Actor, on: dt.date | None = None) -> list[RaAgentAppointment]:
    """The lifecycle sweep: RA agents who have not accepted the RA agent terms and recorded
    training by their deadline lose the role (rule DS10). Set-based on the overdue rows only."""
    on = on or clock.today()
    if actor.kind != "system":
        actor = permissions.authorise(actor, "ra_agent.remove")
    removed = []
    for appointment in selectors.overdue_ra_agent_appointments(on).select_for_update(of=("self",)):
        assignment = appointment.assignment
        if assignment.state != Assignment.State.ENDED:
            directory_services.update_assignment(
                actor, assignment, state=Assignment.State.ENDED, ends_on=max(on, assignment.starts_on),
                reason="RA agent training or terms not completed by the deadline (rule DS10)")
        before = {"state": appointment.state}
        appointment.state = RaAgentAppointment.State.REMOVED
        appointment.removed_at = clock.now()
        appointment.save(update_fields=["state", "removed_at"])
        _record("ra_agent.removed", actor, appointment, person_uid=appointment.person.uid, before=before,
                after={"state": appointment.state, "training_due_on": appointment.training_due_on},
                reason="training or RA agent terms not completed by the deadline (rule DS10)")
        removed.append(appointment)
    return removed


def check_summary(check: IdentityCheck) -> dict[str, Any]:
    return {
        "id": check.id, "person": check.person.uid, "checked_by": check.checked_by_label,
        "document_type": check.document_type, "issuing_country": check.issuing_country,
        "document_number": check.document_number, "document_expires_on": check.document_expires_on,
        "address_proof_kind": check.address_proof_kind, "address_proof_issuer": check.address_proof_issuer,
        "address_proof_issued_on": check.address_proof_issued_on, "photo_sha256": check.photo_sha256,
        "assurance_level": check.assurance_level, "assurance": rules.LEVEL_NAMES[check.assurance_level],
        "checked_at": check.checked_at, "request_reference": check.request_reference,
    }

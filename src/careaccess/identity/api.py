"""The identity API router (mounted at /api/v1/identity): identity checks and assurance, versioned
terms and acceptances, training records and RA agent appointments. Writes go through `services`."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Literal

from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from careaccess.api.problems import errors_for
from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput, NotFound
from careaccess.directory import person_search
from careaccess.directory.models import Person, Position, Service

from . import rules, selectors, services
from .models import IdentityCheck, RaAgentAppointment, TermsVersion, TrainingRecord

router = Router(tags=["identity"])

READ = errors_for(401, 403, 404, 422)
WRITE = errors_for(401, 403, 404, 409, 422)


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class CheckIn(In):
    document_type: Literal[tuple(IdentityCheck.DocumentType.values)]  # type: ignore[valid-type]
    issuing_country: str = Field(..., description="ISO 3166 two-letter code, like GB")
    document_number: str = Field(..., description="as printed; driving licence numbers are kept in capitals (DS7)")
    document_expires_on: dt.date | None = Field(None, description="required for photo documents; must be in date")
    address_proof_kind: str = Field(..., description="what it is, like 'water bill'")
    address_proof_issuer: str = Field(..., description="the company or organisation that issued it (DS7)")
    address_proof_issued_on: dt.date = Field(..., description="within the last 3 months (DS7)")
    photo: str | None = Field(None, description="the photo taken, base64")
    sponsor: str | None = Field(None, description="user id of the request's sponsor (who may not check, DS5)")
    request_reference: str = ""


class CheckOut(Schema):
    id: int
    person: str
    checked_by: str
    document_type: str
    issuing_country: str
    document_number: str
    document_expires_on: dt.date | None
    address_proof_kind: str
    address_proof_issuer: str
    address_proof_issued_on: dt.date
    photo_sha256: str
    assurance_level: int
    assurance: str
    checked_at: dt.datetime
    request_reference: str


class AssuranceOut(Schema):
    uid: str
    level: int = Field(..., description="0 never checked, 1 low, 2 substantial, 3 high")
    assurance: str
    checked_at: dt.datetime | None


class TermsIn(In):
    kind: Literal[tuple(TermsVersion.Kind.values)]  # type: ignore[valid-type]
    version: str
    title: str
    text: str


class TermsOut(Schema):
    kind: str
    version: str
    title: str
    text: str
    sha256: str
    published_at: dt.datetime


class AcceptIn(In):
    kind: Literal[tuple(TermsVersion.Kind.values)] = "user"  # type: ignore[valid-type]
    version: str
    occasion: Literal["registration", "sign_in", "appointment"] = "registration"


class AcceptOut(Schema):
    person: str
    kind: str
    version: str
    occasion: str
    accepted_at: dt.datetime


class TrainingIn(In):
    kind: Literal[tuple(TrainingRecord.Kind.values)] = Field(  # type: ignore[valid-type]
        ..., description="ig: information governance (CC9); ra_agent: the RA agent course (DS10); actioning: "
                         "training to action requests, needed to fulfil them (PP5)")
    completed_on: dt.date
    note: str = ""
    service: str | None = Field(None, description="actioning only: the service's code; none for every service")
    valid_until: dt.date | None = Field(None, description="actioning only: the last day the training is current")


class TrainingOut(Schema):
    id: int
    person: str
    kind: str
    service: str | None
    completed_on: dt.date
    valid_until: dt.date | None
    note: str
    recorded_by: str
    recorded_at: dt.datetime


class AppointmentIn(In):
    person: str = Field(..., description="the new RA agent's user id")
    position: int = Field(..., description="an RA agent position's id")
    starts_on: dt.date | None = None


class AppointmentOut(Schema):
    id: int
    person: str
    assignment: int
    position: str
    organisation: str
    appointed_by: str
    appointed_at: dt.datetime
    terms_accepted: bool
    training_due_on: dt.date
    trained: bool
    state: str


def _actor(request) -> Actor:
    return request.auth


def _person(uid: str) -> Person:
    person = Person.objects.filter(uid=str(uid).strip()).first()
    if person is None:
        raise NotFound(f"no person has the user id {uid}")
    return person


def _person_field(uid: str, field: str) -> Person:
    person = Person.objects.filter(uid=str(uid).strip()).first()
    if person is None:
        raise InvalidInput({field: f"no person has the user id {uid}; check the 12-digit id"})
    return person


def _readable(actor: Actor, uid: str, *, own_too: bool = False) -> Person:
    """The person whose identity records the actor asks for: their own (`own_too`), or one their
    position may read (directory.person_search: who holds or held a position where it covers);
    anyone else is 404 as a user id nobody has. 403 for those who read identity records nowhere."""
    person = _person(uid)
    if own_too and actor.kind == "person" and actor.person_id == person.id:
        return person
    permissions.authorise(actor, "identity.read")
    if person_search.reading(actor, person, "identity.read") is None:
        raise NotFound(f"no person has the user id {uid}")
    return person


def training_out(t: TrainingRecord) -> dict:
    return {"id": t.id, "person": t.person.uid, "kind": t.kind, "service": t.service.code if t.service_id else None,
            "completed_on": t.completed_on, "valid_until": t.valid_until, "note": t.note,
            "recorded_by": t.recorded_by_label, "recorded_at": t.recorded_at}


def appointment_out(a: RaAgentAppointment) -> dict:
    return {"id": a.id, "person": a.person.uid, "assignment": a.assignment_id, "position": a.assignment.position.name,
            "organisation": a.assignment.position.organisation.code, "appointed_by": a.appointed_by_label,
            "appointed_at": a.appointed_at, "terms_accepted": a.terms_acceptance_id is not None,
            "training_due_on": a.training_due_on, "trained": a.training_id is not None, "state": a.state}


# --- identity checks ---

@router.post("/people/{uid}/checks", response={201: CheckOut, **WRITE}, summary="Record an identity check (DS1, DS5, DS7)",
             description="RA agents only, never the sponsor of the same request nor the person themselves.")
def verify(request, uid: str, payload: CheckIn):
    person = _person(uid)
    data = payload.model_dump()
    photo = data.pop("photo")
    if photo:
        try:
            photo = base64.b64decode(photo, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput({"photo": "send the photo base64-encoded"}) from None
    sponsor = _person_field(data.pop("sponsor"), "sponsor") if payload.sponsor else None
    data.pop("sponsor", None)
    check = services.verify_identity(_actor(request), person, photo=photo or None, sponsor=sponsor, **data)
    return Status(201, services.check_summary(check))


@router.get("/people/{uid}/checks", response={200: list[CheckOut], **READ}, summary="A person's identity checks")
def checks(request, uid: str):
    person = _readable(_actor(request), uid)
    return [services.check_summary(c) for c in IdentityCheck.objects.filter(person=person).select_related("person")]


@router.get("/people/{uid}/assurance", response={200: AssuranceOut, **READ}, summary="Identity assurance level")
def assurance(request, uid: str):
    person = _readable(_actor(request), uid, own_too=True)
    check = selectors.latest_check(person)
    level = check.assurance_level if check else 0
    return {"uid": person.uid, "level": level, "assurance": rules.LEVEL_NAMES.get(level, "none"),
            "checked_at": check.checked_at if check else None}


# --- terms ---

@router.post("/terms", response={201: TermsOut, **WRITE}, summary="Publish a new version of terms (RA managers)")
def publish(request, payload: TermsIn):
    terms = services.publish_terms(_actor(request), **payload.model_dump())
    return Status(201, terms)


@router.get("/terms/{kind}", response={200: TermsOut, **READ}, summary="The current terms of a kind (DS2: anyone reads)")
def current(request, kind: str):
    terms = selectors.current_terms(kind)
    if terms is None:
        raise NotFound(f"no {kind} terms are published")
    return terms


@router.post("/people/{uid}/terms-acceptances", response={201: AcceptOut, **WRITE},
             summary="The person accepts the current terms (SC1, DS10)")
def accept(request, uid: str, payload: AcceptIn):
    person = _person(uid)
    acceptance = services.accept_terms(_actor(request), person, kind=payload.kind, version=payload.version,
                                       occasion=payload.occasion)
    return Status(201, {"person": person.uid, "kind": acceptance.terms.kind, "version": acceptance.terms.version,
                        "occasion": acceptance.occasion, "accepted_at": acceptance.accepted_at})


# --- training ---

@router.post("/people/{uid}/training", response={201: TrainingOut, **WRITE}, summary="Record completed training (CC9, DS10, PP5)")
def record_training(request, uid: str, payload: TrainingIn):
    data = payload.model_dump()
    code = data.pop("service")
    service = None
    if code:
        service = Service.objects.filter(code=code).first()
        if service is None:
            raise InvalidInput({"service": f"no service has the code {code}; leave it out for every service"})
    record = services.record_training(_actor(request), _person(uid), service=service, **data)
    return Status(201, training_out(record))


@router.get("/people/{uid}/training", response={200: list[TrainingOut], **READ}, summary="A person's training records")
def training(request, uid: str):
    person = _readable(_actor(request), uid, own_too=True)
    return [training_out(t) for t in TrainingRecord.objects.filter(person=person).select_related("person", "service")]


# --- RA agent appointments ---

@router.post("/ra-agent-appointments", response={201: AppointmentOut, **WRITE},
             summary="Appoint a new RA agent (DS10)", description="Someone with sponsor rights at the position's "
             "organisation; the RA agent terms and training are due by the deadline.")
def appoint(request, payload: AppointmentIn):
    person = _person_field(payload.person, "person")
    position = Position.objects.filter(id=payload.position).first()
    if position is None:
        raise InvalidInput({"position": f"no position has the id {payload.position}"})
    appointment = services.appoint_ra_agent(_actor(request), person, position, starts_on=payload.starts_on)
    return Status(201, appointment_out(RaAgentAppointment.objects.select_related(
        "person", "assignment__position__organisation").get(id=appointment.id)))


@router.get("/ra-agent-appointments", response={200: list[AppointmentOut], **READ}, summary="RA agent appointments")
def appointments(request, state: str | None = None):
    actor = _actor(request)
    permissions.authorise(actor, "identity.read")
    queryset = RaAgentAppointment.objects.select_related("person", "assignment__position__organisation")
    covered = permissions.covered_organisations(actor, "identity.read")
    if covered is not None:  # appointments to positions where the actor's position covers
        queryset = queryset.filter(assignment__position__organisation_id__in=covered)
    if state:
        queryset = queryset.filter(state=state)
    return [appointment_out(a) for a in queryset.order_by("training_due_on", "id")[:500]]


# --- second factors: the RA removes a lost one (credentials.removal) ---

class AuthenticatorOut(Schema):
    id: str = Field(..., description="'app-<n>' for the authenticator app, 'key-<n>' for a security key")
    kind: str
    name: str
    registered_at: dt.datetime
    last_used_at: dt.datetime | None


class RemovalIn(In):
    reason: str = Field(..., description="why it is removed, like 'phone lost on 3 June' (at most 300 characters)")
    in_person: bool = Field(..., description="the person is present: never remote (rule DS3)")
    id_document: Literal[tuple(sorted(rules.PHOTO_DOCUMENTS))] = Field(  # type: ignore[valid-type]
        ..., description="the photo ID the RA agent checked now (rule DS5)")


@router.get("/people/{uid}/authenticators", response={200: list[AuthenticatorOut], **READ},
            summary="A person's second factors", description="The person themselves, or RA staff covering them.")
def authenticators(request, uid: str):
    from careaccess.credentials import removal

    person = _person(uid)
    actor = _actor(request)
    if not (actor.kind == "person" and actor.person_id == person.id):
        removal.authorise(actor, person)
    return [vars(a) for a in removal.authenticators_of(person)]


@router.post("/people/{uid}/authenticators/{authenticator_id}/removal", response={200: AuthenticatorOut, **WRITE},
             summary="Remove a lost authenticator (RA staff, person present)",
             description="RA agents and managers covering the person, never the person themselves; the person is "
                         "present and their photo ID checked (DS3, DS5). Audited; the person is emailed. With no "
                         "second factor left they set up a new one at their next sign-in.")
def remove_authenticator(request, uid: str, authenticator_id: str, payload: RemovalIn):
    from careaccess.credentials import removal

    removed = removal.remove_authenticator(_actor(request), _person(uid), authenticator_id, **payload.model_dump())
    return vars(removed)

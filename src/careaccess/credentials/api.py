"""The smartcard API router (mounted at /api/v1/cards): cards, PINs, unlock, renewal, repair,
cancel, replacement, misuse, self-service unlock, and signing in with a card.

Thin by design: every write goes through `services` (which check permission and the rules and
audit), sign-in through `signin`. A card holder may read their own cards (certificate expiry, DS2);
staff read the cards of people in organisations they act for. The sign-in, the CA certificates and
the self-service unlock code endpoints need no token: the caller proves possession of the card or
of the emailed code instead.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Literal

from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict

from careaccess.api.problems import errors_for
from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput
from careaccess.directory.models import Person

from . import pki, policy, selectors, services, signin
from .models import Card, MisuseReport

router = Router(tags=["cards"])

READ = errors_for(401, 403, 422)
READ_ONE = errors_for(401, 403, 404, 422)
WRITE_ONE = errors_for(401, 403, 404, 409, 422)
PUBLIC = errors_for(401, 404, 409, 422)


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class CertificateOut(Schema):
    serial: str = Field(..., description="the X.509 serial number, lower-case hex")
    not_before: dt.datetime
    not_after: dt.datetime = Field(..., description="the certificate's expiry (2 years after issue, rule DS13)")
    status: str


class CardOut(Schema):
    serial: str
    series: str
    person: str = Field(..., description="the holder's user id; a card belongs to one person for good (SC10)")
    state: str
    locked: bool
    lock_reason: str
    pin_tries: int = Field(..., description="wrong PINs since the last right one (locked at 3)")
    renewals: int
    certificate: CertificateOut | None
    replaces: str | None
    replacement_reason: str
    collect_in_person: bool
    self_service_unlock: bool
    issued_at: dt.datetime
    issued_by: str
    cancelled_at: dt.datetime | None
    cancel_reason: str


class CardIn(In):
    person: str = Field(..., description="the holder's user id; their identity must have been checked (DS1)")
    pin: str = Field(..., description="the PIN the holder sets: 6 to 8 digits, kept only as a hash")
    sponsor: str | None = Field(None, description="the user id of the request's sponsor (never the issuer, DS5)")
    serial: str | None = Field(None, description="the card's printed serial; default a new one of the current series")
    request_reference: str = ""


class UnlockIn(In):
    new_pin: str = Field(..., description="the holder's own new PIN, entered by them")
    holder_present: bool = Field(..., description="the holder is present (DS3: never remote)")


class PinIn(In):
    old_pin: str
    new_pin: str


class RenewIn(In):
    mode: Literal["assisted", "self"] = Field(..., description="assisted (sponsor, RA agent, pharmacist) or self")


class RepairIn(In):
    in_person: bool = Field(..., description="the holder and the card are with the RA agent")


class CancelIn(In):
    reason: Literal["lost", "stolen", "damaged"]
    note: str = ""


class ReplaceIn(In):
    reason: str = Field(..., description="lost, stolen, damaged, faulty, series_not_renewable, renewals_used, "
                                         "name_change or other (with a note)")
    note: str = ""
    serial: str | None = None


class MisuseIn(In):
    description: str


class MisuseOut(Schema):
    id: int
    card: str
    person: str
    kind: str
    description: str
    reported_by: str
    reported_at: dt.datetime
    outcome: str
    decided_by: str
    decided_at: dt.datetime | None
    decision_reason: str


class DecisionIn(In):
    outcome: Literal["no_action", "suspended", "revoked"]
    reason: str


class ReasonIn(In):
    reason: str


class CodeSentOut(Schema):
    sent_to: str = Field(..., description="the mailbox the code went to, partly hidden")
    expires_at: dt.datetime


class SelfUnlockIn(In):
    code: str
    new_pin: str


class ChallengeOut(Schema):
    nonce: str
    challenge: str = Field(..., description="base64 of the exact bytes the card signs (ECDSA with SHA-256)")
    expires_at: dt.datetime


class SignInIn(In):
    nonce: str
    certificate: str = Field(..., description="the card's certificate, DER, base64")
    signature: str = Field(..., description="the card's signature over the challenge bytes, DER, base64")
    accept_terms_version: str | None = Field(None, description="the current terms of use, accepted (SC1)")


class SignInOut(Schema):
    uid: str
    card: str
    certificate: str
    certificate_not_after: dt.datetime
    terms_version: str | None


class AuthorityOut(Schema):
    root: str = Field(..., description="the root CA certificate, PEM")
    issuing: str = Field(..., description="the issuing CA certificate, PEM")
    crl_url: str


def _actor(request) -> Actor:
    return request.auth


def card_out(card: Card) -> dict:
    cert = card.certificate
    return {
        "serial": card.serial, "series": card.series, "person": card.person.uid, "state": card.state,
        "locked": card.locked, "lock_reason": card.lock_reason, "pin_tries": card.pin_tries,
        "renewals": card.renewals,
        "certificate": None if cert is None else {"serial": cert.serial, "not_before": cert.not_before,
                                                  "not_after": cert.not_after, "status": cert.status},
        "replaces": card.replaces.serial if card.replaces_id else None,
        "replacement_reason": card.replacement_reason, "collect_in_person": card.collect_in_person,
        "self_service_unlock": card.self_service_registered_at is not None,
        "issued_at": card.issued_at, "issued_by": card.issued_by_label, "cancelled_at": card.cancelled_at,
        "cancel_reason": card.cancel_reason,
    }


def misuse_out(report: MisuseReport) -> dict:
    return {
        "id": report.id, "card": report.card.serial, "person": report.card.person.uid, "kind": report.kind,
        "description": report.description, "reported_by": report.reported_by_label, "reported_at": report.reported_at,
        "outcome": report.outcome, "decided_by": report.decided_by_label, "decided_at": report.decided_at,
        "decision_reason": report.decision_reason,
    }


def _person(uid: str, field: str = "person") -> Person:
    person = Person.objects.filter(uid=str(uid).strip()).first()
    if person is None:
        raise InvalidInput({field: f"no person has the user id {uid}; check the 12-digit id"})
    return person


def _can_read(actor: Actor, holder: Person) -> None:
    if actor.kind == "person" and actor.person_id == holder.id:
        return  # a holder sees their own cards (DS2)
    services.authorise_for_holder(actor, "card.read", holder)


def _card(serial: str) -> Card:
    return selectors.card(serial)


def _fresh(card: Card) -> dict:
    return card_out(selectors.card(card.serial))


# --- the CA and signing in (no token) ---

@router.get("/ca", response={200: AuthorityOut, **errors_for(503)}, auth=None, summary="The CA certificates")
def authority(request):
    ca = pki.load()
    from cryptography.hazmat.primitives import serialization

    return {"root": ca.root.public_bytes(serialization.Encoding.PEM).decode(),
            "issuing": ca.issuing.public_bytes(serialization.Encoding.PEM).decode(), "crl_url": policy.crl_url()}


@router.post("/sign-in/challenge", response={201: ChallengeOut}, auth=None, summary="A single-use sign-in challenge",
             description="The card signs the `challenge` bytes; the challenge expires after "
                         "CAREACCESS_CARD_CHALLENGE_SECONDS (120) and can be answered once.")
def challenge(request):
    nonce, expires = signin.issue_challenge_nonce()
    return Status(201, {"nonce": nonce, "challenge": base64.b64encode(signin.challenge_bytes(nonce)).decode(),
                        "expires_at": expires})


@router.post("/sign-in", response={200: SignInOut, **errors_for(401, 422)}, auth=None, summary="Sign in with a card",
             description="Checks the signature, the chain to the issuing CA, validity, the CRL, the card's state and "
                         "PIN state; a replayed or expired challenge is refused. Audited (SC2).")
def sign_in(request, payload: SignInIn):
    result = signin.verify_sign_in(nonce=payload.nonce, certificate=payload.certificate, signature=payload.signature,
                                   accept_terms_version=payload.accept_terms_version)
    return {"uid": result.person_uid, "card": result.card_serial, "certificate": result.certificate_serial,
            "certificate_not_after": result.not_after, "terms_version": result.terms_version}


# --- misuse decisions (before /{serial} routes) ---

@router.get("/misuse-reports", response={200: list[MisuseOut], **READ}, summary="Open misuse reports")
def open_misuse(request):
    actor = permissions.authorise(_actor(request), "card.misuse_decide")
    return [misuse_out(r) for r in selectors.open_misuse_reports(actor).order_by("reported_at", "id")[:500]]


@router.post("/misuse-reports/{report_id}/decision", response={200: MisuseOut, **WRITE_ONE},
             summary="Decide a misuse report (SC3)", description="RA managers: no action, suspend or revoke.")
def decide_misuse(request, report_id: int, payload: DecisionIn):
    report = services.decide_misuse(_actor(request), report_id, outcome=payload.outcome, reason=payload.reason)
    return misuse_out(MisuseReport.objects.select_related("card__person").get(id=report.id))


# --- cards ---

@router.get("", response={200: list[CardOut], **READ}, summary="A person's cards")
def list_cards(request, person: str):
    holder = _person(person)
    _can_read(_actor(request), holder)
    return [card_out(c) for c in selectors.cards_of(holder).select_related("person")]


@router.post("", response={201: CardOut, **WRITE_ONE}, summary="Issue a card (DS1, DS5)",
             description="RA staff; the person's identity must have been checked; the holder sets the PIN.")
def issue(request, payload: CardIn):
    holder = _person(payload.person)
    sponsor = _person(payload.sponsor, "sponsor") if payload.sponsor else None
    card = services.issue_card(_actor(request), holder, pin=payload.pin, sponsor=sponsor, serial=payload.serial,
                               request_reference=payload.request_reference)
    return Status(201, _fresh(card))


@router.get("/{serial}", response={200: CardOut, **READ_ONE}, summary="One card")
def get_card(request, serial: str):
    card = _card(serial)
    _can_read(_actor(request), card.person)
    return card_out(card)


@router.post("/{serial}/unlock", response={200: CardOut, **WRITE_ONE}, summary="Unlock with the holder present (DS3, DS8)")
def unlock(request, serial: str, payload: UnlockIn):
    card = services.unlock_card(_actor(request), _card(serial), new_pin=payload.new_pin,
                                holder_present=payload.holder_present)
    return _fresh(card)


@router.post("/{serial}/pin", response={200: CardOut, **WRITE_ONE}, summary="The holder changes their PIN")
def change_pin(request, serial: str, payload: PinIn):
    card = services.change_pin(_actor(request), _card(serial).serial, old_pin=payload.old_pin, new_pin=payload.new_pin)
    return _fresh(card)


@router.post("/{serial}/renew", response={200: CardOut, **WRITE_ONE}, summary="Renew the certificate (DS11, DS13)")
def renew(request, serial: str, payload: RenewIn):
    card = _card(serial)
    if payload.mode == "self":
        card = services.self_renew(_actor(request), card)
    else:
        card = services.renew_assisted(_actor(request), card)
    return _fresh(card)


@router.post("/{serial}/repair", response={200: CardOut, **WRITE_ONE}, summary="Repair an expired card (RA agents)")
def repair(request, serial: str, payload: RepairIn):
    return _fresh(services.repair_card(_actor(request), _card(serial), in_person=payload.in_person))


@router.post("/{serial}/cancel", response={200: CardOut, **WRITE_ONE}, summary="Cancel a lost, stolen or damaged card (SC6)")
def cancel(request, serial: str, payload: CancelIn):
    return _fresh(services.cancel_card(_actor(request), _card(serial), reason=payload.reason, note=payload.note))


@router.post("/{serial}/replace", response={201: CardOut, **WRITE_ONE}, summary="Replace a card (DS12, DS14)",
             description="A stated reason and no second authorisation; the new card is issued locked.")
def replace(request, serial: str, payload: ReplaceIn):
    card = services.replace_card(_actor(request), _card(serial), reason=payload.reason, note=payload.note,
                                 serial=payload.serial)
    return Status(201, _fresh(card))


@router.post("/{serial}/misuse-reports", response={201: MisuseOut, **WRITE_ONE}, summary="Report suspected misuse (SC3)")
def report_misuse(request, serial: str, payload: MisuseIn):
    report = services.report_misuse(_actor(request), _card(serial), description=payload.description)
    return Status(201, misuse_out(MisuseReport.objects.select_related("card__person").get(id=report.id)))


@router.post("/{serial}/reinstate", response={200: CardOut, **WRITE_ONE}, summary="Reinstate a suspended card")
def reinstate(request, serial: str, payload: ReasonIn):
    return _fresh(services.reinstate_card(_actor(request), _card(serial), reason=payload.reason))


# --- self-service unlock (DS9) ---

@router.post("/{serial}/self-unlock/registration", response={200: CardOut, **WRITE_ONE},
             summary="Register for self-service unlock (the holder, with a mailbox)")
def register_self_unlock(request, serial: str):
    return _fresh(services.register_self_unlock(_actor(request), _card(serial)))


@router.post("/{serial}/self-unlock/code", response={202: CodeSentOut, **PUBLIC}, auth=None,
             summary="Email a one-time unlock code (DS9)", description="Valid 15 minutes, single use.")
def unlock_code(request, serial: str):
    code = services.request_unlock_code(_card(serial).serial)
    return Status(202, {"sent_to": services.masked_mailbox(code.card.person), "expires_at": code.expires_at})


@router.post("/{serial}/self-unlock", response={200: CardOut, **PUBLIC}, auth=None,
             summary="Unlock with the emailed code, setting a new PIN (DS9)")
def self_unlock(request, serial: str, payload: SelfUnlockIn):
    card = services.self_unlock(_card(serial).serial, code=payload.code, new_pin=payload.new_pin)
    return _fresh(card)


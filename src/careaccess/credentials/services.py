"""The only code that writes smartcards, certificates, CRLs, misuse reports and unlock codes.

Each function checks permission and the rules, writes and audits in one transaction; a refusal
raises before anything is written — except a wrong PIN or a wrong one-time code, whose audited
failure counter is kept (the counting transaction commits, then the refusal is raised).

Revocations publish a new CRL in the same transaction, last. Publishers take a lock of their own
first (`_serialise_crl_publishing`), so each CRL is built from every revocation committed before
it and CRL numbers (the CrlIssue ids) only grow.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import connection, transaction
from django.utils.timezone import localtime

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError, Conflict, Forbidden, InvalidInput, NotFound
from careaccess.core.outbox.services import enqueue
from careaccess.directory.models import Account, Assignment, Organisation, Person
from careaccess.directory.person_search import about_readable
from careaccess.directory.selectors import live_assignment_filter

from . import pki, policy, rules
from .cards import SoftwareCard
from .models import Card, Certificate, CrlIssue, MisuseReport, UnlockCode


class Refused(CareAccessError):
    """A rule forbids this now (too early, renewed too often, wrong state...): the message says why."""

    status = 409
    title = "Refused"


class CodeRefused(Refused):
    """A one-time unlock code that is wrong, expired, used or replaced (DS9): the refusal is about
    the code the holder typed, so a page shows it at that field."""

    field = "code"


# --- helpers ---

def _record(action: str, actor: Actor, card: Card, *, before=None, after=None, reason: str = "", target=None):
    target = target or card
    ledger.record(action, actor=actor, target_type=f"credentials.{target._meta.model_name}", target_id=target.pk,
                  before=before, after=after, person_uid=card.person.uid, reason=reason)


def _card_state(card: Card) -> dict:
    return {"serial": card.serial, "state": card.state, "lock_reason": card.lock_reason, "pin_tries": card.pin_tries,
            "renewals": card.renewals, "certificate": card.certificate.serial if card.certificate_id else None}


def _lock_card(card: Card | str) -> Card:
    serial = card.serial if isinstance(card, Card) else str(card)
    found = Card.objects.select_for_update().filter(serial=serial).first()
    if found is None:
        raise NotFound(f"no card has the serial {serial}")
    # Related rows are read after the lock (select_for_update cannot lock nullable joins on PostgreSQL).
    return Card.objects.select_related("person", "certificate").get(pk=found.pk)


def _check_pin_format(pin, field: str = "pin") -> None:
    try:
        rules.check_pin(pin, policy.pin_min_length(), policy.pin_max_length())
    except ValueError as exc:
        raise InvalidInput({field: str(exc)}) from None


def _holder_organisations(person: Person) -> list[Organisation]:
    ids = Assignment.objects.filter(live_assignment_filter(clock.today()), person=person).values_list(
        "position__organisation_id", flat=True)
    return list(Organisation.objects.filter(id__in=set(ids)).order_by("id"))


def _pharmacist_actor(actor: Actor, holder: Person) -> Actor | None:
    """A pharmacist holding a position at a pharmacy where the holder works, not as a locum (DS8)."""
    if actor.kind != "person" or actor.person_id is None:
        return None
    holder_sites = {o.id for o in _holder_organisations(holder) if o.kind == Organisation.Kind.PHARMACY}
    if not holder_sites:
        return None
    candidates = (Assignment.objects.filter(live_assignment_filter(clock.today()), person_id=actor.person_id,
                                            position__organisation_id__in=holder_sites,
                                            position__job_roles__code__in=policy.pharmacist_job_roles())
                  .select_related("position__organisation").distinct().order_by("id"))
    for assignment in candidates:
        if not rules.is_locum(assignment.ends_on, assignment.position.name):
            organisation = assignment.position.organisation
            return dataclasses.replace(actor, assignment_id=assignment.id, position_label=(
                f"{assignment.position.name}, {organisation.name} ({organisation.code})"))
    return None


def authorise_for_holder(actor: Actor, action: str, holder: Person, *, pharmacist: bool = False,
                         what: str = "this card") -> Actor:
    """Allow `action` on a holder's card (or `what` else of theirs) when the actor's grant covers
    one of the holder's organisations (a sponsor must know the person, SC9); with no live position
    anywhere, only RA staff may act. `pharmacist`: a pharmacist at the holder's pharmacy may too (DS8)."""
    if actor.kind != "person":
        return permissions.authorise(actor, action)
    organisations = _holder_organisations(holder)
    for organisation in organisations:
        if permissions.can(actor, action, organisation):
            return permissions.authorise(actor, action, organisation)
    if not organisations and permissions.can(actor, "card.issue"):
        return permissions.authorise(actor, "card.issue")
    if pharmacist:
        granted = _pharmacist_actor(actor, holder)
        if granted is not None:
            return granted
    allowed = permissions.ACTIONS[action]
    who = "an RA agent, a sponsor of their organisation or a pharmacist at their pharmacy (not a locum)" if pharmacist \
        else "RA staff or a sponsor of the holder's organisation" if "sponsor" in allowed \
        else "RA staff of the holder's organisation"
    verb = action.partition(".")[2].replace("_", " ")
    raise Forbidden(f"{actor.label} may not {verb} {what}: only {who} may")


def _not_self(actor: Actor, holder: Person, what: str) -> None:
    if actor.kind == "person" and actor.person_id == holder.id:
        raise Forbidden(f"nobody may {what} for themselves (rule DS5); another member of RA staff must")


def _new_serial() -> str:
    series = policy.new_card_series()
    while True:
        serial = series + "".join(secrets.choice("0123456789") for _ in range(10))
        if not Card.objects.filter(serial=serial).exists():
            return serial


def _require_identity(person: Person) -> None:
    from careaccess.identity import selectors as identity_selectors

    level = identity_selectors.assurance_level(person)
    if level < policy.min_assurance_for_card():
        raise Refused(f"{person.uid}'s identity has not been checked to level {policy.min_assurance_for_card()} "
                      f"(now {level}); an RA agent checks their identity documents first (rule DS1)")


def _issue_certificate(card: Card, soft: SoftwareCard, person: Person) -> Certificate:
    now = clock.now().replace(microsecond=0)
    not_after = now + dt.timedelta(days=policy.certificate_validity_days())  # rule DS13
    cert = pki.issue_certificate(soft.certificate_signing_request(person.uid), uid=person.uid, not_before=now,
                                 not_after=not_after)
    from cryptography.hazmat.primitives import serialization

    return Certificate.objects.create(
        serial=format(cert.serial_number, "x"), card=card, person_uid=person.uid,
        not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        der=cert.public_bytes(serialization.Encoding.DER), issued_at=clock.now())


def _make_card(actor: Actor, person: Person, serial: str, *, pin_hash: str, lock_reason: str, **extra) -> Card:
    authority = pki.load()
    soft = SoftwareCard.generate(serial)
    now = clock.now()
    card = Card.objects.create(
        serial=serial, series=rules.series_of(serial), person=person, pin_hash=pin_hash, lock_reason=lock_reason,
        pin_changed_at=now if pin_hash else None, public_key_der=soft.public_key_der(),
        encrypted_key=soft.sealed_key(authority.kek), issued_at=now, issued_by_label=actor.label, updated_at=now,
        **extra)
    card.certificate = _issue_certificate(card, soft, person)
    card.save(update_fields=["certificate"])
    return card


def _revoke(certificate: Certificate | None, reason: str) -> bool:
    if certificate is None or certificate.status == Certificate.Status.REVOKED:
        return False
    certificate.status = Certificate.Status.REVOKED
    certificate.revoked_at = clock.now()
    certificate.revocation_reason = reason
    certificate.save(update_fields=["status", "revoked_at", "revocation_reason"])
    return True


# Any fixed number: the key of the PostgreSQL advisory lock that CRL publishers queue on.
_CRL_LOCK = 0x43524C  # "CRL"


def _serialise_crl_publishing() -> None:
    """Publishers of CRLs one at a time, each until its transaction ends: the next one then reads
    the revocations the previous one committed. SQLite has one writer at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CRL_LOCK])


def publish_crl() -> CrlIssue:
    """Build and store a new CRL of every revoked certificate (last in a revocation's transaction)."""
    _serialise_crl_publishing()
    now = clock.now().replace(microsecond=0)
    rows = list(Certificate.objects.filter(status=Certificate.Status.REVOKED)
                .values_list("serial", "revoked_at", "revocation_reason").order_by("id"))
    issue = CrlIssue.objects.create(der=b"", this_update=now,
                                    next_update=now + dt.timedelta(hours=policy.crl_next_update_hours()),
                                    revoked_count=len(rows))
    issue.der = pki.build_crl(((int(s, 16), at, reason) for s, at, reason in rows), number=issue.id,
                              this_update=issue.this_update, next_update=issue.next_update)
    issue.save(update_fields=["der"])
    der = bytes(issue.der)
    transaction.on_commit(lambda: _write_crl_file(der))
    return issue


def _write_crl_file(der: bytes) -> None:
    directory = policy.pki_dir()
    if directory.exists():
        temporary = Path(directory) / f".crl.der.{os.getpid()}"
        temporary.write_bytes(der)
        os.replace(temporary, Path(directory) / "crl.der")


@transaction.atomic
def regenerate_crl(actor: Actor) -> CrlIssue:
    """`careaccess pki crl`: publish a fresh CRL (before the last one's nextUpdate passes)."""
    actor = permissions.authorise(actor, "pki.manage")
    ledger.record("pki.crl_published", actor=actor, target_type="credentials.crlissue", target_id="latest")
    return publish_crl()


# --- issue (DS1, DS5, DS16) ---

@transaction.atomic
def issue_card(actor: Actor, person: Person, *, pin: str, sponsor: Person | None = None, serial: str | None = None,
               request_reference: str = "") -> Card:
    """Issue a card to a verified person: a key pair generated on the card, a certificate from the
    card's CSR, and the PIN the holder sets (kept only as a hash)."""
    _not_self(actor, person, "issue a card")
    if sponsor is not None and actor.kind == "person" and actor.person_id == sponsor.id:
        raise Forbidden("the sponsor of this request may not issue the card for it (rule DS5); an RA agent who is "
                        "not the sponsor must")
    _check_pin_format(pin)
    if serial is not None:
        try:
            serial = rules.check_serial(serial)
        except ValueError as exc:
            raise InvalidInput({"serial": str(exc)}) from None
    if person.status != Person.Status.ACTIVE:
        raise Refused(f"{person.uid} is {person.status}; only an active person is issued a card")
    actor = authorise_for_holder(actor, "card.issue", person)
    _require_identity(person)
    serial = serial or _new_serial()
    if Card.objects.filter(serial=serial).exists():
        raise Conflict(f"a card with the serial {serial} already exists")
    card = _make_card(actor, person, serial, pin_hash=make_password(pin), lock_reason="")
    _record("card.issued", actor, card, after={**_card_state(card), "sponsor": sponsor.uid if sponsor else None,
                                               "request_reference": str(request_reference or "")[:100],
                                               "not_after": card.certificate.not_after})
    return card


# --- PINs (lock after 3 wrong, DS3) ---

def verify_pin(serial: str, pin: str) -> Card:
    """The card's PIN check. A wrong PIN counts (audited, kept) and the 3rd locks the card."""
    card, error = _verify_pin(serial, pin)
    if error is not None:
        raise error
    return card


@transaction.atomic
def _verify_pin(serial: str, pin) -> tuple[Card, CareAccessError | None]:
    card = _lock_card(serial)
    if card.state != Card.State.ACTIVE:
        return card, Refused(f"card {card.serial} is {card.state}; it cannot be used")
    if card.lock_reason == Card.LockReason.ISSUED_LOCKED:
        return card, Refused(f"card {card.serial} was issued locked; the holder unlocks it in person with an RA agent, "
                             f"setting their own PIN (rule DS14)")
    if card.locked:
        return card, Refused(f"card {card.serial} is locked ({card.get_lock_reason_display().lower()}); the holder "
                             f"unlocks it in person with an RA agent, a sponsor or a pharmacist, or by self-service")
    if not isinstance(pin, str) or not card.pin_hash or not check_password(pin, card.pin_hash):
        before = _card_state(card)
        card.pin_tries += 1
        if card.pin_tries >= policy.pin_max_tries():
            card.lock_reason = Card.LockReason.PIN_TRIES
        card.updated_at = clock.now()
        card.save(update_fields=["pin_tries", "lock_reason", "updated_at"])
        _record("card.pin_wrong", permissions.actor_for_person(card.person), card, before=before,
                after=_card_state(card))
        if card.locked:
            return card, Refused(f"wrong PIN: card {card.serial} is now locked after {card.pin_tries} wrong PINs; "
                                 f"unlock it in person with an RA agent, a sponsor or a pharmacist")
        left = policy.pin_max_tries() - card.pin_tries
        return card, Refused(f"wrong PIN: {left} {'try' if left == 1 else 'tries'} left before the card locks")
    if card.pin_tries:
        before = _card_state(card)
        card.pin_tries = 0
        card.save(update_fields=["pin_tries"])
        _record("card.pin_tries_reset", permissions.actor_for_person(card.person), card, before=before,
                after=_card_state(card))
    return card, None


def change_pin(actor: Actor, card: Card | str, *, old_pin: str, new_pin: str) -> Card:
    """The holder changes their own PIN, entering the old one (a wrong one counts)."""
    _check_pin_format(new_pin, "new_pin")
    serial = card.serial if isinstance(card, Card) else card
    holder_id = Card.objects.filter(serial=serial).values_list("person_id", flat=True).first()
    if actor.kind != "person" or actor.person_id != holder_id:
        raise Forbidden("only the card's holder changes its PIN; a locked card is unlocked instead")
    verify_pin(serial, old_pin)
    with transaction.atomic():
        card = _lock_card(serial)
        before = _card_state(card)
        card.pin_hash = make_password(new_pin)
        card.pin_changed_at = card.updated_at = clock.now()
        card.save(update_fields=["pin_hash", "pin_changed_at", "updated_at"])
        _record("card.pin_changed", actor, card, before=before, after=_card_state(card))
    return card


@transaction.atomic
def unlock_card(actor: Actor, card: Card | str, *, new_pin: str, holder_present: bool) -> Card:
    """Unlock with the holder present entering their own new PIN, never remotely (DS3), by an RA
    agent, a sponsor, or a pharmacist at the holder's pharmacy who is not a locum (DS8). A
    replacement issued locked is unlocked with an RA agent (DS14)."""
    if holder_present is not True:
        raise Forbidden("a card is unlocked only with the holder present entering their own new PIN (rule DS3); "
                        "it is never unlocked remotely")
    _check_pin_format(new_pin, "new_pin")
    card = _lock_card(card)
    if actor.kind == "person" and actor.person_id == card.person_id:
        raise Forbidden("a holder cannot unlock their own card here; ask an RA agent, a sponsor or a pharmacist, "
                        "or use self-service unlock")
    if card.state != Card.State.ACTIVE:
        raise Refused(f"card {card.serial} is {card.state}; it cannot be unlocked")
    if not card.locked:
        raise Refused(f"card {card.serial} is not locked; the holder can change the PIN instead")
    if card.lock_reason == Card.LockReason.ISSUED_LOCKED:
        actor = authorise_for_holder(actor, "card.replace", card.person)  # RA staff only (DS14)
    else:
        actor = authorise_for_holder(actor, "card.unlock", card.person, pharmacist=True)
    before = _card_state(card)
    card.pin_hash = make_password(new_pin)
    card.pin_tries = 0
    card.lock_reason = ""
    card.pin_changed_at = card.updated_at = clock.now()
    card.save(update_fields=["pin_hash", "pin_tries", "lock_reason", "pin_changed_at", "updated_at"])
    _record("card.unlocked", actor, card, before=before, after={**_card_state(card), "holder_present": True})
    return card


# --- renewal and repair (SC9, DS11, DS13) ---

def _renewal_common(card: Card) -> dict:
    return {"series": card.series, "renewals": card.renewals, "not_after": card.certificate.not_after,
            "now": clock.now(), "non_renewable": policy.non_renewable_series(), "max_renewals": policy.max_renewals()}


def _reissue(actor: Actor, card: Card, action: str, *, revoke_old: bool, extra: dict | None = None) -> Card:
    before = _card_state(card)
    old = card.certificate
    soft = SoftwareCard.open(card)
    card.certificate = _issue_certificate(card, soft, card.person)
    card.renewals += 1
    card.updated_at = clock.now()
    card.save(update_fields=["certificate", "renewals", "updated_at"])
    revoked = _revoke(old, "superseded") if revoke_old else False
    _record(action, actor, card, before={**before, "not_after": old.not_after},
            after={**_card_state(card), "not_after": card.certificate.not_after, **(extra or {})})
    if revoked:
        publish_crl()
    return card


def _unusable_for_renewal(card: Card) -> str | None:
    if card.state != Card.State.ACTIVE:
        return f"card {card.serial} is {card.state}; its certificate cannot be renewed"
    if card.locked:
        return f"card {card.serial} is locked; unlock it first"
    return None


def _usable_for_renewal(card: Card) -> None:
    refusal = _unusable_for_renewal(card)
    if refusal:
        raise Refused(refusal)


def self_renewal_refusal(card: Card) -> str | None:
    """Why the holder may not self-renew this card's certificate now, or None (DS11, DS13). A read:
    the account page asks it to offer the renewal; `self_renew` asks it again under the card's lock."""
    if card.certificate_id is None:
        return f"card {card.serial} has no certificate to renew"
    return _unusable_for_renewal(card) or rules.self_renewal_refusal(window_days=policy.self_renewal_window_days(),
                                                                     **_renewal_common(card))


@transaction.atomic
def renew_assisted(actor: Actor, card: Card | str) -> Card:
    """A sponsor, card unlocker, RA agent or pharmacist renews an unexpired certificate (SC9)."""
    card = _lock_card(card)
    if actor.kind == "person" and actor.person_id == card.person_id:
        raise Forbidden("holders renew their own certificate by self-renewal, in the window before it expires")
    _usable_for_renewal(card)
    refusal = rules.assisted_renewal_refusal(**_renewal_common(card))
    if refusal:
        raise Refused(refusal)
    actor = authorise_for_holder(actor, "card.renew", card.person, pharmacist=True)
    return _reissue(actor, card, "card.renewed", revoke_old=True, extra={"mode": "assisted"})


@transaction.atomic
def self_renew(actor: Actor, card: Card | str) -> Card:
    """The holder renews in the 90 days before expiry, at most 3 times, never series 01-03 (DS11, DS13)."""
    card = _lock_card(card)
    if actor.kind != "person" or actor.person_id != card.person_id:
        raise Forbidden("only the card's holder self-renews its certificate")
    refusal = self_renewal_refusal(card)
    if refusal:
        raise Refused(refusal)
    return _reissue(actor, card, "card.renewed", revoke_old=True, extra={"mode": "self"})


@transaction.atomic
def repair_card(actor: Actor, card: Card | str, *, in_person: bool) -> Card:
    """An RA agent repairs, in person, a card whose certificate has expired (SC9). It counts as a
    renewal and has the same limits (DS11, DS13)."""
    if in_person is not True:
        raise Forbidden("a card is repaired in person with an RA agent; bring the card and the holder")
    card = _lock_card(card)
    _not_self(actor, card.person, "repair a card")
    if card.state != Card.State.ACTIVE:
        raise Refused(f"card {card.serial} is {card.state}; it cannot be repaired")
    refusal = rules.repair_refusal(**_renewal_common(card))
    if refusal:
        raise Refused(refusal)
    actor = authorise_for_holder(actor, "card.repair", card.person)
    return _reissue(actor, card, "card.repaired", revoke_old=False, extra={"in_person": True})


# --- cancel, replace (SC6, DS12, DS14, SC10) ---

_CANCEL_REVOCATION = {"lost": "key_compromise", "stolen": "key_compromise", "damaged": "cessation_of_operation"}


def _open_misuse_check(actor: Actor, card: Card, kind: str, description: str) -> MisuseReport:
    report = MisuseReport.objects.create(card=card, kind=kind, description=description, reported_by_label=actor.label,
                                         reported_at=clock.now())
    _record("card.misuse_reported", actor, card, target=report,
            after={"card": card.serial, "kind": kind, "description": description})
    enqueue(to=policy.ra_email(), subject=f"Smartcard {card.serial}: {report.get_kind_display().lower()} to check",
            body=(f"{report.get_kind_display()} reported by {actor.label} for card {card.serial} of user "
                  f"{card.person.uid}.\n\n{description}\n\nMisuse report {report.id} is open until an RA manager "
                  f"decides it."), kind="misuse_report", cause=f"misuse_report:{report.id}")
    return report


def _cancel(actor: Actor, card: Card, *, reason: str, note: str, revocation: str, misuse_check: bool) -> None:
    before = _card_state(card)
    card.state = Card.State.CANCELLED
    card.cancelled_at = card.updated_at = clock.now()
    card.cancel_reason = f"{reason}: {note}" if note else reason
    card.save(update_fields=["state", "cancelled_at", "cancel_reason", "updated_at"])
    _revoke(card.certificate, revocation)
    _record("card.cancelled", actor, card, before=before, after=_card_state(card), reason=card.cancel_reason)
    if misuse_check:  # rule SC6: a loss or theft is checked for misuse
        _open_misuse_check(actor, card, MisuseReport.Kind.LOSS_OR_THEFT,
                           f"Card reported {reason}{': ' + note if note else ''}. Check its recent use for misuse.")
    publish_crl()


@transaction.atomic
def cancel_card(actor: Actor, card: Card | str, *, reason: str, note: str = "") -> Card:
    """Cancel a lost, stolen or damaged card: its certificate is revoked and the CRL republished;
    a loss or theft opens a misuse check (SC6). The holder may report their own card."""
    if reason not in rules.CANCEL_REASONS:
        raise InvalidInput({"reason": f"choose one of: {', '.join(rules.CANCEL_REASONS)}"})
    card = _lock_card(card)
    if card.state in (Card.State.CANCELLED, Card.State.REVOKED):
        raise Refused(f"card {card.serial} is already {card.state}")
    if not (actor.kind == "person" and actor.person_id == card.person_id):
        actor = authorise_for_holder(actor, "card.cancel", card.person)
    _cancel(actor, card, reason=reason, note=str(note or "")[:200], revocation=_CANCEL_REVOCATION[reason],
            misuse_check=reason in ("lost", "stolen"))
    return card


def _works_at_pharmacy(person: Person) -> bool:
    return any(o.kind == Organisation.Kind.PHARMACY for o in _holder_organisations(person))


@transaction.atomic
def replace_card(actor: Actor, card: Card | str, *, reason: str, note: str = "", serial: str | None = None) -> Card:
    """A replacement card for the same holder (SC10): a stated reason and no second authorisation
    (DS12), issued locked for the holder to unlock with an RA agent (DS14). A lost or stolen
    pharmacy card's replacement is collected in person (DS12)."""
    note = str(note or "").strip()[:200]
    if reason not in rules.REPLACEMENT_REASONS:
        raise InvalidInput({"reason": f"state why the card is replaced, one of: {', '.join(rules.REPLACEMENT_REASONS)}"})
    if reason == "other" and not note:
        raise InvalidInput({"note": "say why the card is replaced"})
    if serial is not None:
        try:
            serial = rules.check_serial(serial)
        except ValueError as exc:
            raise InvalidInput({"serial": str(exc)}) from None
    old = _lock_card(card)
    _not_self(actor, old.person, "replace a card")
    if old.state in (Card.State.SUSPENDED, Card.State.REVOKED):
        raise Refused(f"card {old.serial}'s access is {old.state} after a misuse report; an RA manager decides "
                      f"before any replacement")
    if Card.objects.filter(replaces=old).exists():
        raise Conflict(f"card {old.serial} has already been replaced")
    actor = authorise_for_holder(actor, "card.replace", old.person)
    _require_identity(old.person)
    if old.state == Card.State.ACTIVE:
        cancel_reason = reason if reason in rules.CANCEL_REASONS else f"replaced ({reason})"
        _cancel(actor, old, reason=cancel_reason, note=note,
                revocation=_CANCEL_REVOCATION.get(reason, "superseded"), misuse_check=reason in ("lost", "stolen"))
    serial = serial or _new_serial()
    if Card.objects.filter(serial=serial).exists():
        raise Conflict(f"a card with the serial {serial} already exists")
    new = _make_card(actor, old.person, serial, pin_hash="", lock_reason=Card.LockReason.ISSUED_LOCKED, replaces=old,
                     replacement_reason=f"{reason}: {note}" if note else reason,
                     collect_in_person=reason in ("lost", "stolen") and _works_at_pharmacy(old.person))
    _record("card.replaced", actor, new, before={"card": old.serial},
            after={**_card_state(new), "replaces": old.serial, "collect_in_person": new.collect_in_person},
            reason=new.replacement_reason)
    return new


# --- misuse (SC3) ---

@transaction.atomic
def report_misuse(actor: Actor, card: Card | str, *, description: str) -> MisuseReport:
    description = str(description or "").strip()
    if not description:
        raise InvalidInput({"description": "describe the suspected misuse: what, when, who noticed"})
    card = _lock_card(card)
    actor = permissions.authorise(actor, "card.misuse_report")
    return _open_misuse_check(actor, card, MisuseReport.Kind.MISUSE, description)


@transaction.atomic
def decide_misuse(actor: Actor, report: MisuseReport | int, *, outcome: str, reason: str) -> MisuseReport:
    """An RA manager decides: no action, suspend the card's access, or revoke it (SC3)."""
    report_id = report.id if isinstance(report, MisuseReport) else int(report)
    permissions.authorise(actor, "card.misuse_decide")
    # One about a holder beyond the actor's positions is as one nobody made.
    report = about_readable(actor, MisuseReport.objects.select_for_update(of=("self",)).filter(id=report_id),
                            "card.misuse_decide", "card__person_id").first()
    if report is None:
        raise NotFound(f"no misuse report has the id {report_id}")
    choices = (MisuseReport.Outcome.NO_ACTION, MisuseReport.Outcome.SUSPENDED, MisuseReport.Outcome.REVOKED)
    errors = {}
    if outcome not in choices:
        errors["outcome"] = f"choose one of: {', '.join(choices)}"
    reason = str(reason or "").strip()
    if not reason:
        errors["reason"] = "give the reason for the decision"
    if errors:
        raise InvalidInput(errors)
    actor = permissions.authorise(actor, "card.misuse_decide")
    if report.outcome != MisuseReport.Outcome.OPEN:
        raise Conflict(f"misuse report {report.id} was already decided: {report.outcome}")
    card = _lock_card(report.card.serial)
    before = _card_state(card)
    report.outcome = outcome
    report.decided_by_label = actor.label
    report.decided_at = clock.now()
    report.decision_reason = reason
    report.save(update_fields=["outcome", "decided_by_label", "decided_at", "decision_reason"])
    revoked = False
    if outcome == MisuseReport.Outcome.SUSPENDED and card.state == Card.State.ACTIVE:
        card.state = Card.State.SUSPENDED
    elif outcome == MisuseReport.Outcome.REVOKED and card.state in (Card.State.ACTIVE, Card.State.SUSPENDED,
                                                                     Card.State.CANCELLED):
        card.state = Card.State.REVOKED
        revoked = _revoke(card.certificate, "privilege_withdrawn")
    card.updated_at = clock.now()
    card.save(update_fields=["state", "updated_at"])
    _record("card.misuse_decided", actor, card, target=report, before=before,
            after={**_card_state(card), "outcome": outcome}, reason=reason)
    if revoked:
        publish_crl()
    return report


@transaction.atomic
def reinstate_card(actor: Actor, card: Card | str, *, reason: str) -> Card:
    reason = str(reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": "give the reason the card's access is reinstated"})
    card = _lock_card(card)
    actor = permissions.authorise(actor, "card.misuse_decide")
    if card.state != Card.State.SUSPENDED:
        raise Refused(f"card {card.serial} is {card.state}, not suspended")
    before = _card_state(card)
    card.state = Card.State.ACTIVE
    card.updated_at = clock.now()
    card.save(update_fields=["state", "updated_at"])
    _record("card.reinstated", actor, card, before=before, after=_card_state(card), reason=reason)
    return card


# --- self-service unlock (DS9) ---

def mailbox_address(person: Person) -> str | None:
    """The holder's mailbox: an active account on the mailbox service (its username when it is an
    address, else the person's email)."""
    account = Account.objects.filter(person=person, service__code=policy.mailbox_service_code(),
                                     state=Account.State.ACTIVE).first()
    if account is None:
        return None
    if "@" in account.username:
        return account.username
    return person.email or None


def masked_mailbox(person: Person) -> str:
    """The holder's mailbox partly hidden (h****@nhs.net), to say where an unlock code went."""
    name, _, domain = (mailbox_address(person) or "").partition("@")
    return f"{name[:1]}{'*' * max(len(name) - 1, 1)}@{domain}"


@transaction.atomic
def register_self_unlock(actor: Actor, card: Card | str) -> Card:
    card = _lock_card(card)
    if actor.kind != "person" or actor.person_id != card.person_id:
        raise Forbidden("only the card's holder registers for self-service unlock")
    if card.state != Card.State.ACTIVE or card.locked:
        raise Refused(f"card {card.serial} must be active and unlocked to register for self-service unlock")
    if mailbox_address(card.person) is None:
        raise Refused("self-service unlock needs a mailbox account (rule DS9); ask for one, or unlock with an RA agent")
    if card.self_service_registered_at is None:
        card.self_service_registered_at = clock.now()
        card.save(update_fields=["self_service_registered_at"])
        _record("card.self_unlock_registered", actor, card, after={"serial": card.serial})
    return card


def _code_hash(serial: str, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"unlock:{serial}:{code}".encode(), hashlib.sha256).hexdigest()


@transaction.atomic
def request_unlock_code(serial: str) -> UnlockCode:
    """Email a one-time unlock code to the registered holder's mailbox (rule DS9)."""
    card = _lock_card(serial)
    if card.self_service_registered_at is None:
        raise Refused("this card is not registered for self-service unlock (rule DS9); unlock it in person with an "
                      "RA agent, a sponsor or a pharmacist")
    if card.state != Card.State.ACTIVE:
        raise Refused(f"card {card.serial} is {card.state}; it cannot be unlocked")
    if card.lock_reason == Card.LockReason.ISSUED_LOCKED:
        raise Refused("a replacement card issued locked is unlocked with an RA agent (rule DS14)")
    if not card.locked:
        raise Refused(f"card {card.serial} is not locked")
    address = mailbox_address(card.person)
    if address is None:
        raise Refused("self-service unlock needs a mailbox account (rule DS9)")
    now = clock.now()
    recent = list(UnlockCode.objects.filter(card=card, created_at__gt=now - dt.timedelta(days=1))
                  .order_by("created_at").values_list("created_at", flat=True)[:policy.unlock_codes_per_day()])
    if len(recent) >= policy.unlock_codes_per_day():
        again = recent[0] + dt.timedelta(days=1)
        raise Refused(f"{len(recent)} unlock codes were sent for card {card.serial} in the last 24 hours, the most "
                      f"allowed; request a new code after {localtime(again):%d %B %H:%M %Z}, or unlock it in person with an "
                      f"RA agent, a sponsor or a pharmacist")
    UnlockCode.objects.filter(card=card, used_at__isnull=True).update(used_at=now)  # one live code at a time
    code = f"{secrets.randbelow(10 ** 8):08d}"
    minutes = policy.unlock_code_minutes()
    unlock = UnlockCode.objects.create(card=card, code_hash=_code_hash(card.serial, code), created_at=now,
                                       expires_at=now + dt.timedelta(minutes=minutes))
    actor = permissions.actor_for_person(card.person)
    _record("card.unlock_code_sent", actor, card, target=unlock, after={"card": card.serial, "to": address,
                                                                          "expires_at": unlock.expires_at})
    enqueue(to=address, subject="Your smartcard unlock code",
            body=(f"Your one-time code to unlock smartcard {card.serial} is {code}.\n\nIt works once, for "
                  f"{minutes} minutes. If you did not ask for it, tell the RA team at {policy.ra_email()} at once."),
            kind="unlock_code", cause=f"unlock_code:{unlock.id}")
    return unlock


def self_unlock(serial: str, *, code: str, new_pin: str) -> Card:
    """Unlock with the emailed code, setting a new PIN. A wrong code counts (audited); an expired or
    used code is refused."""
    _check_pin_format(new_pin, "new_pin")
    card, error = _self_unlock(serial, str(code or "").strip(), new_pin)
    if error is not None:
        raise error
    return card


@transaction.atomic
def _self_unlock(serial: str, code: str, new_pin: str):
    card = _lock_card(serial)
    unlock = UnlockCode.objects.select_for_update().filter(card=card).order_by("-created_at", "-id").first()
    now = clock.now()
    if unlock is None or unlock.used_at is not None:
        return card, CodeRefused("this code has been used or replaced; request a new code")
    if now >= unlock.expires_at:
        return card, CodeRefused(f"this code expired at {localtime(unlock.expires_at):%H:%M %Z}; request a new code")
    if unlock.attempts >= policy.unlock_code_max_attempts():
        return card, CodeRefused("too many wrong codes; request a new code")
    actor = permissions.actor_for_person(card.person)
    if not hmac.compare_digest(unlock.code_hash, _code_hash(card.serial, code)):
        unlock.attempts += 1
        unlock.save(update_fields=["attempts"])
        _record("card.unlock_code_wrong", actor, card, target=unlock, after={"attempts": unlock.attempts})
        return card, CodeRefused("wrong code; check the email and enter the code again")
    if card.state != Card.State.ACTIVE or card.lock_reason != Card.LockReason.PIN_TRIES:
        return card, Refused(f"card {card.serial} cannot be unlocked by self-service now")
    before = _card_state(card)
    unlock.used_at = now
    unlock.save(update_fields=["used_at"])
    card.pin_hash = make_password(new_pin)
    card.pin_tries = 0
    card.lock_reason = ""
    card.pin_changed_at = card.updated_at = now
    card.save(update_fields=["pin_hash", "pin_tries", "lock_reason", "pin_changed_at", "updated_at"])
    _record("card.self_unlocked", actor, card, before=before, after=_card_state(card))
    return card, None

"""Signing in with a card: the server issues a single-use challenge, the card signs it, careaccess
verifies — signature, chain to the issuing CA, validity period, the CRL and revocation, the card's
state and PIN state — and records the sign-in (SC2), with the terms accepted again (SC1).

The published CRL is parsed once per CRL number and kept in memory as a set of serials, so the
revocation lookup of a sign-in is one indexed query for the newest CRL number and a set lookup.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from django.db import transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.errors import CareAccessError, InvalidInput

from . import pki, policy
from .cards import SIGNATURE_ALGORITHM
from .models import Card, Certificate, Challenge, CrlIssue

CHALLENGE_PREFIX = b"careaccess card sign-in v1\n"


class SignInRefused(CareAccessError):
    status = 401
    title = "Sign-in refused"


@dataclass(frozen=True)
class SignIn:
    person: object
    card: Card
    certificate: Certificate
    terms_version: str | None


def challenge_bytes(nonce: str) -> bytes:
    """What the card signs for a challenge."""
    return CHALLENGE_PREFIX + nonce.encode("ascii")


def issue_challenge() -> Challenge:
    """A fresh single-use challenge (not audited: it changes nothing until a card answers it)."""
    now = clock.now()
    return Challenge.objects.create(nonce=secrets.token_hex(32), created_at=now,
                                    expires_at=now + dt.timedelta(seconds=policy.challenge_seconds()))


# --- the CRL, parsed once per number ---

_crl_lock = threading.Lock()
_crl_cache: dict[tuple, tuple[tuple, frozenset[int]]] = {}


def revoked_serials() -> frozenset[int]:
    """The serials on the newest published CRL (its signature verified once when first read)."""
    from django.db import connection

    latest = CrlIssue.objects.order_by("-id").values_list("id", "this_update", "revoked_count").first()
    if latest is None:
        return frozenset()
    authority = pki.load()
    key = (connection.settings_dict.get("NAME"), str(authority.directory))
    with _crl_lock:
        cached = _crl_cache.get(key)
        if cached and cached[0] == latest:
            return cached[1]
    der = bytes(CrlIssue.objects.values_list("der", flat=True).get(id=latest[0]))
    crl = x509.load_der_x509_crl(der)
    if not crl.is_signature_valid(authority.issuing.public_key()):
        raise SignInRefused("the published CRL does not verify against the issuing CA; sign-in is unavailable")
    serials = frozenset(entry.serial_number for entry in crl)
    with _crl_lock:
        _crl_cache[key] = (latest, serials)
    return serials


def _decode(value, field: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return base64.b64decode(str(value), validate=True)
    except (ValueError, TypeError):
        raise InvalidInput({field: "send it base64-encoded"}) from None


def verify_sign_in(*, nonce: str, certificate, signature, accept_terms_version: str | None = None) -> SignIn:
    """Check a card's answer to a challenge; on success the challenge is spent, the sign-in audited
    and the terms acceptance recorded. Refusals change nothing."""
    certificate_der = _decode(certificate, "certificate")
    signature = _decode(signature, "signature")
    now = clock.now()
    # The challenge: known, not used, not expired.
    challenge = Challenge.objects.filter(nonce=str(nonce or "")).values("id", "expires_at", "used_at").first()
    if challenge is None:
        raise SignInRefused("unknown challenge; ask for a new one")
    if challenge["used_at"] is not None:
        raise SignInRefused("this challenge was already used (a replay); ask for a new one")
    if now >= challenge["expires_at"]:
        raise SignInRefused("this challenge has expired; ask for a new one")
    # The certificate: ours, in date, not revoked.
    try:
        cert = x509.load_der_x509_certificate(certificate_der)
    except ValueError:
        raise SignInRefused("the certificate is not a DER X.509 certificate") from None
    authority = pki.load()
    try:
        cert.verify_directly_issued_by(authority.issuing)
    except (ValueError, TypeError, InvalidSignature):
        raise SignInRefused("the certificate was not issued by careaccess's issuing CA (forged or foreign)") from None
    if now < cert.not_valid_before_utc:
        raise SignInRefused("the certificate is not valid yet")
    if now > cert.not_valid_after_utc:
        raise SignInRefused(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}; renew or repair the card")
    if cert.serial_number in revoked_serials():
        raise SignInRefused("the certificate has been revoked (it is on the CRL)")
    # Possession of the card's key.
    try:
        cert.public_key().verify(signature, challenge_bytes(str(nonce)), SIGNATURE_ALGORITHM)
    except (InvalidSignature, TypeError, ValueError):
        raise SignInRefused("the signature over the challenge does not verify with the certificate's key") from None
    # The card and its holder.
    record = (Certificate.objects.select_related("card__person").filter(serial=format(cert.serial_number, "x")).first())
    if record is None or record.status != Certificate.Status.VALID:
        raise SignInRefused("the certificate has been revoked")
    card = record.card
    if card.certificate_id != record.id:
        raise SignInRefused("this certificate has been superseded on the card; use the card's current certificate")
    if card.state != Card.State.ACTIVE:
        raise SignInRefused(f"card {card.serial} is {card.state}; it cannot be used to sign in")
    if card.locked:
        raise SignInRefused(f"card {card.serial} is locked; unlock it with the holder present")
    person = card.person
    if person.status != person.Status.ACTIVE:
        raise SignInRefused(f"user {person.uid} is {person.status}")
    if pki.uid_of(cert) != person.uid:
        raise SignInRefused("the certificate is not bound to the card's holder")
    from careaccess.identity import selectors as identity_selectors
    from careaccess.identity import services as identity_services

    terms = identity_selectors.current_terms("user")
    if terms is not None and str(accept_terms_version or "") != terms.version:
        # rule SC1: the terms are accepted at every sign-in.
        raise SignInRefused(f"accept the terms of use version {terms.version} to sign in (rule SC1)")
    actor = permissions.actor_for_person(person)
    with transaction.atomic():
        spent = Challenge.objects.filter(id=challenge["id"], used_at__isnull=True, expires_at__gt=now).update(used_at=now)
        if not spent:
            raise SignInRefused("this challenge was already used (a replay); ask for a new one")
        if terms is not None:
            identity_services.accept_terms_in_transaction(actor, person, terms, "sign_in")
        ledger.record("card.signed_in", actor=actor, target_type="credentials.card", target_id=card.id,
                      person_uid=person.uid, after={"card": card.serial, "certificate": record.serial})
    return SignIn(person=person, card=card, certificate=record, terms_version=terms.version if terms else None)

"""Signing in with a card: the server issues a single-use challenge, the card signs it, careaccess
verifies — signature, chain to the issuing CA, validity period, the CRL and revocation, the card's
state and PIN state — and records the sign-in (SC2), with the terms accepted again (SC1).

Revocation is looked up in the certificate's own row (found by its serial, a unique index), the
record every CRL is built from — a revocation and the CRL listing it commit together — so a
sign-in never parses a CRL. On PostgreSQL one prepared statement spends the challenge and reads
the certificate, card, holder and current terms; with BEGIN, the audit entry and COMMIT that is
four round trips a sign-in. (psycopg's pipeline mode, sending BEGIN with the statement, measured
slower: benchmarks/cards_bench.py.) Most of a sign-in's time on PostgreSQL is its COMMIT waiting
for the WAL to reach the disk; concurrent sign-ins share those flushes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from functools import cached_property, lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from django.db import connection, transaction

from careaccess.core import clock, sql
from careaccess.core.audit import ledger
from careaccess.core.errors import CareAccessError, InvalidInput

from . import pki, policy
from .cards import SIGNATURE_ALGORITHM
from .models import Card, Certificate, Challenge

CHALLENGE_PREFIX = b"careaccess card sign-in v1\n"


class SignInRefused(CareAccessError):
    status = 401
    title = "Sign-in refused"


@dataclass
class SignIn:
    """Who signed in, with which card and certificate (rows loaded on first use)."""

    person_id: int
    person_uid: str
    card_id: int
    card_serial: str
    certificate_serial: str
    not_after: dt.datetime
    terms_version: str | None

    @cached_property
    def person(self):
        from careaccess.directory.models import Person

        return Person.objects.get(id=self.person_id)

    @cached_property
    def card(self) -> Card:
        return Card.objects.get(id=self.card_id)

    @cached_property
    def certificate(self) -> Certificate:
        return Certificate.objects.get(serial=self.certificate_serial)


def check_method(service, method: str) -> None:
    """Refuse a sign-in method a service does not allow: card-only services have no fall-back (DS18)."""
    from . import rules

    refusal = rules.sign_in_refusal(method, card_only=bool(service.card_only), service_name=service.name)
    if refusal:
        raise SignInRefused(refusal)


def challenge_bytes(nonce: str) -> bytes:
    """What the card signs for a challenge."""
    return CHALLENGE_PREFIX + nonce.encode("ascii")


@dataclass(frozen=True)
class IssuedChallenge:
    nonce: str
    expires_at: dt.datetime


def _challenge_key() -> bytes:
    from django.conf import settings

    return _key_for(settings.SECRET_KEY)


@lru_cache(maxsize=2)
def _key_for(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"careaccess card sign-in challenge", hashlib.sha256).digest()


def _seal(body: str) -> str:
    return hmac.new(_challenge_key(), body.encode("ascii"), hashlib.sha256).hexdigest()[:32]


def issue_challenge() -> IssuedChallenge:
    """A fresh single-use challenge: `<expiry ms>.<random>.<MAC>`, sealed with a key derived from
    SECRET_KEY, so issuing one writes nothing (and is not audited). It is recorded as spent when a
    card answers it; a second answer finds it spent (a replay)."""
    expires = clock.now() + dt.timedelta(seconds=policy.challenge_seconds())
    body = f"{int(expires.timestamp() * 1000)}.{secrets.token_hex(12)}"
    return IssuedChallenge(nonce=f"{body}.{_seal(body)}", expires_at=expires)


def issue_challenge_nonce() -> tuple[str, dt.datetime]:
    challenge = issue_challenge()
    return challenge.nonce, challenge.expires_at


def _open_challenge(nonce: str, now: dt.datetime) -> dt.datetime:
    """The challenge's expiry, once its seal checks and it has not expired."""
    body, _, mac = nonce.rpartition(".")
    expiry_ms, _, random_part = body.partition(".")
    if not (mac and random_part and expiry_ms.isdigit() and hmac.compare_digest(mac, _seal(body))):
        raise SignInRefused("unknown challenge (not issued by careaccess); ask for a new one")
    expires = dt.datetime.fromtimestamp(int(expiry_ms) / 1000, tz=dt.timezone.utc)
    if now >= expires:
        raise SignInRefused("this challenge has expired; ask for a new one")
    return expires


def purge_challenges(older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete spent challenges expired for longer than `older_than` (the worker's hourly job
    credentials.purge-challenges): an expired challenge is refused by its own expiry, so its row is
    no longer needed to refuse a replay. Sign-ins are audited in the ledger; these rows carry nothing to keep."""
    deleted, _ = Challenge.objects.filter(expires_at__lt=clock.now() - older_than).delete()
    return deleted


@lru_cache(maxsize=4096)
def _chained_certificate(der: bytes, issuing: x509.Certificate) -> x509.Certificate:
    """The parsed certificate, once its signature by the issuing CA has verified. Cached per
    (certificate bytes, issuing CA): the same bytes always verify the same way; validity, the CRL
    and the card's state are still checked at every sign-in. Refusals are not cached."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise SignInRefused("the certificate is not a DER X.509 certificate") from None
    try:
        cert.verify_directly_issued_by(issuing)
    except (ValueError, TypeError, InvalidSignature):
        raise SignInRefused("the certificate was not issued by careaccess's issuing CA (forged or foreign)") from None
    return cert


def _decode(value, field: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    try:
        return base64.b64decode(str(value), validate=True)
    except (ValueError, TypeError):
        raise InvalidInput({field: "send it base64-encoded"}) from None


@lru_cache(maxsize=1)
def _card_sql() -> str:
    """The certificate's row with its card, the holder and the current user terms, by serial."""
    from careaccess.directory.models import Person
    from careaccess.identity.models import TermsVersion

    terms = (f"(SELECT {{}} FROM {TermsVersion._meta.db_table} WHERE kind = 'user' "
             f"ORDER BY published_at DESC, id DESC LIMIT 1)")
    return (f"SELECT c.status, k.id, k.serial, k.certificate_id, k.state, k.lock_reason, p.id, p.uid, p.status, c.id, "
            f"p.given_name, p.family_name, {terms.format('id')}, {terms.format('version')} "
            f"FROM {Certificate._meta.db_table} c JOIN {Card._meta.db_table} k ON k.id = c.card_id "
            f"JOIN {Person._meta.db_table} p ON p.id = k.person_id WHERE c.serial = %s")


_SPEND = (f"INSERT INTO {Challenge._meta.db_table} (nonce, created_at, expires_at, used_at) "
          f"VALUES (%s, %s, %s, %s) ON CONFLICT (nonce) DO NOTHING")


@lru_cache(maxsize=1)
def _spend_and_read_sql() -> str:
    """PostgreSQL: spend the challenge and read the certificate's row in one statement; the first
    column says whether the challenge was fresh (0: already spent, a replay)."""
    return (f"WITH spent AS ({_SPEND} RETURNING 1) "
            f"SELECT (SELECT count(*) FROM spent), found.* FROM (SELECT 1) AS one "
            f"LEFT JOIN ({_card_sql()}) AS found ON true")


def _spend_and_read(nonce: str, now: dt.datetime, expires: dt.datetime, serial: str) -> tuple[bool, tuple | None]:
    """Spend the challenge (a second answer finds it spent: a replay) and read the certificate's row,
    inside the caller's transaction, which rolls the spending back on a refusal."""
    if connection.vendor != "postgresql":
        ops = connection.ops
        with connection.cursor() as cursor:
            cursor.execute(_SPEND, [nonce, *(ops.adapt_datetimefield_value(t) for t in (now, expires, now))])
            if cursor.rowcount != 1:
                return False, None
            cursor.execute(_card_sql(), [serial])
            return True, cursor.fetchone()
    # core.sql prepares it on the server: one planning per connection (its one row: a CTE's SELECT).
    fresh, *row = sql.execute_returning(_spend_and_read_sql(), [nonce, now, expires, now, serial])[0]
    return bool(fresh), (tuple(row) if row[0] is not None else None)


def _record_sign_in(actor, card_id: int, card_serial: str, serial: str, terms: tuple | None, now) -> None:
    """The sign-in (SC2) and, when terms are published, their acceptance (SC1): one ledger append."""
    changes = []
    if terms is not None:
        from careaccess.identity.models import TermsAcceptance

        acceptance = TermsAcceptance.objects.create(person_id=actor.person_id, terms_id=terms[0], occasion="sign_in",
                                                    accepted_at=now)
        changes.append(ledger.Change("terms.accepted", actor=actor, target_type="identity.termsacceptance",
                                     target_id=acceptance.id, person_uid=actor.person_uid,
                                     after={"kind": "user", "version": terms[1], "occasion": "sign_in"}))
    changes.append(ledger.Change("card.signed_in", actor=actor, target_type="credentials.card", target_id=card_id,
                                 person_uid=actor.person_uid, after={"card": card_serial, "certificate": serial}))
    ledger.record_many(changes)


def verify_sign_in(*, nonce: str, certificate, signature, accept_terms_version: str | None = None,
                   _audit: bool = True) -> SignIn:
    """Check a card's answer to a challenge; on success the challenge is spent, the sign-in audited
    and the terms acceptance recorded. Refusals change nothing (their transaction is rolled back).
    (`_audit=False` is for the benchmark's breakdown only: the same checks without the ledger append.)"""
    certificate_der = _decode(certificate, "certificate")
    signature = _decode(signature, "signature")
    nonce = str(nonce or "")[:200]
    now = clock.now()
    expires = _open_challenge(nonce, now)
    # The certificate: ours, in date, not revoked.
    cert = _chained_certificate(certificate_der, pki.load().issuing)
    if now < cert.not_valid_before_utc:
        raise SignInRefused("the certificate is not valid yet")
    if now > cert.not_valid_after_utc:
        raise SignInRefused(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}; renew or repair the card")
    # Possession of the card's key: its signature over this challenge.
    try:
        cert.public_key().verify(signature, challenge_bytes(nonce), SIGNATURE_ALGORITHM)
    except (InvalidSignature, TypeError, ValueError):
        raise SignInRefused("the signature over the challenge does not verify with the certificate's key") from None
    serial = format(cert.serial_number, "x")
    with transaction.atomic():
        fresh, row = _spend_and_read(nonce, now, expires, serial)
        if not fresh:
            raise SignInRefused("this challenge was already used (a replay); ask for a new one")
        if row is None:
            raise SignInRefused("careaccess has no record of this certificate")
        (cert_status, card_id, card_serial, current_certificate_id, card_state, lock_reason, person_id, uid,
         person_status, certificate_id, given_name, family_name, terms_id, terms_version) = row
        if cert_status != Certificate.Status.VALID:
            # The row is what every CRL is built from: a revoked certificate is on the newest CRL.
            raise SignInRefused("the certificate has been revoked (it is on the CRL)")
        if current_certificate_id != certificate_id:
            raise SignInRefused("this certificate has been superseded on the card; use the card's current certificate")
        if card_state != Card.State.ACTIVE:
            raise SignInRefused(f"card {card_serial} is {card_state}; it cannot be used to sign in")
        if lock_reason:
            raise SignInRefused(f"card {card_serial} is locked; unlock it with the holder present")
        if person_status != "active":
            raise SignInRefused(f"user {uid} is {person_status}")
        if pki.uid_of(cert) != uid:
            raise SignInRefused("the certificate is not bound to the card's holder")
        terms = (terms_id, terms_version) if terms_id is not None else None
        if terms is not None and str(accept_terms_version or "") != terms[1]:
            # rule SC1: the terms are accepted at every sign-in.
            raise SignInRefused(f"accept the terms of use version {terms[1]} to sign in (rule SC1)")
        from careaccess.core.context import Actor

        actor = Actor(kind="person", label=f"{given_name} {family_name} ({uid})", person_id=person_id, person_uid=uid)
        if _audit:
            _record_sign_in(actor, card_id, card_serial, serial, terms, now)
    return SignIn(person_id=person_id, person_uid=uid, card_id=card_id, card_serial=card_serial,
                  certificate_serial=serial, not_after=cert.not_valid_after_utc,
                  terms_version=terms[1] if terms else None)

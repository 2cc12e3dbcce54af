"""Builders for tests of identity and credentials: a verified holder, a card, a card sign-in."""

from __future__ import annotations

import datetime as dt

from careaccess.core import clock
from careaccess.core.context import Actor
from careaccess.directory import testing
from careaccess.directory.models import Person

from . import services, signin
from .cards import SoftwareCard
from .models import Card

SYSTEM = Actor.system("test")
PIN = "246810"


def verified_person(org=None, *, checker: Actor | None = None, **fields) -> Person:
    """A person (placed in a plain position at `org`, when given) whose identity an RA agent checked."""
    from careaccess.identity import services as identity_services

    person = testing.person(**fields) if fields else testing.person()
    if org is not None:
        from careaccess.directory import services as directory_services

        position = testing.position(org, f"Clerk {person.uid}")
        directory_services.create_assignment(testing.SYSTEM, person, position)
    today = clock.today()
    identity_services.verify_identity(
        checker or SYSTEM, person, document_type="passport", issuing_country="GB", document_number="123456789",
        document_expires_on=today + dt.timedelta(days=900), address_proof_kind="water bill",
        address_proof_issuer="Wessex Water", address_proof_issued_on=today - dt.timedelta(days=10), photo=b"\x89PNG...")
    return person


def card_for(person: Person, *, pin: str = PIN, actor: Actor | None = None, serial: str | None = None) -> Card:
    return services.issue_card(actor or SYSTEM, person, pin=pin, serial=serial)


def sign_in(card: Card, *, pin: str = PIN, accept_terms_version: str | None = None, nonce: str | None = None):
    """The whole card sign-in: a challenge, the PIN on the card, the card's signature, verification."""
    challenge_nonce = nonce or signin.issue_challenge().nonce
    soft = SoftwareCard.open(card)
    soft.verify_pin(pin)
    signature = soft.sign(signin.challenge_bytes(challenge_nonce))
    card.refresh_from_db()
    return signin.verify_sign_in(nonce=challenge_nonce, certificate=bytes(card.certificate.der), signature=signature,
                                 accept_terms_version=accept_terms_version)


from django.contrib.auth.hashers import Argon2PasswordHasher  # noqa: E402


class QuickArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 with small costs, for tests only (the same algorithm and encoding, much faster)."""

    time_cost = 1
    memory_cost = 1024
    parallelism = 1

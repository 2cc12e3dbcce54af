"""Concurrent sign-ins and revocations on PostgreSQL: a challenge is spent once, and the newest CRL
holds every committed revocation (CRL publishers take a lock of their own)."""

from __future__ import annotations

import threading

import pytest
from cryptography import x509
from django.db import connection, connections

from careaccess.credentials import services, signin, testing
from careaccess.credentials.cards import SoftwareCard
from careaccess.credentials.models import CrlIssue

needs_postgres = pytest.mark.skipif(connection.vendor != "postgresql",
                                    reason="concurrent transactions need PostgreSQL (set DATABASE_URL)")


def _together(functions) -> tuple[list, list]:
    barrier = threading.Barrier(len(functions))
    results, errors = [], []

    def work(function):
        try:
            barrier.wait()
            results.append(function())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_challenge_answered_twice_at_once_signs_in_once(world):
    holder = testing.verified_person(world.practice)
    card = testing.card_for(holder)
    challenge = signin.issue_challenge()
    soft = SoftwareCard.open(card)
    soft.verify_pin(testing.PIN)
    signature = soft.sign(signin.challenge_bytes(challenge.nonce))
    der = bytes(card.certificate.der)

    def answer():
        return signin.verify_sign_in(nonce=challenge.nonce, certificate=der, signature=signature)

    results, errors = _together([answer] * 4)
    assert len(results) == 1
    assert len(errors) == 3 and all(isinstance(e, signin.SignInRefused) and "replay" in e.message for e in errors)


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_revocations_all_reach_the_newest_crl(world):
    cards = [testing.card_for(testing.verified_person(world.practice)) for _ in range(4)]
    results, errors = _together([lambda c=c: services.cancel_card(world.agent, c, reason="damaged") for c in cards])
    assert not errors, errors
    newest = x509.load_der_x509_crl(bytes(CrlIssue.objects.order_by("-id").first().der))
    assert {format(r.serial_number, "x") for r in newest} >= {c.certificate.serial for c in cards}
    numbers = [x509.load_der_x509_crl(bytes(i.der)).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
               for i in CrlIssue.objects.order_by("id")]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)

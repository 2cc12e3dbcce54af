"""Signing in with a card: challenge, the card's signature, the chain to the issuing CA, the validity
period, the CRL, the card's state and PIN state; replays, forgeries and expiry refused."""

import datetime as dt

import pytest
from cryptography import x509
from django.db import connection
from django.test.utils import CaptureQueriesContext
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from careaccess.core.audit.models import Entry, Head
from careaccess.credentials import services, signin, testing
from careaccess.credentials.cards import SmartCard, SoftwareCard
from careaccess.credentials.models import Challenge
from careaccess.identity import services as identity_services
from careaccess.identity.models import TermsAcceptance

pytestmark = pytest.mark.django_db


def ledger_size() -> int:
    return Head.objects.size()


@pytest.fixture
def holder_card(world):
    holder = testing.verified_person(world.practice)
    return holder, testing.card_for(holder)


def test_a_card_signs_in_and_the_sign_in_is_audited(holder_card):
    # rule SC2: use of a card is audited
    holder, card = holder_card
    size = ledger_size()
    result = testing.sign_in(card)
    assert result.person == holder and result.card == card
    entry = Entry.objects.get(index=size)
    assert entry.action == "card.signed_in" and entry.person_uid == holder.uid


def test_the_software_card_implements_the_card_interface(holder_card):
    _, card = holder_card
    soft = SoftwareCard.open(card)
    assert isinstance(soft, SmartCard)
    with pytest.raises(Exception, match="PIN"):
        soft.sign(b"anything")  # no signature before the PIN
    assert not hasattr(soft, "key") and not any("PRIVATE" in str(v) for v in vars(soft).values())
    # The key is stored encrypted: the row holds no PKCS#8 in clear.
    assert b"PRIVATE" not in bytes(card.encrypted_key)


def test_a_replayed_challenge_is_refused(holder_card):
    _, card = holder_card
    challenge = signin.issue_challenge()
    soft = SoftwareCard.open(card)
    soft.verify_pin(testing.PIN)
    signature = soft.sign(signin.challenge_bytes(challenge.nonce))
    signin.verify_sign_in(nonce=challenge.nonce, certificate=bytes(card.certificate.der), signature=signature)
    size = ledger_size()
    with pytest.raises(signin.SignInRefused, match="replay"):
        signin.verify_sign_in(nonce=challenge.nonce, certificate=bytes(card.certificate.der), signature=signature)
    assert ledger_size() == size


def test_an_expired_challenge_is_refused(holder_card, clock):
    _, card = holder_card
    challenge = signin.issue_challenge()
    clock.advance(dt.timedelta(seconds=121))
    with pytest.raises(signin.SignInRefused, match="expired"):
        testing.sign_in(card, nonce=challenge.nonce)
    assert not Challenge.objects.filter(nonce=challenge.nonce).exists()


def test_a_forged_or_altered_challenge_is_refused(holder_card, clock):
    _, card = holder_card
    challenge = signin.issue_challenge()
    expiry, random_part, mac = challenge.nonce.split(".")
    later = f"{int(expiry) + 3_600_000}.{random_part}.{mac}"  # the expiry pushed an hour on
    for nonce in (later, f"{expiry}.{random_part}.{'0' * 32}", "not-a-challenge", "1.2.3"):
        with pytest.raises(signin.SignInRefused, match="unknown challenge"):
            testing.sign_in(card, nonce=nonce)


def test_an_unknown_challenge_and_a_wrong_signature_are_refused(holder_card):
    _, card = holder_card
    with pytest.raises(signin.SignInRefused, match="unknown challenge"):
        testing.sign_in(card, nonce="00" * 32)
    challenge = signin.issue_challenge()
    soft = SoftwareCard.open(card)
    soft.verify_pin(testing.PIN)
    wrong = soft.sign(b"some other message")
    with pytest.raises(signin.SignInRefused, match="does not verify"):
        signin.verify_sign_in(nonce=challenge.nonce, certificate=bytes(card.certificate.der), signature=wrong)


def test_a_forged_certificate_is_refused(holder_card):
    # A look-alike CA with the same names, and a certificate for the holder's uid and card key.
    holder, card = holder_card
    from careaccess.credentials import pki

    real = pki.load().issuing
    fake_key = ec.generate_private_key(ec.SECP256R1())
    soft = SoftwareCard.open(card)
    forged = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.SERIAL_NUMBER, holder.uid)]))
              .issuer_name(real.subject).public_key(soft.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
              .not_valid_after(dt.datetime(2028, 1, 1, tzinfo=dt.timezone.utc)).sign(fake_key, hashes.SHA256()))
    challenge = signin.issue_challenge()
    soft.verify_pin(testing.PIN)
    signature = soft.sign(signin.challenge_bytes(challenge.nonce))
    with pytest.raises(signin.SignInRefused, match="forged"):
        signin.verify_sign_in(nonce=challenge.nonce, certificate=forged.public_bytes(serialization.Encoding.DER),
                              signature=signature)


def test_a_certificate_expires_after_two_years(holder_card, clock):
    # rule DS13: certificates are valid 2 years
    _, card = holder_card
    clock.advance(dt.timedelta(days=729, hours=23))
    testing.sign_in(card)
    clock.advance(dt.timedelta(hours=2))
    with pytest.raises(signin.SignInRefused, match="expired on"):
        testing.sign_in(card)


def test_a_revoked_certificate_is_refused(holder_card, world):
    _, card = holder_card
    challenge = signin.issue_challenge()
    soft = SoftwareCard.open(card)
    soft.verify_pin(testing.PIN)
    signature = soft.sign(signin.challenge_bytes(challenge.nonce))
    der = bytes(card.certificate.der)
    services.cancel_card(world.agent, card, reason="stolen")
    with pytest.raises(signin.SignInRefused, match="revoked"):
        signin.verify_sign_in(nonce=challenge.nonce, certificate=der, signature=signature)


def test_a_sign_in_reads_no_crl_and_spends_and_reads_in_few_statements(holder_card, world):
    # The revocation lookup is the certificate's own row, found by its unique serial: the record
    # every CRL is built from, in the same transaction as the revocation. No CRL is read or parsed
    # at sign-in, however long it is; on PostgreSQL spending the challenge and reading the
    # certificate, card, holder and terms is one statement.
    _, card = holder_card
    soft = SoftwareCard.open(card)
    soft.verify_pin(testing.PIN)
    challenge = signin.issue_challenge()
    with CaptureQueriesContext(connection) as captured:
        signin.verify_sign_in(nonce=challenge.nonce, certificate=bytes(card.certificate.der),
                              signature=soft.sign(signin.challenge_bytes(challenge.nonce)))
    statements = [q["sql"] for q in captured.captured_queries
                  if q["sql"] not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT") and "SAVEPOINT" not in q["sql"]]
    assert not any("crlissue" in sql for sql in statements)
    own = [sql for sql in statements if "audit_" not in sql]
    assert len(own) == (1 if connection.vendor == "postgresql" else 2), own


def test_a_locked_or_suspended_card_cannot_sign_in(holder_card, world):
    _, card = holder_card
    challenge = signin.issue_challenge()
    soft = SoftwareCard.open(card)
    soft.verify_pin(testing.PIN)
    signature = soft.sign(signin.challenge_bytes(challenge.nonce))
    report = services.report_misuse(world.sponsor, card, description="used while the holder was on leave")
    services.decide_misuse(world.manager, report, outcome="suspended", reason="investigation")
    with pytest.raises(signin.SignInRefused, match="suspended"):
        signin.verify_sign_in(nonce=challenge.nonce, certificate=bytes(card.certificate.der), signature=signature)
    services.reinstate_card(world.manager, card, reason="investigation closed")
    for _ in range(3):
        with pytest.raises(services.Refused):
            services.verify_pin(card.serial, "000000")
    with pytest.raises(signin.SignInRefused, match="locked"):
        signin.verify_sign_in(nonce=challenge.nonce, certificate=bytes(card.certificate.der), signature=signature)


def test_a_superseded_certificate_is_refused_after_renewal(holder_card, world):
    _, card = holder_card
    old = bytes(card.certificate.der)
    services.renew_assisted(world.agent, card)
    challenge = signin.issue_challenge()
    soft = SoftwareCard.open(card)
    soft.verify_pin(testing.PIN)
    signature = soft.sign(signin.challenge_bytes(challenge.nonce))
    with pytest.raises(signin.SignInRefused, match="revoked|superseded"):
        signin.verify_sign_in(nonce=challenge.nonce, certificate=old, signature=signature)
    testing.sign_in(card)


def test_terms_are_accepted_at_every_sign_in(holder_card):
    # rule SC1: every user accepts the terms at registration and at every login
    holder, card = holder_card
    identity_services.publish_terms(testing.SYSTEM, kind="user", version="RA01-2026", title="Terms of smartcard use",
                                    text="Keep your card safe.")
    with pytest.raises(signin.SignInRefused, match="RA01-2026"):
        testing.sign_in(card)
    testing.sign_in(card, accept_terms_version="RA01-2026")
    testing.sign_in(card, accept_terms_version="RA01-2026")
    assert TermsAcceptance.objects.filter(person=holder, occasion="sign_in").count() == 2


def test_a_card_only_service_refuses_other_sign_in_methods(world):
    # rule DS18: no card, no access; there is no fall-back log-on
    from careaccess.directory import services as directory_services

    spine = directory_services.create_service(testing.SYSTEM, code="spine", name="Spine", card_only=True)
    portal = directory_services.create_service(testing.SYSTEM, code="portal", name="Portal")
    signin.check_method(spine, "card")
    with pytest.raises(signin.SignInRefused, match="DS18"):
        signin.check_method(spine, "password")
    signin.check_method(portal, "password")


def test_spent_challenges_are_purged_once_expired(holder_card, clock):
    _, card = holder_card
    old = signin.issue_challenge()
    testing.sign_in(card, nonce=old.nonce)
    assert Challenge.objects.filter(nonce=old.nonce).exists()
    clock.advance(dt.timedelta(days=2))
    fresh = signin.issue_challenge()
    testing.sign_in(card, nonce=fresh.nonce)
    assert signin.purge_challenges() >= 1
    assert not Challenge.objects.filter(nonce=old.nonce).exists()
    assert Challenge.objects.filter(nonce=fresh.nonce).exists()
    with pytest.raises(signin.SignInRefused, match="expired"):
        testing.sign_in(card, nonce=old.nonce)  # the purged one is still refused, by its expiry


def test_the_worker_purges_spent_challenges_every_hour():
    from careaccess.core.outbox import jobs

    jobs.autodiscover()
    purge = {j.name: j for j in jobs.registered()}["credentials.purge-challenges"]
    assert purge.func is signin.purge_challenges and purge.every == 3600

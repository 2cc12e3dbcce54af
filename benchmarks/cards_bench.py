"""Card sign-ins per second, with a CRL of 100,000 revoked serials.

    .venv/bin/python -m benchmarks.cards_bench                  # SQLite (a WAL file in a temp dir)
    DATABASE_URL=postgres://... .venv/bin/python -m benchmarks.cards_bench   # PostgreSQL

`run()` builds a throwaway database (Django's test database) and a throwaway CA in a temp dir,
issues `cards` cards through the real services, adds `revoked` revoked certificates and publishes
one CRL of them all, then times `signins` full card sign-ins: a challenge issued (a row), the card
signs it (ECDSA P-256, PIN verified once per card session), and careaccess verifies — certificate
parsed and checked against the issuing CA, validity period, the CRL lookup (newest CRL number,
then a set of its serials, parsed once per CRL), the signature over the challenge, the card and
holder rows, the challenge spent and the sign-in written to the audit ledger. Target: 500/s.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    os.environ.setdefault("CAREACCESS_VAR", str(Path(tempfile.gettempdir()) / "careaccess-bench-var"))
    import django

    django.setup()


def run(signins: int = 3000, revoked: int = 100_000, cards: int = 20) -> dict:
    _setup_django()
    from django.db import connection
    from django.test.utils import override_settings

    tmp = tempfile.TemporaryDirectory(prefix="careaccess-cards-bench-")
    vendor = connection.vendor
    if vendor == "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = str(Path(tmp.name) / "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        with override_settings(CAREACCESS_PKI_DIR=str(Path(tmp.name) / "pki"),
                               PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"]):
            return _measure(vendor, signins, revoked, cards)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        tmp.cleanup()


def _measure(vendor: str, signins: int, revoked: int, cards: int) -> dict:
    from cryptography import x509

    from careaccess.core import clock
    from careaccess.credentials import pki, services, signin, testing
    from careaccess.credentials.cards import SoftwareCard
    from careaccess.credentials.models import Certificate, CrlIssue
    from careaccess.directory import testing as directory_testing

    pki.init()
    directory_testing.staff_catalogue()
    organisation = directory_testing.organisation("B86001")
    rows = []
    for _ in range(cards):
        person = testing.verified_person(organisation)
        rows.append(testing.card_for(person))

    # 100,000 revoked certificates (rows as the CA keeps them), then one CRL of them all.
    started = time.perf_counter()
    now = clock.now()
    used = {int(c.certificate.serial, 16) for c in rows}
    serials = []
    while len(serials) < revoked:
        serial = x509.random_serial_number()
        if serial not in used:
            used.add(serial)
            serials.append(serial)
    holder_card = rows[0]
    Certificate.objects.bulk_create(
        [Certificate(serial=format(s, "x"), card=holder_card, person_uid=holder_card.person.uid, not_before=now,
                     not_after=now + dt.timedelta(days=730), der=b"", status=Certificate.Status.REVOKED, revoked_at=now,
                     revocation_reason="key_compromise", issued_at=now) for s in serials], batch_size=5000)
    rows_seconds = time.perf_counter() - started
    from django.db import transaction

    started = time.perf_counter()
    with transaction.atomic():
        issue = services.publish_crl()
    crl_build_seconds = time.perf_counter() - started
    crl_bytes = len(bytes(issue.der))
    started = time.perf_counter()
    on_crl = signin.revoked_serials()
    crl_load_seconds = time.perf_counter() - started
    assert len(on_crl) == revoked and CrlIssue.objects.count() == 1

    # Card sessions: the PIN is verified once per card (as a reader session does), then it signs.
    sessions = []
    for card in rows:
        soft = SoftwareCard.open(card)
        soft.verify_pin(testing.PIN)
        sessions.append((soft, bytes(card.certificate.der)))

    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(signins):
        soft, der = sessions[i % len(sessions)]
        nonce, _ = signin.issue_challenge_nonce()
        signature = soft.sign(signin.challenge_bytes(nonce))
        signin.verify_sign_in(nonce=nonce, certificate=der, signature=signature)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started

    # The same sign-ins without the audit ledger append, to show where the time goes.
    started = time.perf_counter()
    for i in range(signins):
        soft, der = sessions[i % len(sessions)]
        nonce, _ = signin.issue_challenge_nonce()
        signature = soft.sign(signin.challenge_bytes(nonce))
        signin.verify_sign_in(nonce=nonce, certificate=der, signature=signature, _audit=False)
    unaudited_seconds = time.perf_counter() - started

    # A revoked card is refused through the same path.
    refused = False
    services.cancel_card(testing.SYSTEM, rows[-1], reason="stolen")
    soft, der = sessions[-1]
    challenge = signin.issue_challenge()
    try:
        signin.verify_sign_in(nonce=challenge.nonce, certificate=der,
                              signature=soft.sign(signin.challenge_bytes(challenge.nonce)))
    except signin.SignInRefused:
        refused = True
    return {
        "name": "card sign-ins (challenge, signature, chain check, CRL lookup, audit)",
        "database": vendor,
        "signins": signins,
        "cards": cards,
        "revoked_serials_on_crl": len(on_crl),
        "seconds": round(seconds, 3),
        "signins_per_second": round(signins / seconds, 1),
        "target_signins_per_second": 500,
        # On a shared machine the wall-clock rate depends on other load; the CPU-time rate does not.
        "signins_per_cpu_second": round(signins / cpu_seconds, 1),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "signins_per_second_without_ledger_append": round(signins / unaudited_seconds, 1),
        "crl_bytes": crl_bytes,
        "crl_build_seconds": round(crl_build_seconds, 2),
        "crl_first_load_seconds": round(crl_load_seconds, 2),
        "revoked_rows_insert_seconds": round(rows_seconds, 2),
        "revoked_card_refused": refused,
    }


if __name__ == "__main__":
    import json
    import sys

    args = [int(a) for a in sys.argv[1:]]
    print(json.dumps(run(*args), indent=2))

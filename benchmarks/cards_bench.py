"""Card sign-ins per second, with a CRL of 100,000 revoked serials, on SQLite and on PostgreSQL.

    .venv/bin/python -m benchmarks.cards_bench                       # both databases
    .venv/bin/python -m benchmarks.cards_bench --signins 1000 --no-sqlite
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/careaccess_cardsbench .venv/bin/python -m benchmarks.cards_bench

`run()` measures each database in a child process of its own (Django is configured once per
process): SQLite in a temporary file, and PostgreSQL — the server and database name of
DATABASE_URL when it names PostgreSQL, else `careaccess_bench_cards` on $CAREACCESS_BENCH_PG
(default postgres://postgres@127.0.0.1:5432). Each child builds a throwaway database (Django's
test database, `test_<name>`) and a throwaway CA in a temp dir, issues `cards` cards through the
real services, adds `revoked` revoked certificates and publishes one CRL of them all, then times
`signins` full card sign-ins: a challenge issued, the card signs it (ECDSA P-256, PIN verified once
per card session), and careaccess verifies — certificate parsed and checked against the issuing CA
(once per certificate), validity period, the signature over the challenge, then one transaction:
the challenge spent and the certificate's row read with its card, holder and terms (the revocation
lookup; one statement on PostgreSQL, sent with BEGIN), the sign-in appended to the audit ledger.
Target: 500/s. Then the same sign-ins shared by `workers` processes, each with its own connection,
as a server's workers would run them (on PostgreSQL their commits share the disk flushes that
bound one client: a sign-in's COMMIT waits for the WAL to reach the disk). The statements of one
sign-in are listed too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_BASE = os.environ.get("CAREACCESS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "careaccess_bench_cards"


# --- the child: one database ------------------------------------------------------------------


def _child(signins: int, revoked: int, cards: int, workers: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import override_settings

    tmp = tempfile.TemporaryDirectory(prefix="careaccess-cards-bench-")
    if connection.vendor == "sqlite":
        connection.settings_dict.setdefault("TEST", {})["NAME"] = str(Path(tmp.name) / "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        with override_settings(CAREACCESS_PKI_DIR=str(Path(tmp.name) / "pki"),
                               PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"]):
            return _measure(connection.vendor, signins, revoked, cards, workers)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        tmp.cleanup()


def _insert_revoked(serials: list[int], card) -> None:
    """Revoked certificates as the CA keeps them (COPY on PostgreSQL, bulk inserts on SQLite)."""
    from django.db import connection, transaction

    from careaccess.core import clock
    from careaccess.credentials.models import Certificate

    now = clock.now()
    if connection.vendor != "postgresql":
        Certificate.objects.bulk_create(
            [Certificate(serial=format(s, "x"), card=card, person_uid=card.person.uid, not_before=now,
                         not_after=now + dt.timedelta(days=730), der=b"", status=Certificate.Status.REVOKED,
                         revoked_at=now, revocation_reason="key_compromise", issued_at=now) for s in serials],
            batch_size=5000)
        return
    columns = "serial, card_id, person_uid, not_before, not_after, der, status, revoked_at, revocation_reason, issued_at"
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY {Certificate._meta.db_table} ({columns}) FROM STDIN") as copy:
            for s in serials:
                copy.write_row((format(s, "x"), card.id, card.person.uid, now, now + dt.timedelta(days=730), b"",
                                "revoked", now, "key_compromise", now))


def _statements_of_one_sign_in(session) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from careaccess.credentials import signin

    soft, der = session
    with CaptureQueriesContext(connection) as captured:
        nonce, _ = signin.issue_challenge_nonce()
        signin.verify_sign_in(nonce=nonce, certificate=der, signature=soft.sign(signin.challenge_bytes(nonce)))
    return [" ".join(q["sql"].split())[:90] for q in captured.captured_queries]


def _sign_ins(sessions: list, n: int, audit: bool = True) -> tuple[float, float]:
    """`n` card sign-ins in turn over the card sessions: (wall seconds, CPU seconds of this process)."""
    from careaccess.credentials import signin

    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(n):
        soft, der = sessions[i % len(sessions)]
        nonce, _ = signin.issue_challenge_nonce()
        signature = soft.sign(signin.challenge_bytes(nonce))
        signin.verify_sign_in(nonce=nonce, certificate=der, signature=signature, _audit=audit)
    return time.perf_counter() - started, time.process_time() - cpu_started


def _worker(sessions: list, count: int, start, results) -> None:
    from django.db import connection

    try:
        _sign_ins(sessions, len(sessions))  # its own connection: statements prepared, chains checked
        start.wait()
        results.put(_sign_ins(sessions, count))
    except Exception as error:  # noqa: BLE001 - reported by the parent
        results.put(repr(error))
    finally:
        connection.close()


def _concurrent(sessions: list, signins: int, workers: int) -> dict:
    """The same sign-ins shared by `workers` processes, each with its own connection, as a server's
    workers would be: their commits share the database's disk flushes."""
    import multiprocessing

    from django.db import connections

    connections.close_all()
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(workers + 1), context.Queue()
    count = signins // workers
    processes = [context.Process(target=_worker, args=(sessions, count, start, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    start.wait()
    started = time.perf_counter()
    outcomes = [results.get() for _ in processes]
    seconds = time.perf_counter() - started
    for process in processes:
        process.join()
    errors = [o for o in outcomes if isinstance(o, str)]
    if errors:
        return {"workers": workers, "error": errors[0]}
    return {"workers": workers, "signins": count * workers, "seconds": round(seconds, 3),
            "signins_per_second": round(count * workers / seconds, 1),
            "cpu_ms_per_signin": round(1000 * sum(cpu for _, cpu in outcomes) / (count * workers), 3),
            "load_average_1min": round(os.getloadavg()[0], 1)}


def _measure(vendor: str, signins: int, revoked: int, cards: int, workers: int) -> dict:
    from cryptography import x509
    from django.db import transaction

    from careaccess.credentials import pki, services, signin, testing
    from careaccess.credentials.cards import SoftwareCard
    from careaccess.directory import testing as directory_testing

    pki.init()
    directory_testing.staff_catalogue()
    organisation = directory_testing.organisation("B86001")
    rows = [testing.card_for(testing.verified_person(organisation)) for _ in range(cards)]

    started = time.perf_counter()
    used = {int(c.certificate.serial, 16) for c in rows}
    serials = []
    while len(serials) < revoked:
        serial = x509.random_serial_number()
        if serial not in used:
            used.add(serial)
            serials.append(serial)
    _insert_revoked(serials, rows[0])
    rows_seconds = time.perf_counter() - started
    started = time.perf_counter()
    with transaction.atomic():
        issue = services.publish_crl()
    crl_build_seconds = time.perf_counter() - started
    on_crl = len(x509.load_der_x509_crl(bytes(issue.der)))
    assert on_crl == revoked

    # Card sessions: the PIN is verified once per card (as a reader session does), then it signs.
    sessions = []
    for card in rows:
        soft = SoftwareCard.open(card)
        soft.verify_pin(testing.PIN)
        sessions.append((soft, bytes(card.certificate.der)))

    _sign_ins(sessions, len(sessions))  # each certificate's chain checked once, statements prepared
    load_before = os.getloadavg()[0]
    seconds, cpu_seconds = _sign_ins(sessions, signins)
    load_after = os.getloadavg()[0]
    # The same sign-ins without the audit ledger append, to show where the time goes.
    unaudited_seconds, _ = _sign_ins(sessions, signins, audit=False)
    statements = _statements_of_one_sign_in(sessions[0])
    concurrent = _concurrent(sessions, signins, workers)

    # A revoked card is refused through the same path.
    refused = False
    services.cancel_card(testing.SYSTEM, rows[-1], reason="stolen")
    soft, der = sessions[-1]
    nonce, _ = signin.issue_challenge_nonce()
    try:
        signin.verify_sign_in(nonce=nonce, certificate=der, signature=soft.sign(signin.challenge_bytes(nonce)))
    except signin.SignInRefused:
        refused = True
    return {
        "database": vendor,
        "signins": signins,
        "cards": cards,
        "revoked_serials_on_crl": on_crl,
        "seconds": round(seconds, 3),
        "signins_per_second": round(signins / seconds, 1),
        "target_signins_per_second": 500,
        # On a shared machine the wall-clock rate depends on other load; the CPU time does not
        # (this process only: the benchmark's card signing included, PostgreSQL's own work not).
        "cpu_ms_per_signin": round(1000 * cpu_seconds / signins, 3),
        "load_average_1min": [round(load_before, 1), round(load_after, 1)],
        "signins_per_second_without_ledger_append": round(signins / unaudited_seconds, 1),
        "concurrent": concurrent,
        "statements_per_signin": statements,
        "crl_bytes": len(bytes(issue.der)),
        "crl_build_seconds": round(crl_build_seconds, 2),
        "revoked_rows_insert_seconds": round(rows_seconds, 2),
        "revoked_card_refused": refused,
    }


# --- the parent: one child per database ------------------------------------------------------


def _postgres_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else f"{PG_BASE}/{PG_DB}"


def _run_child(database_url: str, var: str, args: list[int]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cards_bench", "--child", *map(str, args)],
                          env={**os.environ, "DATABASE_URL": database_url, "CAREACCESS_VAR": var},
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(signins: int = 3000, revoked: int = 100_000, cards: int = 20, workers: int = 4, sqlite: bool = True,
        postgres: bool = True) -> dict:
    figures: dict = {"name": "card sign-ins (challenge, signature, chain check, revocation lookup, audit)"}
    with tempfile.TemporaryDirectory(prefix="careaccess-cards-bench-var-") as var:
        if sqlite:
            figures["sqlite"] = _run_child(f"sqlite:///{var}/bench.sqlite3", var, [signins, revoked, cards, workers])
        if postgres:
            figures["postgresql"] = _run_child(_postgres_url(), var, [signins, revoked, cards, workers])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, type=int, metavar=("SIGNINS", "REVOKED", "CARDS", "WORKERS"))
    parser.add_argument("--signins", type=int, default=3000)
    parser.add_argument("--revoked", type=int, default=100_000)
    parser.add_argument("--cards", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    print(json.dumps(run(args.signins, args.revoked, args.cards, args.workers, sqlite=not args.no_sqlite,
                         postgres=not args.no_postgres), indent=2))


if __name__ == "__main__":
    main()

"""Lifecycle at national scale on PostgreSQL: the inactivity sweep and opening review campaigns.

    .venv/bin/python -m benchmarks.lifecycle_bench                    # full scale
    BENCH_SCALE=0.01 .venv/bin/python -m benchmarks.lifecycle_bench   # 1% for a quick check

`run()` recreates the scratch database `careaccess_bench_life` on $CAREACCESS_BENCH_PG (default
postgres://postgres@127.0.0.1:5432; dropped at the end), migrates it, loads the national directory
of `benchmarks/national.py` (20,000 organisations, 1,000,000 people, 1,500,000 assignments, set-based)
and then 1,500,000 accounts with COPY (every person on one service, half of them on a second;
100,000 last used 90 days ago, the rest yesterday). It times:

1. `sweeps.inactivity()`: suspending the 100,000 stale accounts (batches of
   CAREACCESS_SWEEP_BATCH_SIZE, one UPDATE per batch, one audit entry and one outbox message per
   account). Target: < 60 s.
2. `campaigns.open_due_campaigns()` for every service: one campaign per organisation and service
   with an item per live assignment and account. Target: < 120 s.
3. Every report's first page (`reports.selectors.run`, what `/reports/<name>` does: 50 rows, the
   chart, the ledger entry), on the data the two steps left (inactive accounts, campaigns, the
   audit ledger), read by the national RA (the system actor: every organisation) and by an RA
   manager of one ICB (the organisations it oversees), DS4's "only flagged" view included; each
   the best of 3 runs. Target: < 1 s each.

Returns a dict of figures (printed as JSON by the command line). Not a test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
import urllib.parse

PG_BASE = os.environ.get("CAREACCESS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "careaccess_bench_life"
STALE = 100_000


def _drop(url: str) -> None:
    import psycopg

    parsed = urllib.parse.urlparse(url)
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')


def _load_accounts(people: int, stale: int) -> dict:
    """Accounts with COPY: person p on the first service; p <= people/2 also on the second."""
    from django.db import connection, transaction

    from careaccess.directory.models import Service

    services = list(Service.objects.order_by("id").values_list("id", flat=True))[:2]
    now = dt.datetime.now(dt.timezone.utc)
    recent, old = now - dt.timedelta(days=1), now - dt.timedelta(days=90)
    created = now - dt.timedelta(days=400)
    started = time.perf_counter()
    rows = 0
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy("COPY directory_account (person_id, service_id, username, state, last_used_at, created_at, "
                      "updated_at) FROM STDIN") as copy:
            for p in range(1, people + 1):
                copy.write_row((p, services[0], f"u{p}", "active", old if p % (people // stale) == 0 else recent,
                                created, created))
                rows += 1
            for p in range(1, people // 2 + 1):
                copy.write_row((p, services[1], f"u{p}", "active", recent, created, created))
                rows += 1
        cursor.execute("ANALYZE directory_account")
    return {"accounts": rows, "seconds": round(time.perf_counter() - started, 1)}


def _cpu(backend: int, since: dict | None = None) -> dict:
    """CPU seconds used by this process and by its PostgreSQL backend (the machine may be busy:
    wall-clock time alone would mislead); with `since`, those used after it."""
    from benchmarks import national

    now = {"python": time.process_time(), "postgresql_backend": national._cpu_seconds([backend])}
    return now if since is None else {k: round(v - since[k], 1) for k, v in now.items()}


def _icb_ra_manager():
    """Person 1 placed in an RA manager position at the first ICB (which oversees its organisations)."""
    from careaccess.core import permissions
    from careaccess.core.context import Actor
    from careaccess.directory import services
    from careaccess.directory.models import Organisation, Person

    system = Actor.system("reports benchmark")
    icb = Organisation.objects.filter(kind="icb").order_by("id").first()
    position = services.create_position(system, icb, name="RA manager",
                                        activities=[permissions.capability_codes()["ra_manager"]])
    person = Person.objects.get(id=1)
    services.create_assignment(system, person, position)
    return permissions.actor_for_person(person)


def _reports(person_uid: str) -> dict:
    """Each report's first page, in seconds (best of 3), for the national RA and one ICB's RA manager."""
    from careaccess.core.context import Actor
    from careaccess.reports import selectors

    cases = [(name, {}) for name in selectors.REPORTS if name != "targeted-audit"]
    cases += [("sponsors-agents", {"flagged_only": "yes"}), ("targeted-audit", {"person": person_uid})]
    figures: dict = {"target_seconds": 1}
    for who, actor in (("national", Actor.system("national RA")), ("icb_ra_manager", _icb_ra_manager())):
        for name, raw in cases:
            report = selectors.REPORTS[name]
            times, rows = [], 0
            for _ in range(3):
                started = time.perf_counter()
                page = selectors.run(actor, report, selectors.clean_params(report, raw), page=1, size=50)
                times.append(time.perf_counter() - started)
                rows = len(page.rows)
            label = name + ("/flagged-only" if raw.get("flagged_only") else "")
            figures.setdefault(label, {})[who] = {"seconds": round(min(times), 3), "rows": rows}
    figures["slowest_seconds"] = max(v["seconds"] for k, by in figures.items() if isinstance(by, dict)
                                     for v in by.values())
    return figures


def run(factor: float | None = None) -> dict:
    from benchmarks import national

    factor = national.scale() if factor is None else factor
    url = f"{PG_BASE}/{PG_DB}"
    national._recreate_database(url)
    national._setup_django(url, tempfile.mkdtemp(prefix="careaccess-life-bench-"))
    from django.core.management import call_command
    from django.db import connection

    out: dict = {"scale": factor, "load_average_at_start": os.getloadavg()}
    try:
        call_command("migrate", verbosity=0)
        n = national.sizes(factor)
        out["directory"] = national.load(n)["rows"]
        stale = max(10, int(STALE * factor))
        out["accounts"] = _load_accounts(n["people"], stale)

        from careaccess.core.audit.models import Head
        from careaccess.core.outbox.models import Message
        from careaccess.directory.models import Account
        from careaccess.lifecycle import campaigns, sweeps
        from careaccess.lifecycle.models import Campaign, CampaignItem

        entries = Head.objects.size()
        connection.ensure_connection()
        backend = connection.connection.info.backend_pid
        started, cpu = time.perf_counter(), _cpu(backend)
        result = sweeps.inactivity()
        seconds, cpu = time.perf_counter() - started, _cpu(backend, cpu)
        out["inactivity"] = {
            "suspended": result.counts.get("accounts suspended", 0),
            "of_accounts": Account.objects.count(),
            "seconds": round(seconds, 1),
            "cpu_seconds": cpu,
            "audit_entries": Head.objects.size() - entries,
            "outbox_messages": Message.objects.count(),
            "target_seconds": 60,
        }
        started = time.perf_counter()
        again = sweeps.inactivity()
        out["inactivity"]["second_run_changed"] = again.changed
        out["inactivity"]["second_run_seconds"] = round(time.perf_counter() - started, 1)

        started, cpu = time.perf_counter(), _cpu(backend)
        opened = campaigns.open_due_campaigns()
        seconds, cpu = time.perf_counter() - started, _cpu(backend, cpu)
        out["campaigns"] = {"opened": Campaign.objects.count(), "items": CampaignItem.objects.count(),
                            "organisations": n["organisations"], "seconds": round(seconds, 1), "cpu_seconds": cpu,
                            "changed": opened.changed, "target_seconds": 120}
        stale_uid = Account.objects.filter(state="suspended").order_by("id").values_list("person__uid", flat=True)[0]
        out["reports_first_page"] = _reports(stale_uid)
        out["load_average_at_end"] = os.getloadavg()
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            out["postgresql"] = cursor.fetchone()[0]
    finally:
        connection.close()
        _drop(url)
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=str))

"""National scale: bulk-load a national directory into PostgreSQL, then time access decisions over HTTP.

    .venv/bin/python -m benchmarks.national                 # full scale (1,000,000 people)
    BENCH_SCALE=0.01 .venv/bin/python -m benchmarks.national   # 1% for a quick check
    BENCH_REQUESTS=5000 ...                                     # fewer HTTP requests (default 20,000)

`run()`:

1. (Re)creates the scratch database of $DATABASE_URL (default
   postgres://postgres@127.0.0.1:5432/careaccess_bench; it is dropped and made again, so never point
   it at a database you want to keep) and migrates it.
2. Writes the code catalogue and the services through the service functions (a handful of audited
   rows), then bulk-loads the directory set-based: 1,000,000 people, 20,000 organisations (a
   tenth of a percent of them ICBs overseeing the rest), 100,000 positions with their job roles,
   activities and service roles, and 1,500,000 assignments (all times BENCH_SCALE), each table with
   one `INSERT ... SELECT FROM generate_series(...)` inside ONE transaction that also appends ONE
   audit entry summarising the import (an operator import, not a per-row service). Target: < 5 min.
3. Starts `careaccess serve` (gunicorn, 2 workers of 4 threads) on 127.0.0.1:8765 against that database, makes
   a relying-service API token with `careaccess.core.tokens.create_token`, and POSTs
   /api/v1/decisions for random people and activity codes: first one client at a time (latency:
   p50, p99; targets < 2 ms and < 10 ms), then several client processes at once (throughput;
   target >= 1,000/s on 2 cores). Each client keeps its connection alive and reads each answer's
   JSON, as a relying service's pooled HTTP client would; its CPU is measured with the server's.
4. Counts the queries one decision makes, and the time spent in them, in-process.

Returns a dict of figures (printed as JSON by the command line). Not a test.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/careaccess_bench"
PORT = 8765

FULL = {"people": 1_000_000, "organisations": 20_000, "positions": 100_000, "assignments": 1_500_000}

GIVEN = ["Olivia", "Amelia", "Isla", "Ava", "Mia", "Grace", "Sophie", "Priya", "Aisha", "Fatima", "Mei", "Niamh",
         "Ewa", "Ngozi", "Sarah", "Helen", "Oliver", "George", "Harry", "Jack", "Noah", "Mohammed", "Yusuf", "Arjun",
         "Kwame", "Tomasz", "Liam", "Rhys", "David", "Daniel", "Samuel", "Wei"]
FAMILY = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Davies", "Evans", "Patel", "Khan", "Ahmed",
          "Ali", "Singh", "Kaur", "Okafor", "Mensah", "Osei", "Kowalski", "Nowak", "Murphy", "Kelly", "Campbell",
          "Morgan", "Hughes", "Lewis", "Wong", "Chen", "Nguyen", "Silva", "Hill", "Ward", "Webb"]
# NI-number letter pairs the format rule accepts (rules.normalise_ni_number), in a fixed order.
NI_FIRST, NI_SECOND = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
KINDS = ["gp_practice", "gp_practice", "gp_practice", "pharmacy", "pharmacy", "pharmacy", "care_home", "care_home",
         "care_provider", "trust"]


def scale() -> float:
    return float(os.environ.get("BENCH_SCALE", "1") or 1)


def sizes(factor: float) -> dict[str, int]:
    return {name: max(10, int(round(n * factor))) for name, n in FULL.items()}


# --- database ---------------------------------------------------------------------------------


def _recreate_database(url: str) -> None:
    import psycopg

    parsed = urllib.parse.urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing to recreate a database named {name!r}")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _setup_django(url: str, var: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["CAREACCESS_VAR"] = var
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    import django

    django.setup()


def _ni_pairs() -> list[str]:
    from careaccess.directory import rules

    pairs = []
    for a in NI_FIRST:
        for b in NI_SECOND:
            try:
                rules.normalise_ni_number(f"{a}{b}123456A")
                pairs.append(a + b)
            except ValueError:
                pass
    return pairs


def _sql_array(values) -> str:
    return "ARRAY[" + ",".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def load(n: dict[str, int]) -> dict:
    """The catalogue and services through the services; the directory set-based; one audit entry."""
    from django.db import connection, transaction

    from careaccess.core.audit import ledger
    from careaccess.core.context import Actor
    from careaccess.directory import demo, services
    from careaccess.directory.models import Activity, JobRole, ServiceRole

    actor = Actor.system("national import")
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with transaction.atomic():
        job_roles, activities = demo.read_catalogue()
        for code, name in job_roles:
            services.upsert_job_role(actor, code=code, name=name)
        for code, name, includes in activities:
            services.upsert_activity(actor, code=code, name=name, includes=includes)
        for spec in demo.SERVICES:
            services.create_service(actor, **spec)
    timings["catalogue and services (audited, per row)"] = time.perf_counter() - started

    role_ids = list(JobRole.objects.order_by("id").values_list("id", flat=True))
    activity_ids = list(Activity.objects.order_by("id").values_list("id", flat=True))
    service_role_ids = list(ServiceRole.objects.order_by("id").values_list("id", flat=True))
    n_icb = max(1, n["organisations"] // 500)
    pairs = _ni_pairs()
    steps = [
        ("organisations", f"""
            INSERT INTO directory_organisation (id, code, name, short_name, kind, parent_id, oversees_descendants,
                cqc_number, has_service_desk, status, closes_on, created_at, updated_at)
            SELECT g,
                   CASE WHEN g <= {n_icb} THEN 'Q' || lpad(g::text, 4, '0') ELSE 'N' || lpad(g::text, 7, '0') END,
                   CASE WHEN g <= {n_icb} THEN 'Integrated Care Board ' || g ELSE 'Organisation ' || g END,
                   '', CASE WHEN g <= {n_icb} THEN 'icb' ELSE ({_sql_array(KINDS)})[1 + g % {len(KINDS)}] END,
                   CASE WHEN g <= {n_icb} THEN NULL ELSE 1 + g % {n_icb} END,
                   g <= {n_icb},
                   CASE WHEN g > {n_icb} AND ({_sql_array(KINDS)})[1 + g % {len(KINDS)}] = 'care_home'
                        THEN '1-' || (100000000 + g)::text ELSE '' END,
                   g % 10 = 9, 'active', NULL, now(), now()
            FROM generate_series(1, {n['organisations']}) g"""),
        ("people", f"""
            INSERT INTO directory_person (id, uid, title, given_name, family_name, date_of_birth, ni_number, email,
                phone, status, user_id, created_at, updated_at)
            SELECT g, (100000000000 + g)::text, '',
                   ({_sql_array(GIVEN)})[1 + (g * 7) % {len(GIVEN)}],
                   ({_sql_array(FAMILY)})[1 + (g * 13 / 7) % {len(FAMILY)}],
                   DATE '1960-01-01' + (g * 37) % 15000,
                   ({_sql_array(pairs)})[1 + g % {len(pairs)}] || lpad(((g / {len(pairs)}) % 1000000)::text, 6, '0')
                       || (ARRAY['A','B','C','D'])[1 + (g / {len(pairs) * 1000000}) % 4],
                   'person.' || g || '@example.nhs.uk', '07700900' || lpad((g % 1000)::text, 3, '0'),
                   'active', NULL, now(), now()
            FROM generate_series(1, {n['people']}) g"""),
        ("positions", f"""
            INSERT INTO directory_position (id, organisation_id, unit_id, name, assignable_by_sponsors, status,
                created_at, updated_at)
            SELECT g, 1 + (g - 1) % {n['organisations']}, NULL, 'Position ' || g, g % 3 = 0, 'active', now(), now()
            FROM generate_series(1, {n['positions']}) g"""),
        ("position job roles", f"""
            INSERT INTO directory_position_job_roles (position_id, jobrole_id)
            SELECT g, (ARRAY{role_ids})[1 + g % {len(role_ids)}] FROM generate_series(1, {n['positions']}) g"""),
        ("position activities", f"""
            INSERT INTO directory_position_activities (position_id, activity_id)
            SELECT g, (ARRAY{activity_ids})[1 + (g * 7 + k) % {len(activity_ids)}]
            FROM generate_series(1, {n['positions']}) g, generate_series(0, 2) k WHERE k <= g % 3"""),
        ("position service roles", f"""
            INSERT INTO directory_position_service_roles (position_id, servicerole_id)
            SELECT g, (ARRAY{service_role_ids})[1 + g % {len(service_role_ids)}]
            FROM generate_series(1, {n['positions']}) g WHERE g % 2 = 0"""),
        # Every person has one assignment; a third of a million more hold a second (locums, bank staff).
        # One in twenty has ended; the positions are spread by a multiplicative hash.
        ("assignments", f"""
            INSERT INTO directory_assignment (id, person_id, position_id, starts_on, ends_on, state, created_at, updated_at)
            SELECT g, 1 + (g - 1) % {n['people']}, 1 + ((g::bigint * 2654435761) % {n['positions']}),
                   DATE '2020-01-01' + g % 2000,
                   CASE WHEN g % 20 = 0 THEN DATE '2020-01-01' + g % 2000 + 30 ELSE NULL END,
                   'active', now(), now()
            FROM generate_series(1, {n['assignments']}) g"""),
    ]
    counts = {}
    started_bulk = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # The tables are empty: load them without their foreign keys and secondary indexes, then
        # build each index once and check each foreign key with one set-based query, instead of a
        # deferred trigger per row at COMMIT. All inside the transaction: DDL is transactional.
        t0 = time.perf_counter()
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")  # index builds in memory
        restore = _detach(cursor, BULK_TABLES)
        timings["drop foreign keys and secondary indexes"] = time.perf_counter() - t0
        for name, sql in steps:
            t0 = time.perf_counter()
            cursor.execute(sql)
            counts[name] = cursor.rowcount
            timings[name] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for statement in restore["indexes"]:
            cursor.execute(statement)
        timings["build secondary indexes"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for statement in restore["foreign keys"]:
            cursor.execute(statement)
        timings["check and restore foreign keys"] = time.perf_counter() - t0
        for table in ("organisation", "person", "position", "assignment"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('directory_{table}', 'id'), "
                           f"(SELECT max(id) FROM directory_{table}))")
        bulk_seconds = time.perf_counter() - started_bulk
        ledger.record("directory.bulk_imported", actor=actor, target_type="directory", target_id="national-benchmark",
                      after={"rows": counts, "seconds": round(bulk_seconds, 1)},
                      reason="national-scale benchmark import (set-based operator import, one entry)")
    timings["commit"] = time.perf_counter() - started_bulk - bulk_seconds
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings["analyze"] = time.perf_counter() - t0
    total = time.perf_counter() - started
    return {"rows": counts, "seconds": round(total, 1),
            "timings": {k: round(v, 2) for k, v in timings.items()}}


BULK_TABLES = ("directory_organisation", "directory_person", "directory_position", "directory_position_job_roles",
               "directory_position_activities", "directory_position_service_roles", "directory_assignment")


def _detach(cursor, tables) -> dict[str, list[str]]:
    """Drop the tables' foreign keys and their indexes that back no constraint; return the
    statements that put them back (indexes first, then foreign keys, which validate set-based)."""
    cursor.execute("""
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c WHERE c.contype = 'f' AND c.conrelid::regclass::text = ANY(%s)""", [list(tables)])
    foreign_keys = cursor.fetchall()
    cursor.execute("""
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""", [list(tables)])
    indexes = cursor.fetchall()
    for table, name, _ in foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return {"indexes": [definition for _, definition in indexes],
            "foreign keys": [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}' for table, name, definition in foreign_keys]}


# --- HTTP -------------------------------------------------------------------------------------


def _cpu_seconds(pids) -> float:
    """User + system CPU seconds used so far by these processes (from /proc; 0 for gone ones)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15)
    return total


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _postgres_backends(dbname: str) -> list[int]:
    import psycopg

    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND backend_type = 'client backend'", [dbname])]  # not autovacuum workers that come and go


def _make_token() -> str:
    from careaccess.core import tokens
    from careaccess.core.context import Actor
    from careaccess.directory.models import Service

    service = Service.objects.get(code="connecting-care")
    _, secret = tokens.create_token(Actor.system("national benchmark"), "national benchmark", service=service)
    return secret


def _wait_for(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            # /healthz answers at once; the OpenAPI document takes seconds to build on a busy machine,
            # longer than a short timeout, so probing it could keep the server busy and never answer.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the server did not answer in time")


def _requests(count: int, people: int, activities: list[str], seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps({"uid": str(100000000000 + rng.randint(1, people)), "activity": rng.choice(activities)}).encode()
            for _ in range(count)]


class _Connection:
    """A kept-alive HTTP/1.1 connection that sends whole requests and reads whole responses
    (status line, headers, a Content-Length body), as a relying service's pooled client does; it
    opens a new connection when the server closes one. http.client parses headers with the email
    package and costs the client as much CPU as the server spends answering."""

    def __init__(self, port: int):
        self.port = port
        self.sock = None

    def post(self, path: str, headers: bytes, body: bytes) -> tuple[int, bytes]:
        import socket

        request = b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s" % (path.encode(), headers, len(body), body)
        reused = self.sock is not None
        if not reused:
            self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.reader = self.sock.makefile("rb")
        self.sock.sendall(request)
        status_line = self.reader.readline()
        if not status_line and reused:  # the server closed the idle connection: once more on a new one
            self.close()
            return self.post(path, headers, body)
        status = int(status_line.split(b" ", 2)[1])
        length, close = None, False
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        if length is None:
            raise OSError("the response has no Content-Length")
        content = self.reader.read(length)
        if close:
            self.close()
        return status, content

    def close(self) -> None:
        if self.sock is not None:
            self.reader.close()
            self.sock.close()
            self.sock = None


def _client(args) -> tuple[list[float], int, dict]:
    """One client: sends its requests one after another on a kept-alive connection, and reads each
    answer's JSON (`allowed`), as a relying service would."""
    port, token, bodies = args
    headers = (f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
               "Content-Type: application/json\r\nConnection: keep-alive\r\n").encode()
    conn = _Connection(port)
    latencies, errors, statuses = [], 0, {}
    for body in bodies:
        t0 = time.perf_counter()
        try:
            status, content = conn.post("/api/v1/decisions", headers, body)
            if status == 200 and not isinstance(json.loads(content)["allowed"], bool):
                raise ValueError(f"not a decision: {content!r}")
        except (OSError, ValueError, IndexError, KeyError):
            conn.close()
            errors += 1
            continue
        latencies.append(time.perf_counter() - t0)
        statuses[status] = statuses.get(status, 0) + 1
    conn.close()
    return latencies, errors, statuses


def _percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]


def _summarise(results, seconds: float) -> dict:
    latencies = sorted(x for r in results for x in r[0])
    statuses: dict = {}
    for r in results:
        for k, v in r[2].items():
            statuses[str(k)] = statuses.get(str(k), 0) + v
    return {
        "requests": len(latencies),
        "errors": sum(r[1] for r in results),
        "statuses": statuses,
        "seconds": round(seconds, 2),
        "per_second": round(len(latencies) / seconds, 1) if seconds else None,
        "p50_ms": round(_percentile(latencies, 50) * 1000, 2),
        "p90_ms": round(_percentile(latencies, 90) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2) if latencies else None,
    }


def http_bench(token: str, people: int, activities: list[str], requests: int, clients: int, workers: int,
               threads: int) -> dict:
    # Connections live through the whole run (the default, 60 s, would replace them mid-measurement
    # and lose the CPU count of the PostgreSQL backends they end).
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "careaccess.settings", "DATABASE_CONN_MAX_AGE": "3600"}
    serve = [sys.executable, "-m", "careaccess.cli", "serve", "--bind", f"127.0.0.1:{PORT}", "--workers", str(workers),
             "--threads", str(threads)]
    log = tempfile.NamedTemporaryFile(prefix="careaccess-bench-serve-", suffix=".log", delete=False)
    server = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        _wait_for(PORT, server)
        # Warm up every worker and thread (imports, connections), then measure.
        with multiprocessing.get_context("fork").Pool(workers * threads) as pool:
            pool.map(_client, [(PORT, token, _requests(100, people, activities, 1 + i)) for i in range(workers * threads)])
        latency_requests = max(200, requests // 4)
        t0 = time.perf_counter()
        sequential = _client((PORT, token, _requests(latency_requests, people, activities, 2)))
        latency = _summarise([sequential], time.perf_counter() - t0)
        per_client = max(1, requests // clients)
        batches = [(PORT, token, _requests(per_client, people, activities, 10 + i)) for i in range(clients)]
        workers_pids = _children(server.pid)
        dbname = urllib.parse.urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
        backends = _postgres_backends(dbname)
        cpu_before = (_cpu_seconds(workers_pids), _cpu_seconds(backends), os.times())
        pool = multiprocessing.get_context("fork").Pool(clients)
        t0 = time.perf_counter()
        results = pool.map(_client, batches)
        seconds = time.perf_counter() - t0
        pool.close()
        pool.join()
        after = os.times()
        throughput = _summarise(results, seconds)
        done = max(1, throughput["requests"])
        app_ms = (_cpu_seconds(workers_pids) - cpu_before[0]) * 1000 / done
        # Backends opened during the run count whole; one that ended would be missing.
        backends_after = _postgres_backends(dbname)
        if not set(backends) <= set(backends_after):
            throughput["note"] = "PostgreSQL backends ended during the run: their CPU figure is incomplete"
        db_ms = max(0.0, _cpu_seconds(backends_after) - cpu_before[1]) * 1000 / done
        client_ms = ((after.children_user + after.children_system) - (cpu_before[2].children_user + cpu_before[2].children_system)) * 1000 / done
        throughput["cpu_ms_per_decision"] = {
            "app (gunicorn workers)": round(app_ms, 3), "postgresql backends": round(db_ms, 3),
            "http clients": round(client_ms, 3),
        }
        cores = os.cpu_count() or 1
        # What the server side alone could answer per second with every core busy and no other load.
        throughput["capacity_per_second_if_cores_were_free"] = round(cores * 1000 / (app_ms + db_ms), 1) if app_ms + db_ms else None
        throughput["load_average_during"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    kind = f"{workers} workers of {threads} threads (LingeringThreadWorker)" if threads > 1 else f"{workers} sync workers"
    return {"server": f"careaccess serve (gunicorn, {kind})", "one_client": latency,
            f"{clients}_clients": throughput, "server_log": log.name}


def profile_decision(token: str, people: int, activities: list[str], n: int = 200) -> dict:
    """In-process: queries per decision and where the time of one decision goes."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    import cProfile
    import io
    import pstats

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
    bodies = _requests(n, people, activities, 99)
    client.post("/api/v1/decisions", data=bodies[0], content_type="application/json")
    query_counts, query_ms, total_ms, statuses = [], [], [], {}
    example = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    cpu0, db0 = time.process_time(), _cpu_seconds([backend])
    for body in bodies:
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            t0 = time.perf_counter()
            response = client.post("/api/v1/decisions", data=body, content_type="application/json")
            total_ms.append((time.perf_counter() - t0) * 1000)
        statuses[str(response.status_code)] = statuses.get(str(response.status_code), 0) + 1
        query_counts.append(len(captured.captured_queries))
        query_ms.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
        if not example:
            example = [q["sql"][:160] for q in captured.captured_queries]
    cpu_ms = (time.process_time() - cpu0) * 1000 / n
    db_cpu_ms = (_cpu_seconds([backend]) - db0) * 1000 / n
    profiler = cProfile.Profile(time.process_time)  # CPU time: what other processes do is not counted
    profiler.enable()
    for body in bodies:
        client.post("/api/v1/decisions", data=body, content_type="application/json")
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    top = [line.strip() for line in text.getvalue().splitlines() if line.strip()[:1].isdigit()][:16]
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(40)
    cumulative = [line.strip() for line in text.getvalue().splitlines() if line.strip()[:1].isdigit()][:41]
    return {
        "decisions": n,
        "statuses": statuses,
        "top_functions_by_own_cpu_time (ncalls tottime percall cumtime percall where)": top,
        "top_functions_by_cumulative_cpu_time": cumulative,
        "queries_per_decision": round(statistics.fmean(query_counts), 2),
        "median_ms_in_process": round(statistics.median(total_ms), 2),
        "median_ms_in_queries": round(statistics.median(query_ms), 2),
        "cpu_ms_per_decision_in_process (django, incl. test client)": round(cpu_ms, 3),
        "cpu_ms_per_decision_in_postgresql": round(db_cpu_ms, 3),
        "example_queries": example,
    }


# --- run --------------------------------------------------------------------------------------


def run(factor: float | None = None, requests: int | None = None, clients: int = 4, workers: int = 2,
        threads: int = 4) -> dict:
    factor = scale() if factor is None else factor
    n = sizes(factor)
    url = os.environ.get("CAREACCESS_BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://")):
        url = DEFAULT_URL
    var = os.environ.get("CAREACCESS_BENCH_VAR") or str(Path(tempfile.gettempdir()) / "careaccess-national-bench-var")
    _recreate_database(url)
    _setup_django(url, var)
    from django.core.management import call_command
    from django.db import connection

    from careaccess.directory.models import Activity

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrate_seconds = time.perf_counter() - t0
    figures: dict = {"name": "national directory on PostgreSQL", "scale": factor, "target_rows": n,
                     "migrate_seconds": round(migrate_seconds, 1)}
    figures["load"] = load(n)
    activities = list(Activity.objects.values_list("code", flat=True))
    token = _make_token()
    figures["profile"] = profile_decision(token, n["people"], activities)
    connection.close()  # the server's workers open their own
    requests = requests or int(os.environ.get("BENCH_REQUESTS") or 0) or max(2000, int(20_000 * min(1.0, factor * 10)))
    figures["decisions_http"] = http_bench(token, n["people"], activities, requests, clients, workers, threads)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

"""Interop on a national-size directory in PostgreSQL, over HTTP (issue 8, "Speed").

    .venv/bin/python -m benchmarks.interop_bench                  # 1,000,000 people
    BENCH_SCALE=0.01 .venv/bin/python -m benchmarks.interop_bench    # 10,000 people, quick check

`run()`:

1. (Re)creates the scratch database $CAREACCESS_INTEROP_BENCH_DATABASE_URL (default
   postgres://postgres@127.0.0.1:5432/careaccess_bench_interop: dropped and made again) and loads
   the national directory with `benchmarks.national.load` (1,000,000 people, 1,500,000 assignments
   at full scale); one person in ten is then given a SCIM userName (`User.<uid>@Example.nhs.uk`),
   set-based.
2. Makes, through the service functions, an auditor with a token carrying `scim.read` and an OIDC
   client (client_secret_basic), and bulk-inserts OIDC token pairs for random people with every
   national-RBAC scope (as if each had signed in once).
3. In-process: EXPLAIN of the SCIM `userName eq` and `sw` queries, queries per lookup, and a CPU profile
   (cProfile, process time) of the refresh grant and of userinfo.
4. Starts `careaccess serve` (gunicorn, 2 workers of 4 threads) on 127.0.0.1:8766 and measures, with one client
   and then with several client processes on kept-alive connections:
   - `GET /scim/v2/Users?filter=userName eq "..."` (target p99 < 20 ms),
   - `POST /oidc/token` with `grant_type=refresh_token` (each request spends its own refresh
     token; target >= 200/s),
   - `GET /oidc/userinfo` (target >= 500/s),
   with CPU milliseconds per request of the gunicorn workers, the PostgreSQL backends and the
   clients, and the load average.

Returns a dict of figures (printed as JSON from the command line). Not a test.
"""

from __future__ import annotations

import base64
import cProfile
import io
import json
import multiprocessing
import os
import pstats
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from benchmarks import national

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/careaccess_bench_interop"
PORT = 8766
SCOPE = "openid profile nhsperson email associatedorgs nationalrbacaccess selectedrole"
UID_BASE = 100000000000  # national.load gives person g the user id UID_BASE + g


# --- data -------------------------------------------------------------------------------------


def scim_users(people: int) -> int:
    """One person in ten gets a SCIM userName (mixed case; the key is its lower-cased copy)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO interop_scimuser (person_id, user_name, user_name_key, external_id, updated_at)
            SELECT p.id, 'User.' || p.uid || '@Example.nhs.uk', 'user.' || p.uid || '@example.nhs.uk', '', now()
            FROM directory_person p WHERE p.id % 10 = 0""")
        count = cursor.rowcount
        cursor.execute("ANALYZE interop_scimuser")
    return count


def scim_token() -> str:
    """An auditor (person.read) with an API token carrying scim.read, made through the services."""
    from careaccess.core import tokens
    from careaccess.directory import services, testing
    from careaccess.interop import access

    testing.staff_catalogue()
    icb = testing.organisation("QBENCH", kind="icb", oversees_descendants=True)
    auditor = services.create_person(testing.SYSTEM, given_name="Bench", family_name="Auditor")
    services.create_assignment(testing.SYSTEM, auditor, testing.position(icb, "Auditor", capabilities=("auditor",)))
    token, secret = tokens.create_token(testing.SYSTEM, "interop benchmark", person=auditor)
    access.set_scopes(testing.SYSTEM, token.prefix, ["scim.read"])
    return secret


def oidc_tokens(people: int, count: int, seed: int = 8) -> tuple[str, list[tuple[str, str]]]:
    """An OIDC client (client_secret_basic) and `count` (access, refresh) token pairs issued to it
    for random people. Returns the Basic authorization header and the pairs."""
    import datetime as dt

    from careaccess.core import clock
    from careaccess.core.tokens import hash_secret
    from careaccess.directory import testing
    from careaccess.interop.oidc import services
    from careaccess.interop.oidc.models import OidcToken

    client, secret = services.add_client(testing.SYSTEM, name="Benchmark portal", redirect_uris=["https://rp.example/cb"],
                                         auth_method="client_secret_basic")
    rng = random.Random(seed)
    now = clock.now()
    expires = now + dt.timedelta(hours=6)
    pairs, rows = [], []
    for _ in range(count):
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        pairs.append((access, refresh))
        rows.append(OidcToken(client=client, person_id=rng.randint(1, people), access_digest=hash_secret(access),
                              refresh_digest=hash_secret(refresh), scope=SCOPE, issued_at=now, expires_at=expires,
                              refresh_expires_at=expires,
                              auth_time=int(now.timestamp()), acr="urn:careaccess:aal1", amr="pwd"))
    OidcToken.objects.bulk_create(rows, batch_size=5000)
    basic = base64.b64encode(f"{client.client_id}:{secret}".encode()).decode()
    return f"Basic {basic}", pairs


# --- requests ---------------------------------------------------------------------------------


def scim_lookups(token: str, people: int, count: int, seed: int) -> list[tuple]:
    """userName eq lookups: half SCIM-provisioned userNames (in another case than stored), half
    user ids of people never provisioned by SCIM."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    for i in range(count):
        if i % 2:
            name = f"USER.{UID_BASE + 10 * rng.randint(1, people // 10)}@example.NHS.uk"
        else:
            name = str(UID_BASE + 10 * rng.randint(0, people // 10 - 1) + rng.randint(1, 9))
        query = urllib.parse.urlencode({"filter": f'userName eq "{name}"'})
        out.append(("GET", f"/scim/v2/Users?{query}", None, headers, b'"totalResults": 1'))
    return out


def refreshes(basic: str, refresh_tokens: list[str]) -> list[tuple]:
    headers = {"Authorization": basic, "Content-Type": "application/x-www-form-urlencoded"}
    return [("POST", "/oidc/token", urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": r}).encode(),
             headers, b'"access_token"') for r in refresh_tokens]


def userinfos(access_tokens: list[str], count: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    return [("GET", "/oidc/userinfo", None, {"Authorization": f"Bearer {rng.choice(access_tokens)}"}, b'"sub"')
            for _ in range(count)]


def _client(args) -> tuple[list[float], int, dict]:
    """One client: its requests one after another on a kept-alive connection; a response without
    the expected text counts as an error."""
    import http.client

    port, requests = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies, errors, statuses = [], 0, {}
    for method, path, body, headers, expect in requests:
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers={**headers, "Connection": "keep-alive"})
            response = conn.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            errors += 1
            continue
        latencies.append(time.perf_counter() - t0)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if expect not in content:
            errors += 1
    conn.close()
    return latencies, errors, statuses


def _measure(server_pid: int, dbname: str, batches: list[list[tuple]]) -> dict:
    """Send the batches from one client process each, at once; figures with CPU per request."""
    workers = national._children(server_pid)
    backends = national._postgres_backends(dbname)
    cpu_before = (national._cpu_seconds(workers), national._cpu_seconds(backends), os.times())
    pool = multiprocessing.get_context("fork").Pool(len(batches))
    t0 = time.perf_counter()
    results = pool.map(_client, [(PORT, batch) for batch in batches])
    seconds = time.perf_counter() - t0
    pool.close()
    pool.join()
    after = os.times()
    figures = national._summarise(results, seconds)
    done = max(1, figures["requests"])
    app_ms = (national._cpu_seconds(workers) - cpu_before[0]) * 1000 / done
    db_ms = max(0.0, national._cpu_seconds(backends) - cpu_before[1]) * 1000 / done
    client_ms = ((after.children_user + after.children_system)
                 - (cpu_before[2].children_user + cpu_before[2].children_system)) * 1000 / done
    if set(national._postgres_backends(dbname)) != set(backends):
        figures["note"] = "PostgreSQL backends changed during the run: their CPU figure is incomplete"
    figures["cpu_ms_per_request"] = {"app (gunicorn workers)": round(app_ms, 3), "postgresql backends": round(db_ms, 3),
                                     "http clients": round(client_ms, 3)}
    cores = os.cpu_count() or 1
    figures["capacity_per_second_if_cores_were_free"] = round(cores * 1000 / (app_ms + db_ms), 1) if app_ms + db_ms else None
    figures["load_average_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return figures


def http_bench(scim: list[tuple], refresh: list[tuple], info: list[tuple], clients: int, workers: int,
               threads: int) -> dict:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "careaccess.settings", "DATABASE_CONN_MAX_AGE": "3600"}
    serve = [sys.executable, "-m", "careaccess.cli", "serve", "--bind", f"127.0.0.1:{PORT}", "--workers", str(workers),
             "--threads", str(threads)]
    log = tempfile.NamedTemporaryFile(prefix="careaccess-interop-bench-serve-", suffix=".log", delete=False)
    server = subprocess.Popen(serve, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    dbname = urllib.parse.urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")
    out: dict = {"server": f"careaccess serve (gunicorn, {workers} workers of {threads} threads)", "clients": clients,
                 "server_log": log.name}

    def split(requests: list[tuple]) -> list[list[tuple]]:
        return [requests[i::clients] for i in range(clients)]

    try:
        national._wait_for(PORT, server, timeout=300)
        # Warm every worker thread (imports, its own database connection): many clients at once.
        lanes = workers * threads * 2
        warm, scim, info = scim[:2 * lanes] + info[:lanes], scim[2 * lanes:], info[lanes:]
        with multiprocessing.get_context("fork").Pool(lanes) as pool:
            pool.map(_client, [(PORT, warm[i::lanes]) for i in range(lanes)])
        one = len(scim) // 3
        out["scim userName eq, one client"] = _measure(server.pid, dbname, [scim[:one]])
        out[f"scim userName eq, {clients} clients"] = _measure(server.pid, dbname, split(scim[one:]))
        out[f"token refresh grant, {clients} clients"] = _measure(server.pid, dbname, split(refresh))
        out[f"userinfo, {clients} clients"] = _measure(server.pid, dbname, split(info))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    return out


# --- in-process -------------------------------------------------------------------------------


def _request(client, method, path, body, headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k.lower() != "content-type"}
    if method == "GET":
        return client.get(path, **extra)
    return client.post(path, body, content_type=headers.get("Content-Type", ""), **extra)


def _profile(client, requests: list[tuple], top: int = 25) -> dict:
    """Queries per request and the CPU profile (own process time) of these requests."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries, example = [], []
    half = len(requests) // 2
    for method, path, body, headers, expect in requests[:half]:
        with CaptureQueriesContext(connection) as captured:
            response = _request(client, method, path, body, headers)
        assert expect in response.content, response.content[:300]
        queries.append(len(captured.captured_queries))
        example = example or [q["sql"][:200] for q in captured.captured_queries]
    profiler = cProfile.Profile(time.process_time)
    cpu0 = time.process_time()
    profiler.enable()
    for method, path, body, headers, _ in requests[half:]:
        _request(client, method, path, body, headers)
    profiler.disable()
    cpu_ms = (time.process_time() - cpu0) * 1000 / max(1, len(requests) - half)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(top)
    lines = [line.strip() for line in text.getvalue().splitlines() if line.strip()[:1].isdigit()]
    return {"queries_per_request": round(statistics.fmean(queries), 2), "example_queries": example,
            "cpu_ms_per_request_in_process (profiled)": round(cpu_ms, 3),
            "top_functions_by_cumulative_cpu_time": lines[:top]}


def explain_scim(people: int) -> dict:
    """The plans of the person query SCIM sends for `userName eq` (a provisioned userName, a user
    id) and `userName sw` (a prefix of 1,000 provisioned userNames at full scale): index scans only."""
    from django.db import connection

    from careaccess.interop.scim.resources import UserResource
    from careaccess.interop.scim.views import _filtered

    plans = {}
    for label, text in (("eq provisioned userName", f'userName eq "USER.{UID_BASE + 10 * (people // 20)}@example.nhs.uk"'),
                        ("eq user id", f'userName eq "{UID_BASE + people // 2 + 1}"'),
                        ("sw userName prefix", f'userName sw "user.{(UID_BASE + people // 2) // 10000}"')):
        queryset = UserResource.rows(_filtered(UserResource, {"filter": text})[:101])
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql, params)
            plans[label] = [row[0] for row in cursor.fetchall()]
    return plans


# --- run --------------------------------------------------------------------------------------


def run(requests: int = 6000, clients: int = 4, workers: int = 2, threads: int = 4) -> dict:
    factor = national.scale()
    sizes = national.sizes(factor)
    people = sizes["people"]
    url = os.environ.get("CAREACCESS_INTEROP_BENCH_DATABASE_URL", DEFAULT_URL)
    var = str(Path(tempfile.gettempdir()) / "careaccess-interop-bench-var")
    national._recreate_database(url)
    national._setup_django(url, var)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    figures: dict = {"name": "interop (SCIM, OIDC) on the national directory", "scale": factor}
    t0 = time.perf_counter()
    figures["load"] = national.load(sizes)
    figures["load"]["scim users"] = scim_users(people)
    token = scim_token()
    basic, pairs = oidc_tokens(people, requests + 1400)
    figures["load"]["seconds incl. scim users and oidc tokens"] = round(time.perf_counter() - t0, 1)

    figures["scim_explain"] = explain_scim(people)
    # Each refresh spends its token pair, so refreshes and userinfo calls use separate pairs.
    profile_refresh, profile_info, info_pool, refresh_pool = pairs[:200], pairs[200:400], pairs[400:1400], pairs[1400:]
    client = Client(HTTP_HOST="127.0.0.1")
    figures["profile"] = {
        "scim userName eq": _profile(client, scim_lookups(token, people, 400, 1)),
        "token refresh grant": _profile(client, refreshes(basic, [r for _, r in profile_refresh])),
        "userinfo": _profile(client, userinfos([a for a, _ in profile_info], 400, 2)),
    }
    connection.close()  # the server's workers open their own
    figures["http"] = http_bench(scim_lookups(token, people, requests, 3), refreshes(basic, [r for _, r in refresh_pool]),
                                 userinfos([a for a, _ in info_pool], requests + 100, 4), clients, workers, threads)
    figures["targets"] = "SCIM userName eq p99 < 20 ms; refresh grant >= 200/s; userinfo >= 500/s (2 cores)"
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

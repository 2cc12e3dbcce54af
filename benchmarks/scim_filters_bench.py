"""SCIM filters on a national-size directory in PostgreSQL (issue 8: filters as indexed SQL).

    .venv/bin/python -m benchmarks.scim_filters_bench                  # 1,000,000 people
    BENCH_SCALE=0.01 .venv/bin/python -m benchmarks.scim_filters_bench    # 10,000 people, quick check

`run()`:

1. (Re)creates the scratch database $CAREACCESS_SCIM_FILTERS_BENCH_DATABASE_URL (default
   postgres://postgres@127.0.0.1:5432/careaccess_bench_scim_filters: dropped and made again, and
   dropped at the end unless CAREACCESS_SCIM_FILTERS_BENCH_KEEP=1), migrates it and loads the
   national directory with `benchmarks.national.load` (1,000,000 people, 100,000 positions at full
   scale). Then, set-based: one person in ten gets a SCIM userName (`interop_bench.scim_users`),
   one in twenty an externalId; one position in ten a SCIM externalId; creation and change instants
   spread over three years (about 900 people and 90 positions changed in the last day); one person
   in 97 suspended; one in 1,000 a family name of their own (the national names are 32 common
   ones, so a name filter there matches 3% of the directory).
2. Makes an auditor with a `scim.read` token (`interop_bench.scim_token`).
3. In-process (Django test client, the view's whole work: parse, query, COUNT when more than a page
   matches, render), each filter form of `forms()`: the best and median of `repeats` requests after
   one to warm, totalResults, and EXPLAIN ANALYZE of the SQL the request sent to the directory's
   tables: its execution time, the tables it read whole (a sequential scan of a table of 10,000 rows
   or more) and the plan.

Returns a dict of figures (printed as JSON from the command line). Not a test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

from benchmarks import interop_bench, national

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/careaccess_bench_scim_filters"
UID_BASE = interop_bench.UID_BASE
BIG = 10_000  # a sequential scan of a table this size or more is reported
YEARS = 3


# --- data -------------------------------------------------------------------------------------


def uid(g: int) -> str:
    return str(UID_BASE + g)


def family_name(g: int) -> str:
    """The family name of its own that person g (a multiple of 1,000) is given (SQL: `_OWN_NAME`)."""
    return "Q" + str(g // 1000 * 7919 + 104729).translate(str.maketrans("0123456789", "aeioubcdfg"))


_OWN_NAME = "'Q' || translate((p.id / 1000 * 7919 + 104729)::text, '0123456789', 'aeioubcdfg')"


def external_id(g: int) -> str:
    import hashlib

    return "ext-" + hashlib.md5(str(g).encode()).hexdigest()


def prepare(people: int) -> dict:
    """SCIM links, spread timestamps, suspended people and names of their own, set-based. The people
    and positions are updated with their secondary indexes dropped, vacuumed, then indexed again
    (as `national.load` builds them): indexes as compact as after a load, not swollen by an update
    of every row."""
    from django.db import connection, transaction

    timings = {}
    t0 = time.perf_counter()
    scim = interop_bench.scim_users(people)
    timings["scim users"] = time.perf_counter() - t0
    seconds = YEARS * 365 * 86400
    tables = ("directory_person", "directory_position")
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE interop_scimuser SET external_id = 'ext-' || md5(person_id::text) WHERE person_id % 20 = 0")
        restore = national._detach(cursor, tables)
        cursor.execute(f"""
            UPDATE directory_person p SET
                created_at = now() - interval '{YEARS} years' - interval '1 second' * ((p.id::bigint * 7919) % {seconds}),
                updated_at = now() - interval '1 second' * ((p.id::bigint * 104729) % {seconds}),
                status = CASE WHEN p.id % 97 = 0 THEN 'suspended' ELSE p.status END,
                family_name = CASE WHEN p.id % 1000 = 0 THEN {_OWN_NAME} ELSE p.family_name END""")
        cursor.execute(f"""
            UPDATE directory_position SET
                created_at = now() - interval '{YEARS} years' - interval '1 second' * ((id::bigint * 7919) % {seconds}),
                updated_at = now() - interval '1 second' * ((id::bigint * 104729) % {seconds})""")
        cursor.execute("""
            INSERT INTO interop_scimgroup (position_id, external_id, updated_at)
            SELECT id, 'grp-' || md5(id::text), now() FROM directory_position WHERE id % 10 = 0""")
    timings["spread timestamps, names, external ids"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM {table}")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        for statement in restore["indexes"] + restore["foreign keys"]:
            cursor.execute(statement)
    timings["vacuum and index again"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        for table in (*tables, "interop_scimuser", "interop_scimgroup"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    timings["vacuum analyze"] = time.perf_counter() - t0
    return {"scim users": scim, "seconds": {k: round(v, 1) for k, v in timings.items()}}


def _instant(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def forms(people: int, positions: int, organisations: int) -> list[tuple[str, str, dict]]:
    """(resource, label, query parameters): each filter form with values that match real rows."""
    from careaccess.core import sql
    from careaccess.interop.scim.schema import ENTERPRISE, POSITION

    now = dt.datetime.now(dt.timezone.utc)
    plain = people // 2 + 7  # never provisioned by SCIM: their userName is their uid
    linked = 10 * (people // 20)  # provisioned: userName User.<uid>@Example.nhs.uk
    own = 1000 * (people // 2000)  # a family name of their own
    ext = 20 * (people // 40)
    other = 20 * (people // 40) + 20
    name = family_name(own)
    position = positions // 2 + 7
    member = sql.fetchall("""SELECT p.uid FROM directory_assignment a JOIN directory_person p ON p.id = a.person_id
                             WHERE a.position_id = %s AND a.ends_on IS NULL AND p.status = 'active'
                             ORDER BY a.id LIMIT 1""", [position])[0][0]
    org_code = "N" + str(organisations // 2 + 1).zfill(7)  # national.load: above the ICBs' numbers, N and 7 digits
    day_ago, hour_ago = _instant(now - dt.timedelta(days=1)), _instant(now - dt.timedelta(hours=1))
    week = (_instant(now - dt.timedelta(days=400)), _instant(now - dt.timedelta(days=393)))
    oldest = sql.fetchall("SELECT min(created_at) FROM directory_person", [])[0][0]
    first_day = _instant(oldest + dt.timedelta(days=1))
    u = [
        ("userName eq (provisioned, other case)", f'userName eq "USER.{uid(linked)}@example.NHS.uk"'),
        ("userName eq (a user id)", f'userName eq "{uid(plain)}"'),
        ("userName sw", f'userName sw "user.{uid(linked)[:-3]}"'),
        ("userName co", f'userName co "{uid(plain)[-7:]}"'),
        ("userName ew", f'userName ew "{uid(plain)[-6:]}"'),
        ("userName ge and lt", f'userName ge "{uid(plain)}" and userName lt "{uid(plain + 100)}"'),
        ("id eq", f'id eq "{uid(plain)}"'),
        ("id sw", f'id sw "{uid(plain)[:-2]}"'),
        ("id co", f'id co "{uid(plain)[-7:]}"'),
        ("id ew", f'id ew "{uid(plain)[-6:]}"'),
        ("enterprise employeeNumber eq", f'{ENTERPRISE}:employeeNumber eq "{uid(plain)}"'),
        ("externalId eq", f'externalId eq "{external_id(ext)}"'),
        ("externalId sw", f'externalId sw "{external_id(ext)[:12]}"'),
        ("externalId co", f'externalId co "{external_id(ext)[6:16]}"'),
        ("externalId pr", "externalId pr"),
        ("name.familyName eq (own name)", f'name.familyName eq "{name.upper()}"'),
        ("name.familyName sw (own name)", f'name.familyName sw "{name[:6].lower()}"'),
        ("name.familyName co (own name)", f'name.familyName co "{name[3:9]}"'),
        ("name.familyName ew (own name)", f'name.familyName ew "{name[-6:]}"'),
        ("name.familyName eq (3% of people)", 'name.familyName eq "smith"'),
        ("name.givenName eq (3% of people)", 'name.givenName eq "PRIYA"'),
        ("name.givenName sw", 'name.givenName sw "pri"'),
        ("name.givenName co", 'name.givenName co "riy"'),
        ("name.givenName ew", 'name.givenName ew "iya"'),
        ("emails.value eq (other case)", f'emails.value eq "Person.{plain}@Example.NHS.uk"'),
        ("emails[value eq]", f'emails[value eq "person.{plain}@example.nhs.uk"]'),
        ("emails.value sw", f'emails.value sw "person.{plain}@"'),
        ("emails.value co", f'emails.value co "son.{plain}@exa"'),
        ("emails.value ew", f'emails.value ew ".{plain}@example.nhs.uk"'),
        ("active eq false (1%)", "active eq false"),
        ("groups.value eq", f'groups.value eq "{position}"'),
        ("meta.lastModified gt (last day)", f'meta.lastModified gt "{day_ago}"'),
        ("meta.lastModified ge and lt (a week)", f'meta.lastModified ge "{week[0]}" and meta.lastModified lt "{week[1]}"'),
        ("meta.created le (first day)", f'meta.created le "{first_day}"'),
        ("or: userName eq or emails.value eq", f'userName eq "user.{uid(linked)}@example.nhs.uk" or '
                                               f'emails.value eq "person.{plain}@example.nhs.uk"'),
        ("or: three emails.value eq", " or ".join(f'emails.value eq "person.{plain + k}@example.nhs.uk"' for k in range(3))),
        ("or: externalId eq, userName eq, id eq", f'externalId eq "{external_id(other)}" or userName eq "{uid(plain + 1)}" '
                                                  f'or id eq "{uid(plain + 2)}"'),
        ("or: familyName eq or lastModified gt (last hour)", f'name.familyName eq "{name}" or meta.lastModified gt "{hour_ago}"'),
        ("and: givenName eq and familyName eq (0.4% of people)", 'name.givenName eq "amelia" and name.familyName eq "DAVIES"'),
        ("and: lastModified gt (last day) and active eq true", f'meta.lastModified gt "{day_ago}" and active eq true'),
    ]
    g = [
        ("id eq", f'id eq "{position}"'),
        ("displayName eq", f'displayName eq "position {position}"'),
        ("displayName sw", f'displayName sw "Position {position // 10}"'),
        ("displayName co", f'displayName co "ition {position}"'),
        ("displayName ew", f'displayName ew "n {position}"'),
        ("externalId eq", f'externalId eq "grp-{_md5(positions // 20 * 10)}"'),
        ("members.value eq", f'members.value eq "{member}"'),
        ("meta.lastModified gt (last day)", f'meta.lastModified gt "{day_ago}"'),
        ("position organisationCode eq", f'{POSITION}:organisationCode eq "{org_code.lower()}"'),
        ("or: displayName eq or externalId eq", f'displayName eq "Position {position + 1}" or '
                                                f'externalId eq "grp-{_md5(positions // 20 * 10 + 10)}"'),
    ]
    out = [("Users", label, {"filter": text}) for label, text in u]
    out.append(("Users", "meta.lastModified gt (last day), sortBy=meta.lastModified",
                {"filter": f'meta.lastModified gt "{day_ago}"', "sortBy": "meta.lastModified"}))
    out += [("Groups", label, {"filter": text}) for label, text in g]
    return out


def _md5(value) -> str:
    import hashlib

    return hashlib.md5(str(value).encode()).hexdigest()


# --- measuring --------------------------------------------------------------------------------


def _big_tables() -> set[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples >= %s", [BIG])
        return {row[0] for row in cursor.fetchall()}


def explain(sql: str) -> tuple[float, list[str]]:
    """(execution ms, plan lines) of one statement, run again under EXPLAIN ANALYZE."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql)
        lines = [row[0] for row in cursor.fetchall()]
    ms = next((float(line.split(":")[1].split()[0]) for line in lines if line.startswith("Execution Time")), 0.0)
    return ms, [line for line in lines if not line.startswith(("Planning Time", "Execution Time"))]


def whole_tables(plan: list[str], big: set[str]) -> list[str]:
    """The tables of `big` the plan reads whole, or nearly: a sequential scan, or an index scanned
    with no Index Cond that filtered out 10,000 rows or more (a LIMIT stops such a scan early only
    when many rows match)."""
    found = []
    for i, line in enumerate(plan):
        if "never executed" in line:
            continue
        seq = re.search(r"Seq Scan on (\w+)", line)
        if seq and seq.group(1) in big:
            found.append(f"{seq.group(1)} (sequential scan)")
        index = re.search(r"(?:Index Scan|Index Only Scan)(?: Backward)? using (\w+) on (\w+)", line)
        if index and index.group(2) in big:
            depth = len(line) - len(line.lstrip(" ->"))
            details = []
            for following in plan[i + 1:]:
                if "->" in following or len(following) - len(following.lstrip()) < depth:
                    break
                details.append(following)
            removed = sum(int(m.group(1)) for d in details for m in [re.search(r"Rows Removed by Filter: (\d+)", d)] if m)
            if not any("Index Cond" in d for d in details) and removed >= BIG:
                found.append(f"{index.group(2)} (index {index.group(1)} read whole, {removed} rows filtered out)")
    return found


def measure(client, token: str, resource: str, params: dict, repeats: int, big: set[str]) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    path = f"/scim/v2/{resource}"
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params, **headers)
    # read them now: the next request's request_started signal empties the connection's query log
    table = '"directory_person"' if resource == "Users" else '"directory_position"'
    statements = [q["sql"] for q in captured.captured_queries
                  if q["sql"].lstrip().upper().startswith("SELECT") and f"FROM {table}" in q["sql"]]
    if response.status_code != 200:
        return {"error": f"{response.status_code}: {response.content[:300]!r}"}
    total = response.json()["totalResults"]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        client.get(path, params, **headers)
        times.append((time.perf_counter() - t0) * 1000)
    plans, database_ms, read_whole = [], 0.0, []
    for sql in statements:
        ms, plan = explain(sql)
        database_ms += ms
        plans.append({"sql": sql, "execution_ms": ms, "plan": plan})
        read_whole += whole_tables(plan, big)
    return {"best_ms": round(min(times), 2), "median_ms": round(statistics.median(times), 2),
            "total_results": total, "filter_queries_ms (EXPLAIN ANALYZE)": round(database_ms, 2),
            "tables_read_whole": sorted(set(read_whole)), "plans": plans}


# --- run --------------------------------------------------------------------------------------


def run(repeats: int = 5) -> dict:
    factor = national.scale()
    sizes = national.sizes(factor)
    url = os.environ.get("CAREACCESS_SCIM_FILTERS_BENCH_DATABASE_URL", DEFAULT_URL)
    var = str(Path(tempfile.gettempdir()) / "careaccess-scim-filters-bench-var")
    national._recreate_database(url)
    national._setup_django(url, var)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    figures: dict = {"name": "SCIM filters on the national directory", "scale": factor}
    try:
        t0 = time.perf_counter()
        call_command("migrate", verbosity=0)
        figures["migrate_seconds"] = round(time.perf_counter() - t0, 1)
        figures["load"] = national.load(sizes)
        figures["load"]["scim"] = prepare(sizes["people"])
        token = interop_bench.scim_token()
        big = _big_tables()
        client = Client(HTTP_HOST="127.0.0.1")
        results, plans = {}, {}
        for resource, label, params in forms(sizes["people"], sizes["positions"], sizes["organisations"]):
            measured = measure(client, token, resource, params, repeats, big)
            key = f"{resource}: {label}"
            plans[key] = {"params": params, **{k: measured.pop(k) for k in ("plans", "tables_read_whole") if k in measured}}
            results[key] = measured
        figures["filters"] = results
        figures["forms reading a table of 10,000 rows or more whole"] = sorted(
            key for key, plan in plans.items() if plan.get("tables_read_whole"))
        figures["slowest median_ms"] = max((r.get("median_ms", 0) for r in results.values()), default=0)
        figures["plans"] = plans
    finally:
        connection.close()
        if os.environ.get("CAREACCESS_SCIM_FILTERS_BENCH_KEEP") != "1":
            _drop(url)
    return figures


def _drop(url: str) -> None:
    import psycopg

    parsed = urllib.parse.urlparse(url)
    name = parsed.path.lstrip("/")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

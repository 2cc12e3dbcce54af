"""SCIM and FHIR lookups on a national-size directory in PostgreSQL (issue 8, speed).

    .venv/bin/python -m careaccess.interop.bench                 # 1,000,000 people
    BENCH_SCALE=0.01 .venv/bin/python -m careaccess.interop.bench   # 10,000 people

Recreates the scratch database $CAREACCESS_SCIM_BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/careaccess_scim_bench — dropped and made again), bulk-loads
`people` people set-based (one position each in 1,000 positions over 200 organisations; one in
ten provisioned through SCIM, so with a `ScimUser` userName), then times through the whole Django
stack in-process (middleware, token and scope check, query, rendering, read log):

- `GET /scim/v2/Users?filter=userName eq "..."` for SCIM-provisioned userNames and for user ids
  (people never provisioned by SCIM); target p99 < 20 ms;
- `GET /fhir/R4/Practitioner?identifier=https://fhir.nhs.uk/Id/sds-user-id|...`.

Returns a dict of figures. Not a test.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/careaccess_scim_bench"


def _recreate(url: str) -> None:
    import psycopg

    parsed = urllib.parse.urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.replace("_", "").isalnum() or "bench" not in name:
        raise SystemExit(f"refusing to recreate a database named {name!r}")
    with psycopg.connect(parsed._replace(path="/postgres").geturl(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _load(people: int) -> dict:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("""
            INSERT INTO directory_organisation (code, name, short_name, kind, oversees_descendants, cqc_number,
                has_service_desk, status, created_at, updated_at)
            SELECT 'B' || lpad(g::text, 5, '0'), 'Practice ' || g, '', 'gp_practice', false, '', false, 'active', now(), now()
            FROM generate_series(1, 200) g""", [])
        cursor.execute("""
            INSERT INTO directory_position (organisation_id, name, assignable_by_sponsors, status, created_at, updated_at)
            SELECT o.id, 'Position ' || g, false, 'active', now(), now()
            FROM generate_series(1, 1000) g JOIN directory_organisation o ON o.code = 'B' || lpad((1 + g %% 200)::text, 5, '0')""", [])
        cursor.execute("""
            INSERT INTO directory_person (uid, title, given_name, family_name, ni_number, email, phone, status, created_at, updated_at)
            SELECT (100000000000 + g)::text, '', 'Given' || g, 'Family' || (g %% 5000), '',
                   'person' || g || '@example.nhs.uk', '', 'active', now(), now()
            FROM generate_series(1, %s) g""", [people])
        cursor.execute("""
            INSERT INTO directory_assignment (person_id, position_id, starts_on, state, created_at, updated_at)
            SELECT p.id, (SELECT min(id) FROM directory_position) + (p.id %% 1000), DATE '2020-01-01', 'active', now(), now()
            FROM directory_person p""", [])
        cursor.execute("""
            INSERT INTO interop_scimuser (person_id, user_name, user_name_key, external_id, updated_at)
            SELECT p.id, 'User.' || p.uid || '@Example.nhs.uk', 'user.' || p.uid || '@example.nhs.uk', '', now()
            FROM directory_person p WHERE p.id %% 10 = 0""", [])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"load_seconds": round(time.perf_counter() - started, 1)}


def _percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def run(people: int = 1_000_000, requests: int = 2000) -> dict:
    url = os.environ.get("CAREACCESS_SCIM_BENCH_DATABASE_URL", DEFAULT_URL)
    _recreate(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("CAREACCESS_VAR", str(Path(tempfile.gettempdir()) / "careaccess-scim-bench-var"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from careaccess.core import tokens
    from careaccess.directory import testing
    from careaccess.directory.models import Person
    from careaccess.interop import access

    call_command("migrate", verbosity=0)
    figures = {"people": people, **_load(people)}
    testing.staff_catalogue()
    auditor = testing.staff(testing.organisation("QWO", kind="icb", oversees_descendants=True), "auditor",
                            given_name="Bench", family_name="Auditor")
    token, secret = tokens.create_token(testing.SYSTEM, "scim bench", person=Person.objects.get(pk=auditor.person_id))
    access.set_scopes(testing.SYSTEM, token.prefix, ["scim.read", "fhir.read"])
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {secret}")
    rng = random.Random(8)

    def timed(make_path) -> dict:
        samples = []
        for _ in range(requests):
            path, params, expect = make_path()
            started = time.perf_counter()
            response = client.get(path, params)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content
            assert expect in response.content, response.content[:300]
        return _percentiles(samples)

    def provisioned():
        uid = str(100000000000 + 10 * rng.randint(1, people // 10))
        return "/scim/v2/Users", {"filter": f'userName eq "user.{uid}@example.nhs.uk"'}, b'"totalResults": 1'

    def by_uid():
        uid = str(100000000000 + 10 * rng.randint(0, people // 10 - 1) + rng.randint(1, 9))
        return "/scim/v2/Users", {"filter": f'userName eq "{uid}"'}, b'"totalResults": 1'

    def fhir():
        uid = str(100000000000 + rng.randint(1, people))
        return "/fhir/R4/Practitioner", {"identifier": f"https://fhir.nhs.uk/Id/sds-user-id|{uid}"}, b'"total": 1'

    for _ in range(50):  # warm the connection and caches
        client.get(*provisioned()[:2])
    figures["scim userName eq (SCIM-provisioned)"] = timed(provisioned)
    figures["scim userName eq (user id)"] = timed(by_uid)
    figures["fhir Practitioner?identifier"] = timed(fhir)
    figures["target"] = "SCIM userName eq p99 < 20 ms"
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(people=int(1_000_000 * float(os.environ.get("BENCH_SCALE", "1") or 1))), indent=2))

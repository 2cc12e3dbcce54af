"""Audit ledger figures: audited appends/s, verify entries/s, proof times on a 10,000,000-entry ledger.

    .venv/bin/python -m benchmarks.audit_bench                # PostgreSQL scratch DB + SQLite file
    .venv/bin/python -m benchmarks.audit_bench --proof-size 1000000   # smaller, quicker

`run()` creates the scratch PostgreSQL database `careaccess_bench_audit` (dropped at the end) on
the server of $CAREACCESS_BENCH_PG (default postgres://postgres@127.0.0.1:5432), and a temporary
SQLite file, and in a child process per database:

1. times `appends` audited appends through `ledger.record()`, each in its own transaction;
2. fills the ledger in bulk (leaf and node hashes computed in Python exactly as `record()` does,
   written with COPY on PostgreSQL / executemany on SQLite) to `verify_size` entries, signs a
   checkpoint and times `careaccess audit verify` (with and without the node comparison);
3. (PostgreSQL) fills on to `proof_size` entries, signs a checkpoint and times inclusion proofs of
   random entries (entry read + one node query + self-check) and a consistency proof.

Figures are returned as a dict (and printed as JSON by the command line). Not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PG_BASE = os.environ.get("CAREACCESS_BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PG_DB = "careaccess_bench_audit"


# --- the child: one database ------------------------------------------------------------------


def _child(appends: int, verify_size: int, proof_size: int, proofs_n: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from careaccess.core.audit import checkpoints, ledger, proofs
    from careaccess.core.audit import verify as v
    from careaccess.core.context import Actor

    call_command("migrate", "audit", verbosity=0)
    vendor = connection.vendor
    out: dict = {"database": vendor}

    actor = Actor(kind="person", label="Bench Agent", person_uid="100000000001", position_label="RA agent, Y001")
    started = time.perf_counter()
    cpu = time.process_time()
    for i in range(appends):
        with transaction.atomic():
            ledger.record(
                "account.suspended",
                actor=actor,
                target_type="account",
                target_id=i,
                before={"state": "active"},
                after={"state": "suspended"},
                person_uid="100000000002",
                organisation_code="Y001",
                reason="bench",
            )
    seconds = time.perf_counter() - started
    out["appends"] = appends
    out["appends_per_second"] = round(appends / seconds, 1)
    out["append_cpu_ms_in_app"] = round((time.process_time() - cpu) / appends * 1000, 3)

    if vendor == "postgresql":
        _drop_secondary_indexes(connection)
    started = time.perf_counter()
    _populate(verify_size)
    out["bulk_fill_entries_per_second"] = round((verify_size - appends) / (time.perf_counter() - started), 1)
    checkpoints.make_checkpoint()
    for nodes in (True, False):
        cpu = time.process_time()
        result = v.verify(check_nodes=nodes)
        cpu = time.process_time() - cpu
        assert result.ok, result.problem
        key = "verify_entries_per_second" + ("" if nodes else "_without_nodes")
        out[key] = round(result.entries_per_second, 1)
        # This process's CPU only (on a shared machine wall time varies with the neighbours).
        out[key.replace("per_second", "per_cpu_second_of_verifier")] = round(result.size / cpu, 1)
    out["verify_size"] = result.size

    if proof_size > verify_size:
        started = time.perf_counter()
        _populate(proof_size)
        out["bulk_fill_to_proof_size_seconds"] = round(time.perf_counter() - started, 1)
    old = checkpoints.latest_checkpoint()
    cp = checkpoints.make_checkpoint()
    out["proof_tree_size"] = cp.tree_size
    rng = random.Random(7)
    times = []
    for _ in range(proofs_n):
        index = rng.randrange(cp.tree_size)
        t = time.perf_counter()
        doc = proofs.inclusion(index, checkpoint_id=cp.id)
        times.append(time.perf_counter() - t)
        assert doc["leaf_index"] == index
    times.sort()
    out["inclusion_proof_ms_median"] = round(statistics.median(times) * 1000, 3)
    out["inclusion_proof_ms_p95"] = round(times[int(len(times) * 0.95) - 1] * 1000, 3)
    out["inclusion_proof_path_length"] = len(doc["audit_path"])
    t = time.perf_counter()
    doc = proofs.consistency(old.id, cp.id)
    out["consistency_proof_ms"] = round((time.perf_counter() - t) * 1000, 3)
    out["consistency_proof_length"] = len(doc["proof"])
    return out


def _drop_secondary_indexes(connection) -> None:
    """Scratch database only: the bulk fill goes faster with just the primary keys."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'audit_entry' AND indexname NOT LIKE '%%pkey'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


def _populate(target: int, batch: int = 50_000) -> None:
    """Append entries up to `target` in bulk, hashing exactly as ledger.record() does."""
    from django.db import connection, transaction

    from careaccess.core.audit import merkle
    from careaccess.core.audit.ledger import LEAF_FIELDS, format_time, leaf_bytes, node_key
    from careaccess.core.audit.models import Head

    head = Head.objects.get(id=1)
    frontier = merkle.Frontier.from_list(head.size, [bytes.fromhex(h) for h in head.frontier.split(",") if h])
    prev = head.last_hash
    base = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    columns = [*LEAF_FIELDS, "leaf_hash"]
    q = connection.ops.quote_name
    i = head.size
    while i < target:
        end = min(target, i + batch)
        rows, nodes = [], []
        for j in range(i, end):
            when = base + dt.timedelta(milliseconds=j)
            values = {
                "index": j,
                "recorded_at": format_time(when),
                "actor_kind": "person",
                "actor": "Bench Agent",
                "actor_uid": "100000000001",
                "actor_position": "RA agent, Y001",
                "action": "account.suspended",
                "target_type": "account",
                "target_id": str(j),
                "person_uid": "100000000002",
                "organisation_code": "Y001",
                "access_request": None,
                "request_id": None,
                "reason": "bulk",
                "before": '{"state":"active"}',
                "after": '{"state":"suspended"}',
                "prev_hash": prev,
            }
            leaf = merkle.leaf_hash(leaf_bytes(values))
            for level, idx, h in frontier.append(leaf):
                nodes.append((node_key(level, idx), h.hex()))
            prev = leaf.hex()
            values["recorded_at"] = when
            values["leaf_hash"] = prev
            rows.append([values[c] for c in columns])
        with transaction.atomic():
            if connection.vendor == "postgresql":
                connection.ensure_connection()
                raw = connection.connection
                with raw.cursor() as cur:
                    with cur.copy(f"COPY audit_entry ({', '.join(q(c) for c in columns)}) FROM STDIN") as copy:
                        for r in rows:
                            copy.write_row(r)
                    with cur.copy("COPY audit_node (key, hash) FROM STDIN") as copy:
                        for r in nodes:
                            copy.write_row(r)
            else:
                adapt = connection.ops.adapt_datetimefield_value
                at = columns.index("recorded_at")
                for r in rows:
                    r[at] = adapt(r[at])
                with connection.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO audit_entry ({', '.join(q(c) for c in columns)}) "
                        f"VALUES ({', '.join(['%s'] * len(columns))})",
                        rows,
                    )
                    cur.executemany(f"INSERT INTO audit_node ({q('key')}, hash) VALUES (%s, %s)", nodes)
            Head.objects.filter(id=1).update(
                size=frontier.size, last_hash=prev, frontier=",".join(h.hex() for h in frontier.to_list())
            )
        i = end


# --- the parent: scratch databases, one child each ------------------------------------------


def _psql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _run_child(env: dict, args: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.audit_bench", "--child", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    if proc.returncode:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(
    appends: int = 2000,
    verify_size: int = 1_000_000,
    proof_size: int = 10_000_000,
    proofs_n: int = 200,
    sqlite: bool = True,
    sqlite_verify_size: int = 300_000,
) -> dict:
    figures: dict = {}
    var = tempfile.mkdtemp(prefix="careaccess-audit-bench-var-")
    _psql(f"DROP DATABASE IF EXISTS {PG_DB}")
    _psql(f"CREATE DATABASE {PG_DB}")
    try:
        figures["postgresql"] = _run_child(
            {"DATABASE_URL": f"{PG_BASE}/{PG_DB}", "CAREACCESS_VAR": var},
            [str(appends), str(verify_size), str(proof_size), str(proofs_n)],
        )
    finally:
        _psql(f"DROP DATABASE IF EXISTS {PG_DB}")
    if sqlite:
        with tempfile.TemporaryDirectory(prefix="careaccess-audit-bench-sqlite-") as tmp:
            env = {"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "CAREACCESS_VAR": var}
            figures["sqlite"] = _run_child(
                env, [str(appends), str(sqlite_verify_size), str(sqlite_verify_size), str(proofs_n)]
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, type=int, metavar=("APPENDS", "VERIFY", "PROOF", "PROOFS"))
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--verify-size", type=int, default=1_000_000)
    parser.add_argument("--proof-size", type=int, default=10_000_000)
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    print(
        json.dumps(
            run(args.appends, args.verify_size, args.proof_size, args.proofs, sqlite=not args.no_sqlite), indent=2
        )
    )


if __name__ == "__main__":
    main()

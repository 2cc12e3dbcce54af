"""Audit ledger figures: audited appends/s, verify entries/s, proof times on a 10,000,000-entry ledger.

    .venv/bin/python -m benchmarks.audit_bench                # PostgreSQL scratch DB + SQLite file
    .venv/bin/python -m benchmarks.audit_bench --proof-size 1000000   # smaller, quicker

`run()` creates the scratch PostgreSQL database `careaccess_bench_audit` (dropped at the end) on
the server of $CAREACCESS_BENCH_PG (default postgres://postgres@127.0.0.1:5432), and a temporary
SQLite file, and in a child process per database:

1. times `appends` audited appends through `ledger.record()`, each in its own transaction, from
   one client (on PostgreSQL they are written pending: placing that backlog is timed apart, as
   `sequencing_entries_per_second`); then, for `seconds` each, `clients` processes at once doing
   (a) the same minimal audited transaction and (b) a real audited service transaction
   (`directory.services.update_person`: lock the person, clean, authorise, save, record), while
   on PostgreSQL one more process places pending entries every 0.5 s as `careaccess worker` does
   (sequencing.py); then checks the ledger is one valid chain;
2. fills the ledger in bulk (leaf and node hashes computed in Python exactly as `record()` does,
   written with COPY on PostgreSQL / executemany on SQLite) to `verify_size` entries, signs a
   checkpoint and times `careaccess audit verify` (with and without the node comparison), with the
   CPU it took in its processes and, on PostgreSQL, in their backends (read from /proc);
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


def _child(appends: int, verify_size: int, proof_size: int, proofs_n: int, clients: int, seconds: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from careaccess.core.audit import checkpoints, ledger, proofs, sequencing
    from careaccess.core.audit import verify as v
    from careaccess.core.context import Actor

    call_command("migrate", verbosity=0)
    vendor = connection.vendor
    out: dict = {"database": vendor, "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}

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
    elapsed = time.perf_counter() - started
    out["appends"] = appends
    out["appends_per_second"] = round(appends / elapsed, 1)
    out["append_cpu_ms_in_app"] = round((time.process_time() - cpu) / appends * 1000, 3)
    if vendor == "postgresql":
        # The single client's appends are pending: sequencing them is the integrator's share.
        started = time.perf_counter()
        placed = sequencing.sequence()
        out["sequencing_entries_per_second"] = round(placed / (time.perf_counter() - started), 1)
    for mode in ("record", "service"):
        out[f"concurrent_{mode}"] = _concurrent(mode, clients, seconds)
    result = v.verify()
    assert result.ok, result.problem
    out["size_after_concurrent_appends_verified"] = result.size

    if vendor == "postgresql":
        _drop_secondary_indexes(connection)
    started = time.perf_counter()
    _populate(verify_size)
    out["bulk_fill_entries_per_second"] = round((verify_size - appends) / (time.perf_counter() - started), 1)
    checkpoints.make_checkpoint()
    for nodes in (True, False):
        with _BackendCpu() as server:
            cpu = _own_and_children_cpu()
            load = os.getloadavg()
            result = v.verify(check_nodes=nodes)
            cpu = _own_and_children_cpu() - cpu
        assert result.ok, result.problem
        key = "verify_entries_per_second" + ("" if nodes else "_without_nodes")
        out[key] = round(result.entries_per_second, 1)
        # CPU of the verifying processes (this one and its workers) and of their database
        # backends: on a shared machine wall time varies with the neighbours.
        out[key.replace("per_second", "per_cpu_second_of_verifiers")] = round(result.size / cpu, 1)
        if vendor == "postgresql":
            out[key.replace("per_second", "per_cpu_second_of_verifiers_and_server")] = round(
                result.size / (cpu + server.seconds), 1)
        out[key.replace("entries_per_second", "load_average_before")] = [round(x, 2) for x in load]
    out["verify_size"] = result.size
    out["verify_workers"] = result.workers

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


def _own_and_children_cpu() -> float:
    """CPU seconds of this process and of its children that have ended (verify's workers)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class _BackendCpu:
    """PostgreSQL: CPU seconds used by the other backends of this database while in the block,
    read from /proc every 20 ms by a thread (the server runs on this machine). 0 on SQLite."""

    def __enter__(self):
        import threading

        from django.db import connection

        self.seconds = 0.0
        self.name = connection.settings_dict["NAME"] if connection.vendor == "postgresql" else None
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        if self.name:
            self.thread.start()
            time.sleep(0.1)
        return self

    def __exit__(self, *exc):
        if self.name:
            time.sleep(0.05)
            self.stopping.set()
            self.thread.join()
            self.seconds = sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())

    def _sample(self) -> None:
        import psycopg

        tick = os.sysconf("SC_CLK_TCK")
        with psycopg.connect(f"{PG_BASE}/{self.name}", autocommit=True) as conn:
            me = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            started = True
            while not self.stopping.is_set():
                pids = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                                    [self.name, me]).fetchall()
                for (pid,) in pids:
                    try:
                        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    except OSError:
                        continue
                    cpu = (int(fields[11]) + int(fields[12])) / tick
                    if started:
                        self.first[pid] = cpu
                    self.last[pid] = cpu
                started = False
                self.stopping.wait(0.02)


def _concurrent(mode: str, clients: int, seconds: float) -> dict:
    """`clients` writer processes for `seconds` from the same instant, plus one sequencer."""
    with tempfile.TemporaryDirectory(prefix="careaccess-audit-bench-") as tmp:
        return _run_concurrent(mode, clients, seconds, Path(tmp) / "stop")


def _run_concurrent(mode: str, clients: int, seconds: float, stop: Path) -> dict:
    here = Path(__file__).resolve().parent.parent

    def spawn(*args):
        return subprocess.Popen([sys.executable, "-m", "benchmarks.audit_bench", *args], cwd=here,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    from django.db import connection

    sequencer = spawn("--sequencer", str(stop)) if connection.vendor == "postgresql" else None
    writers = [spawn("--writer", mode, str(w), str(seconds)) for w in range(clients)]
    for proc in writers:  # every client set up and connected before the clock starts
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"benchmark writer failed:\n{proc.communicate()[1]}")
    start_at = time.time() + 0.2
    results = []
    for proc in writers:
        proc.stdin.write(f"{start_at}\n")
        proc.stdin.flush()
    for proc in writers:
        stdout, stderr = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"benchmark writer failed:\n{stderr}")
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    stop.touch()
    done = sum(r["done"] for r in results)
    out = {
        "clients": clients,
        "audited_changes_per_second": round(done / seconds, 1),
        "client_cpu_ms_per_change": round(sum(r["cpu"] for r in results) / done * 1000, 3),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    if sequencer is not None:
        stdout, stderr = sequencer.communicate()
        if sequencer.returncode:
            raise RuntimeError(f"benchmark sequencer failed:\n{stderr}")
        out["sequencer"] = json.loads(stdout.strip().splitlines()[-1])
    return out


def _writer(mode: str, number: int, seconds: float) -> dict:
    """One client: says "ready" once set up, reads the start instant, then makes audited
    transactions back to back from it for `seconds`."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    import django

    django.setup()
    from django.db import connection, transaction

    from careaccess.core.audit import ledger
    from careaccess.core.context import Actor
    from careaccess.directory import services

    actor = Actor.system(f"bench client {number}")
    people = [services.create_person(actor, given_name="Bench", family_name=f"Client{number}-{k}")
              for k in range(20)] if mode == "service" else []
    connection.ensure_connection()
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    while time.time() < start_at:
        time.sleep(0.005)
    done, cpu, end = 0, time.process_time(), start_at + seconds
    while time.time() < end:
        if mode == "service":  # each client its own people: no row contention but the ledger's
            services.update_person(actor, people[done % len(people)], phone=f"0113 496 {done % 10_000:04d}")
        else:
            with transaction.atomic():
                ledger.record("bench.appended", actor=actor, target_type="bench", target_id=done,
                              before={"n": done}, after={"n": done + 1})
        done += 1
    return {"done": done, "cpu": time.process_time() - cpu}


def _sequencer(stop: str, interval: float = 0.5) -> dict:
    """What `careaccess worker` does for the ledger: sequence pending entries, a pass every
    `interval` seconds (the worker's default is 2)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    import django

    django.setup()
    from careaccess.core.audit import sequencing

    placed, passes, cpu = 0, 0, time.process_time()
    while not os.path.exists(stop):
        placed += sequencing.sequence()
        passes += 1
        time.sleep(interval)
    placed += sequencing.sequence()
    cpu = time.process_time() - cpu
    return {"placed": placed, "passes": passes, "cpu_ms_per_entry": round(cpu / placed * 1000, 4) if placed else None}


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
    if connection.vendor == "postgresql":
        # Statistics as autovacuum keeps them on a real ledger (fresh from COPY there are none,
        # and the planner then sorts each batch instead of reading the primary key in order).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE audit_entry")
            cursor.execute("ANALYZE audit_node")


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
    clients: int = 4,
    seconds: int = 10,
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
            [str(appends), str(verify_size), str(proof_size), str(proofs_n), str(clients), str(seconds)],
        )
    finally:
        _psql(f"DROP DATABASE IF EXISTS {PG_DB}")
    if sqlite:
        with tempfile.TemporaryDirectory(prefix="careaccess-audit-bench-sqlite-") as tmp:
            env = {"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "CAREACCESS_VAR": var}
            figures["sqlite"] = _run_child(
                env,
                [str(appends), str(sqlite_verify_size), str(sqlite_verify_size), str(proofs_n), str(clients), str(seconds)],
            )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=6, type=int,
                        metavar=("APPENDS", "VERIFY", "PROOF", "PROOFS", "CLIENTS", "SECONDS"))
    parser.add_argument("--writer", nargs=3, metavar=("MODE", "NUMBER", "SECONDS"))
    parser.add_argument("--sequencer", metavar="STOP_FILE")
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4, help="concurrent client processes")
    parser.add_argument("--seconds", type=int, default=10, help="length of each concurrent run")
    parser.add_argument("--verify-size", type=int, default=1_000_000)
    parser.add_argument("--proof-size", type=int, default=10_000_000)
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(*args.child)))
        return
    if args.writer:
        mode, number, seconds = args.writer
        print(json.dumps(_writer(mode, int(number), float(seconds))))
        return
    if args.sequencer:
        print(json.dumps(_sequencer(args.sequencer)))
        return
    figures = run(args.appends, args.clients, args.seconds, args.verify_size, args.proof_size, args.proofs,
                  sqlite=not args.no_sqlite)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

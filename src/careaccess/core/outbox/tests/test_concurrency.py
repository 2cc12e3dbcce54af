"""Several workers at once never send the same message twice (PostgreSQL: FOR UPDATE SKIP LOCKED).

On SQLite the IMMEDIATE write transaction serialises claims inside one process's database file;
threads sharing one file database would mostly wait on its lock, so this runs on PostgreSQL only.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from careaccess.core.outbox import delivery
from careaccess.core.outbox.models import Message
from careaccess.core.outbox.services import enqueue

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent workers need PostgreSQL (set DATABASE_URL)"
)


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_workers_send_each_message_exactly_once(smtp_settings, smtp_server, workers):
    with transaction.atomic():
        queued = [enqueue(to=f"user{i}@example.test", subject=f"notice {i}", body="...") for i in range(200)]

    barrier = threading.Barrier(workers)
    results: dict[str, delivery.BatchResult] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            barrier.wait()
            results[name] = delivery.deliver_due(name, batch_size=7)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(f"worker-{n}",)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors

    counts = smtp_server.recorder.message_ids()
    assert counts == {m.message_id: 1 for m in queued}  # every message once, none twice
    assert sum(r.sent for r in results.values()) == 200
    assert sum(r.lost_lease for r in results.values()) == 0
    assert Message.objects.filter(state=Message.State.SENT).count() == 200
    # the work was actually shared
    assert sum(1 for r in results.values() if r.sent) >= 2


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db
def test_claims_skip_rows_another_worker_has_locked(smtp_settings):
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic():
        enqueue(to="user@example.test", subject="x", body="y")
    with CaptureQueriesContext(connection) as queries:
        delivery.claim("w1", 10)
    assert any("FOR UPDATE SKIP LOCKED" in q["sql"] for q in queries.captured_queries)


def _database_url() -> str:
    """The test database (the one this test writes) as a DATABASE_URL for child processes."""
    from urllib.parse import quote

    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{s['NAME']}"


@pytest.mark.postgres
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_worker_processes_share_the_outbox_and_stop_on_sigterm(smtp_settings, smtp_server):
    """Real `careaccess worker` processes: each message once, and SIGTERM ends them cleanly."""
    import os
    import signal
    import subprocess
    import sys
    import time

    with transaction.atomic():
        queued = [enqueue(to=f"user{i}@example.test", subject=f"notice {i}", body="...") for i in range(300)]

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": smtp_server.host,
        "EMAIL_PORT": str(smtp_server.port),
        "EMAIL_USE_TLS": "0",
        "EMAIL_USE_SSL": "0",
    }
    command = [sys.executable, "-m", "careaccess.cli", "worker", "--interval", "0.1", "--no-jobs", "--batch-size", "10"]
    workers = [
        subprocess.Popen([*command, "--worker-id", f"proc-{n}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    try:
        deadline = time.monotonic() + 60
        # Waiting for the workers to do the work (not for any backoff): poll the outbox.
        while (
            Message.objects.filter(state=Message.State.QUEUED).exists()
            and time.monotonic() < deadline
            and all(p.poll() is None for p in workers)
        ):
            time.sleep(0.05)
    finally:
        for process in workers:
            process.send_signal(signal.SIGTERM)
        outputs = [process.communicate(timeout=30) for process in workers]

    assert [p.returncode for p in workers] == [0, 0, 0], outputs
    for stdout, _stderr in outputs:
        assert "stopped" in stdout
    assert smtp_server.recorder.message_ids() == {m.message_id: 1 for m in queued}
    assert Message.objects.filter(state=Message.State.SENT).count() == 300
    claimers = {c.split("#")[0] for c in Message.objects.values_list("claimed_by", flat=True)}
    assert len(claimers) >= 2, claimers

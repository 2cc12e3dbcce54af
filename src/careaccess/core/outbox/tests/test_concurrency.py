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

"""Outbox delivery rate: messages per second from the outbox to a loopback SMTP server (aiosmtpd).

    .venv/bin/python -m benchmarks.outbox_bench                  # SQLite (a WAL file in a temp dir)
    DATABASE_URL=postgres://... .venv/bin/python -m benchmarks.outbox_bench   # PostgreSQL

`run()` builds a throwaway database (Django's test database: a temporary SQLite file, or
`test_<name>` on PostgreSQL), queues `messages` notifications, starts an aiosmtpd server on
127.0.0.1, and times the worker's delivery (claim, SMTP send, mark sent) until the outbox is
empty. It checks that every Message-ID arrived exactly once. Target: 200 messages/s.
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    os.environ.setdefault("CAREACCESS_VAR", str(Path(tempfile.gettempdir()) / "careaccess-bench-var"))
    import django

    django.setup()


class _Counter:
    def __init__(self):
        self.lock = threading.Lock()
        self.ids: Counter = Counter()
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        message_id = None
        for line in envelope.content.split(b"\r\n"):
            if not line:
                break
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
        with self.lock:
            self.ids[message_id] += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(messages: int = 2000, workers: int = 1, batch_size: int = 100) -> dict:
    _setup_django()
    from aiosmtpd.controller import Controller
    from django.db import connection, connections, transaction
    from django.test.utils import override_settings

    from careaccess.core.outbox import delivery
    from careaccess.core.outbox.models import Message
    from careaccess.core.outbox.services import enqueue

    vendor = connection.vendor
    if vendor == "sqlite" and workers > 1:
        raise ValueError("several concurrent workers need PostgreSQL; on SQLite use workers=1")
    tmp = tempfile.TemporaryDirectory(prefix="careaccess-outbox-bench-")
    if vendor == "sqlite":
        # A real file with WAL (as deployed), not the in-memory test database.
        connection.settings_dict.setdefault("TEST", {})["NAME"] = str(Path(tmp.name) / "bench.sqlite3")
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)

    counter = _Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=_free_port(), ready_timeout=10)
    controller.start()
    counter.connections = 0
    try:
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=controller.port,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
            EMAIL_USE_TLS=False,
            EMAIL_USE_SSL=False,
            EMAIL_TIMEOUT=10,
        ):
            started = time.perf_counter()
            with transaction.atomic():
                for i in range(messages):
                    enqueue(
                        to=[f"user{i}@example.test"],
                        subject=f"Your careaccess account {i}",
                        body="Your username is ...\n\nThis is an automatic message from careaccess.\n",
                    )
            enqueue_seconds = time.perf_counter() - started

            results: list = []
            errors: list = []

            def work(name: str) -> None:
                try:
                    results.append(delivery.deliver_due(name, batch_size=batch_size))
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)
                finally:
                    if threading.current_thread() is not threading.main_thread():
                        connections.close_all()

            started = time.perf_counter()
            if workers == 1:
                work("bench-1")
            else:
                threads = [threading.Thread(target=work, args=(f"bench-{n}",)) for n in range(workers)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
            seconds = time.perf_counter() - started
            if errors:
                raise errors[0]

            sent_rows = Message.objects.filter(state=Message.State.SENT).count()
            duplicates = sum(1 for count in counter.ids.values() if count > 1)
            return {
                "name": "outbox delivery to loopback SMTP",
                "database": vendor,
                "messages": messages,
                "workers": workers,
                "batch_size": batch_size,
                "seconds": round(seconds, 3),
                "messages_per_second": round(messages / seconds, 1),
                "target_messages_per_second": 200,
                "enqueue_per_second": round(messages / enqueue_seconds, 1),
                "smtp_connections": counter.connections,
                "received": sum(counter.ids.values()),
                "duplicates": duplicates,
                "all_marked_sent": sent_rows == messages,
            }
    finally:
        controller.stop()
        connection.creation.destroy_test_db(old_name, verbosity=0)
        tmp.cleanup()


if __name__ == "__main__":
    import json
    import sys

    args = [int(a) for a in sys.argv[1:]]
    print(json.dumps(run(*args), indent=2))

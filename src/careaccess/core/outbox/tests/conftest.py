"""A real SMTP server on loopback (aiosmtpd) for the outbox tests."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections import Counter

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Recorder:
    """aiosmtpd handler: keeps what it receives; can refuse messages or recipients with a 550."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.connections = 0
        self.refuse_all: str | None = None  # e.g. "550 5.7.1 refused"
        self.refuse_recipients: set[str] = set()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_recipients:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_all:
            return self.refuse_all
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(parsed)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def message_ids(self) -> Counter:
        with self.lock:
            return Counter(m["Message-ID"] for m in self.messages)

    def reset_counts(self) -> None:
        with self.lock:
            self.connections = 0


class SMTPServer:
    """Start/stop an aiosmtpd server on a fixed loopback port (so it can go down and come back)."""

    def __init__(self, port: int | None = None):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.recorder = Recorder()
        self.controller: Controller | None = None

    def start(self) -> None:
        assert self.controller is None
        self.controller = Controller(self.recorder, hostname=self.host, port=self.port, ready_timeout=10)
        self.controller.start()
        self.recorder.reset_counts()  # the controller's own start-up probe is not a delivery

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp_down():
    """A loopback port where nothing listens yet; `.start()` brings the server up on it."""
    server = SMTPServer()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(smtp_down):
    smtp_down.start()
    return smtp_down


@pytest.fixture
def smtp_settings(settings, smtp_down):
    """Point Django's mail at the loopback server (whether or not it is up)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_down.host
    settings.EMAIL_PORT = smtp_down.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.CAREACCESS_OUTBOX_RETRY_SECONDS = 30
    settings.CAREACCESS_OUTBOX_RETRY_MAX_SECONDS = 3600
    settings.CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS = 8
    settings.CAREACCESS_OUTBOX_LEASE_SECONDS = 120
    settings.CAREACCESS_RA_EMAIL = "ra-team@careaccess.test"
    return settings

"""Messages of a kind with a registered sender (e.g. an HTTP POST) are delivered by it, with the
outbox's retries and report, and are not held back by an unreachable mail server."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from careaccess.core.outbox import delivery
from careaccess.core.outbox.models import Message
from careaccess.core.outbox.services import enqueue

pytestmark = pytest.mark.django_db


@pytest.fixture
def sender(monkeypatch):
    calls = []
    state = {"up": False}

    def send(message):
        calls.append(message.id)
        if not state["up"]:
            raise ConnectionRefusedError("nobody listens")

    monkeypatch.setitem(delivery._senders, "test_post", send)
    return calls, state


def test_a_sender_delivers_its_kind_with_retries_while_mail_is_down(clock, smtp_settings, smtp_down, sender):
    calls, state = sender
    with transaction.atomic():
        post = enqueue(to=["https://rp.example/logout"], subject="post", body="{}", kind="test_post")
        mail = enqueue(to=["user@example.test"], subject="mail", body="hello")

    result = delivery.deliver_due("w1")
    assert (result.claimed, result.sent, result.failed) == (2, 0, 2)
    assert calls == [post.id]  # the unreachable mail server did not stop the POST being tried
    stored = Message.objects.get(id=post.id)
    assert stored.attempts == 1 and "ConnectionRefusedError: nobody listens" in stored.last_error

    state["up"] = True
    clock.advance(dt.timedelta(seconds=30))
    result = delivery.deliver_due("w1")
    assert (result.sent, result.failed) == (1, 1)  # the POST went; the mail waits for its server
    assert Message.objects.get(id=post.id).state == Message.State.SENT
    assert Message.objects.get(id=mail.id).state == Message.State.QUEUED

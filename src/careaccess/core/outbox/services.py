"""Putting notifications in the outbox. Delivery is the worker's job (delivery.py)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import connection

from careaccess.core import clock

from .models import Message


def enqueue(*, to: list[str] | str, subject: str, body: str, kind: str = "notification", cause: str = "") -> Message:
    """Queue an email in the caller's transaction: it is delivered if and only if the change commits."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox messages are written inside the transaction of the change that causes them")
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    message_uuid = uuid.uuid4()
    now = clock.now()
    return Message.objects.create(
        id=message_uuid,
        message_id=f"<{message_uuid.hex}@{settings.CAREACCESS_MAIL_DOMAIN}>",
        to=recipients,
        subject=subject,
        body=body,
        kind=kind,
        cause=cause,
        created_at=now,
        next_attempt_at=now,
    )

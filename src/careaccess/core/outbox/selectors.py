"""Reading the outbox (for `careaccess outbox list` and staff pages)."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from careaccess.core.errors import InvalidInput, NotFound

from . import delivery
from .models import Message

STATES = ("queued", "sent", "failing")


def failing_q() -> Q:
    """Still queued after at least CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS failed attempts."""
    return Q(state=Message.State.QUEUED, attempts__gte=delivery.report_after_attempts())


def is_failing(message: Message) -> bool:
    return message.state == Message.State.QUEUED and message.attempts >= delivery.report_after_attempts()


def messages(state: str | None = None, *, kind: str | None = None) -> QuerySet[Message]:
    """Messages in a state: "queued" (all waiting, failing included), "sent", or "failing".

    Waiting messages come in the order they will be tried; sent ones newest first.
    """
    qs = Message.objects.all()
    if kind:
        qs = qs.filter(kind=kind)
    if state is None:
        return qs.order_by("-created_at")
    if state == "queued":
        return qs.filter(state=Message.State.QUEUED).order_by("next_attempt_at", "created_at")
    if state == "failing":
        return qs.filter(failing_q()).order_by("next_attempt_at", "created_at")
    if state == "sent":
        return qs.filter(state=Message.State.SENT).order_by("-sent_at")
    raise InvalidInput(f"unknown state {state!r}: use one of {', '.join(STATES)}", field="state")


def get_message(reference: str) -> Message:
    """A message by its id (a full UUID or a unique prefix of at least 6 hex digits) or Message-ID."""
    reference = reference.strip()
    if not reference:
        raise InvalidInput("give the message's id (from `careaccess outbox list`) or its Message-ID", field="id")
    if reference.startswith("<") or "@" in reference:
        wanted = reference if reference.startswith("<") else f"<{reference}>"
        found = Message.objects.filter(message_id=wanted).first()
        if found is None:
            raise NotFound(f"no outbox message has Message-ID {wanted}")
        return found
    try:
        return Message.objects.get(id=uuid.UUID(reference))
    except ValueError:
        pass
    except Message.DoesNotExist:
        raise NotFound(f"no outbox message has id {reference}") from None
    prefix = reference.replace("-", "").lower()
    if len(prefix) < 6 or any(c not in "0123456789abcdef" for c in prefix):
        raise InvalidInput(
            f"{reference!r} is not a message id: give the full id or at least its first 6 hex digits", field="id"
        )
    # Every UUID starting with the prefix lies between prefix+0...0 and prefix+f...f, and both
    # SQLite (32 hex digits) and PostgreSQL (uuid) order ids that way: an index range scan.
    low, high = uuid.UUID(prefix.ljust(32, "0")), uuid.UUID(prefix.ljust(32, "f"))
    candidates = list(Message.objects.filter(id__gte=low, id__lte=high)[:2])
    if not candidates:
        raise NotFound(f"no outbox message id starts with {reference}")
    if len(candidates) > 1:
        raise InvalidInput(f"more than one message id starts with {reference}: give more digits", field="id")
    return candidates[0]

"""Putting notifications in the outbox. Delivery is the worker's job (delivery.py)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from careaccess.core import clock

from .models import Message


def _fields(to: list[str] | str, subject: str, body: str, kind: str = "notification", cause: str = "") -> dict:
    """One message's columns but its times: recipients checked, a new id and its stable Message-ID."""
    recipients = [to] if isinstance(to, str) else list(to)
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    message_uuid = uuid.uuid4()
    return {"id": message_uuid, "message_id": f"<{message_uuid.hex}@{settings.CAREACCESS_MAIL_DOMAIN}>",
            "to": recipients, "subject": subject, "body": body, "kind": kind, "cause": cause}


def _in_transaction() -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("outbox messages are written inside the transaction of the change that causes them")


def enqueue(*, to: list[str] | str, subject: str, body: str, kind: str = "notification", cause: str = "") -> Message:
    """Queue an email in the caller's transaction: it is delivered if and only if the change commits."""
    _in_transaction()
    now = clock.now()
    return Message.objects.create(**_fields(to, subject, body, kind, cause), created_at=now, next_attempt_at=now)


def enqueue_many(messages: Iterable[dict]) -> int:
    """Queue many emails in the caller's transaction (the lifecycle sweeps' notices). Each message
    is `enqueue`'s keywords: to, subject, body, kind, cause. On PostgreSQL one INSERT ... SELECT
    from a single JSON parameter per thousand (adapting a value per column and row on the client
    cost most of a sweep's time); elsewhere `bulk_create`. The same rows as `enqueue` either way."""
    _in_transaction()
    now = clock.now()
    rows = [_fields(**message) for message in messages]
    if connection.vendor != "postgresql":
        Message.objects.bulk_create([Message(**r, created_at=now, next_attempt_at=now) for r in rows], batch_size=1000)
        return len(rows)
    sql, params = _insert_from_json(now)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            cursor.execute(sql, [*params, json.dumps(rows[start:start + 1000], default=str)])
    return len(rows)


_GIVEN = ("id", "message_id", "to", "subject", "body", "kind", "cause")


def _insert_from_json(now) -> tuple[str, list]:
    """INSERT INTO outbox_message ... SELECT FROM jsonb_to_recordset(%s): the given columns from the
    JSON, the two times from `now`, every other column its model default (so a column added later
    is filled as `enqueue` fills it)."""
    columns, values, params, record = [], [], [], []
    for field in Message._meta.concrete_fields:
        db_type = field.db_type(connection)
        columns.append(connection.ops.quote_name(field.column))
        if field.name in _GIVEN:
            values.append(f"m.{connection.ops.quote_name(field.column)}")
            record.append(f"{connection.ops.quote_name(field.column)} {db_type}")
        else:
            value = now if field.name in ("created_at", "next_attempt_at") else field.get_default()
            values.append(f"%s::{db_type}")
            params.append(field.get_db_prep_save(value, connection))
    sql = (f"INSERT INTO {Message._meta.db_table} ({', '.join(columns)}) SELECT {', '.join(values)} "
           f"FROM jsonb_to_recordset(%s::jsonb) AS m({', '.join(record)})")
    return sql, params


def sent_retention_days() -> int:
    """How long a sent message is kept (`careaccess outbox list` shows it) before the worker's
    "outbox.prune-sent" job deletes it: careaccess's choice, the sources set none."""
    return int(getattr(settings, "CAREACCESS_OUTBOX_SENT_RETENTION_DAYS", 90))


def prune_sent(*, actor=None) -> int:
    """Delete the messages sent more than `sent_retention_days()` ago, in one statement, with one
    audit entry saying how many and sent before when (none when there was nothing to delete).
    Queued messages are never pruned, however old: nothing undelivered is dropped."""
    from careaccess.core.audit import ledger
    from careaccess.core.context import Actor

    cutoff = clock.now() - dt.timedelta(days=sent_retention_days())
    with transaction.atomic():
        deleted, _ = Message.objects.filter(state=Message.State.SENT, sent_at__lt=cutoff).delete()
        if deleted:
            ledger.record("outbox.pruned", actor=actor or Actor.system("worker"), target_type="outbox.message",
                          target_id=f"sent before {cutoff.isoformat()}",
                          after={"deleted": deleted, "sent_before": cutoff.isoformat()},
                          reason=f"sent messages are kept {sent_retention_days()} days")
    return deleted


def retry_now(reference: str, *, actor=None, reason: str = "") -> Message:
    """Staff force a queued message's next attempt to now (`careaccess outbox retry ID`).

    The attempt count and the failing report are kept: a forced retry is one more attempt, not a
    fresh start. A message a worker is sending right now is left to that worker.
    """
    from careaccess.core.audit import ledger
    from careaccess.core.context import Actor
    from careaccess.core.errors import Conflict

    from .selectors import get_message

    actor = actor or Actor.system("cli")
    message = get_message(reference)
    now = clock.now()
    with transaction.atomic():
        if message.state == Message.State.SENT:
            raise Conflict(f"message {message.id} was already sent at {message.sent_at.isoformat()}; nothing to retry")
        updated = (
            Message.objects.filter(id=message.id, state=Message.State.QUEUED)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .update(next_attempt_at=now)
        )
        if not updated:
            message.refresh_from_db()
            if message.state == Message.State.SENT:
                raise Conflict(f"message {message.id} was sent meanwhile; nothing to retry")
            raise Conflict(
                f"message {message.id} is being sent right now by {message.claimed_by} "
                f"(lease until {message.lease_until.isoformat()}); check again in a moment"
            )
        ledger.record(
            "outbox.retry",
            actor=actor,
            target_type="outbox.message",
            target_id=message.id,
            before={"next_attempt_at": message.next_attempt_at.isoformat(), "attempts": message.attempts},
            after={"next_attempt_at": now.isoformat()},
            reason=reason or "retry forced by staff",
        )
    message.next_attempt_at = now
    return message

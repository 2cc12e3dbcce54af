"""Delivering the outbox: claim due messages, send them, record the outcome.

Guarantees (DESIGN.md "Outbox"):

- A message exists only if the change that caused it committed (`services.enqueue` runs in the
  caller's transaction), so a rolled-back change never sends anything.
- Several workers may run at once. A worker *claims* a batch in one short transaction: the due rows
  are selected `FOR UPDATE SKIP LOCKED` (PostgreSQL; on SQLite the IMMEDIATE write transaction
  already serialises claims and Django leaves the clause out) and a conditional UPDATE, which only
  touches rows whose lease has ended, stamps them with this claim's token and a lease end. No two
  live claims ever hold the same message.
- A message is marked sent only after the mail backend returned success, and only while this claim
  still owns it. A failure records the error, counts the attempt and schedules the next one with
  exponential backoff (CAREACCESS_OUTBOX_RETRY_SECONDS, doubled per attempt, capped at
  CAREACCESS_OUTBOX_RETRY_MAX_SECONDS). Nothing is ever dropped: after
  CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS failures the message is reported once to the RA team
  (CAREACCESS_RA_EMAIL, kind "outbox_failing") and keeps being retried at the capped interval.
- A mail server may take a message for some recipients and refuse others (smtplib reports those
  only in `sendmail`'s answer, which Django's SMTP backend drops). The message is then sent to the
  recipients it took, and the refused ones get a message of their own, failing this attempt and
  retried and reported like any other: nobody is silently dropped and nobody gets it twice.
- At-least-once, never lost: a worker that dies between the SMTP server accepting a message and
  marking it sent leaves the message claimed; when the lease ends another worker sends it again,
  with the same Message-ID header, so mail clients and servers can recognise the duplicate. This
  window (one message per dead worker) is the only way a message is delivered twice.

Messages are emails unless their kind has a sender (`register_sender`): then that sender delivers
them (e.g. an HTTP POST to a relying service) with the same claims, retries, backoff and report.

Time comes from `careaccess.core.clock` so tests move it instead of waiting.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address
from django.db import transaction
from django.db.models import F, Q

from careaccess.core import clock

from .models import Message

log = logging.getLogger(__name__)

FAILING_REPORT_KIND = "outbox_failing"
DEFAULT_BATCH_SIZE = 100
_MAX_ERROR_CHARS = 2000


# --- settings -------------------------------------------------------------------------------------


def retry_seconds() -> int:
    return int(getattr(settings, "CAREACCESS_OUTBOX_RETRY_SECONDS", 30))


def retry_max_seconds() -> int:
    return int(getattr(settings, "CAREACCESS_OUTBOX_RETRY_MAX_SECONDS", 3600))


def report_after_attempts() -> int:
    return int(getattr(settings, "CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS", 8))


def lease_seconds() -> int:
    return int(getattr(settings, "CAREACCESS_OUTBOX_LEASE_SECONDS", 120))


def batch_size_setting() -> int:
    return int(getattr(settings, "CAREACCESS_OUTBOX_BATCH_SIZE", DEFAULT_BATCH_SIZE))


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt (1-based).

    The base delay doubles with each failure up to the cap; once a message has failed often enough
    to be reported as failing it is retried at the capped interval.
    """
    cap = retry_max_seconds()
    if attempts >= report_after_attempts():
        return dt.timedelta(seconds=cap)
    exponent = max(0, attempts - 1)
    # min() before the power would overflow nothing here, but keep the number small anyway.
    seconds = retry_seconds() * (2 ** min(exponent, 32))
    return dt.timedelta(seconds=min(seconds, cap))


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- claiming -------------------------------------------------------------------------------------


def due_q(now: dt.datetime) -> Q:
    """Queued, its next attempt has come, and nobody holds a live lease on it."""
    return Q(state=Message.State.QUEUED, next_attempt_at__lte=now) & (
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    )


@dataclass(frozen=True)
class Claim:
    """A batch of messages one worker holds until `lease_until`; `token` marks its rows."""

    token: str
    lease_until: dt.datetime
    messages: list[Message]


def claim(worker_id: str, limit: int) -> Claim:
    """Take up to `limit` due messages for this worker, oldest due first, in one short transaction."""
    now = clock.now()
    lease_until = now + dt.timedelta(seconds=lease_seconds())
    # The token names the worker (for `careaccess outbox list`) and this one claim, so a worker
    # restarted under the same id never mistakes an older claim's rows for its own.
    token = f"{worker_id[:80]}#{secrets.token_hex(4)}"
    with transaction.atomic():
        ids = list(
            Message.objects.select_for_update(skip_locked=True)
            .filter(due_q(now))
            .order_by("next_attempt_at", "created_at")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return Claim(token, lease_until, [])
        # Conditional: only rows still due and unleased are taken (the row locks above already make
        # this so on PostgreSQL; it is the guard on every database).
        Message.objects.filter(due_q(now), id__in=ids).update(claimed_by=token, lease_until=lease_until)
        messages = list(
            Message.objects.filter(id__in=ids, claimed_by=token).order_by("next_attempt_at", "created_at")
        )
    return Claim(token, lease_until, messages)


def release(claim_token: str, ids: list) -> int:
    """Hand unsent messages back untouched (no attempt counted): due again at once."""
    if not ids:
        return 0
    return Message.objects.filter(id__in=ids, claimed_by=claim_token, state=Message.State.QUEUED).update(
        lease_until=None
    )


# --- outcomes -------------------------------------------------------------------------------------


def mark_sent(message: Message, claim_token: str) -> bool:
    """Record a delivery the backend confirmed, if this claim still owns the message.

    False means the lease ran out and another worker took the message over: it will be sent
    again by that worker (same Message-ID), the at-least-once case.
    """
    updated = Message.objects.filter(id=message.id, state=Message.State.QUEUED, claimed_by=claim_token).update(
        state=Message.State.SENT, sent_at=clock.now(), lease_until=None
    )
    return bool(updated)


def mark_failed(message: Message, claim_token: str, error: str) -> bool:
    """Count a failed attempt, schedule the next, and report the message once it keeps failing."""
    now = clock.now()
    attempts = message.attempts + 1
    with transaction.atomic():
        updated = Message.objects.filter(
            id=message.id, state=Message.State.QUEUED, claimed_by=claim_token
        ).update(
            attempts=F("attempts") + 1,
            last_error=error[:_MAX_ERROR_CHARS],
            next_attempt_at=now + backoff(attempts),
            lease_until=None,
        )
        if not updated:
            return False
        if (
            attempts >= report_after_attempts()
            and message.reported_failing_at is None
            # A report that cannot be delivered is listed as failing but not reported again, or
            # an unreachable RA inbox would breed reports about reports.
            and message.kind != FAILING_REPORT_KIND
        ):
            first = Message.objects.filter(id=message.id, reported_failing_at__isnull=True).update(
                reported_failing_at=now
            )
            if first:
                _report_failing(message, attempts, error, now)
    return True


def _report_failing(message: Message, attempts: int, error: str, now: dt.datetime) -> None:
    from .services import enqueue

    minutes = max(1, retry_max_seconds() // 60)
    body = (
        "A notification could not be delivered and is still waiting in the careaccess outbox.\n\n"
        f"Outbox id:   {message.id}\n"
        f"Message-ID:  {message.message_id}\n"
        f"Kind:        {message.kind}\n"
        f"Cause:       {message.cause or '-'}\n"
        f"To:          {', '.join(message.to)}\n"
        f"Subject:     {message.subject}\n"
        f"Queued at:   {message.created_at.isoformat()}\n"
        f"Attempts:    {attempts}\n"
        f"Last error:  {error[:500]}\n\n"
        f"It has not been dropped: careaccess keeps trying every {minutes} minutes. Check the "
        "recipient (an email address and the mail server, or a relying service's endpoint), then retry at once with\n"
        f"    careaccess outbox retry {message.id}\n"
        "or list every failing message with\n"
        "    careaccess outbox list --state failing\n"
    )
    enqueue(
        to=[settings.CAREACCESS_RA_EMAIL],
        subject=f"Not delivered after {attempts} attempts: {message.subject}"[:300],
        body=body,
        kind=FAILING_REPORT_KIND,
        cause=f"outbox:{message.id}",
    )
    log.warning("outbox message %s reported failing after %s attempts: %s", message.id, attempts, error[:200])


def mark_partly_sent(message: Message, claim_token: str, refused: dict[str, tuple]) -> bool:
    """Record a delivery the mail server took for only some recipients, if this claim still owns
    the message: it is sent to those, and the `refused` ones (smtplib's {address: (code, reply)})
    get a copy of their own that fails this attempt, so it is retried and reported as usual."""
    from .services import enqueue

    refused_to = [to for to in message.to if sanitize_address(to, settings.DEFAULT_CHARSET) in refused] or list(refused)
    error = "the mail server refused " + "; ".join(
        f"{address}: {code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
        for address, (code, reply) in refused.items())
    with transaction.atomic():
        updated = Message.objects.filter(id=message.id, state=Message.State.QUEUED, claimed_by=claim_token).update(
            state=Message.State.SENT, sent_at=clock.now(), lease_until=None,
            to=[to for to in message.to if to not in refused_to])
        if not updated:
            return False
        rest = enqueue(to=refused_to, subject=message.subject, body=message.body, kind=message.kind,
                       cause=message.cause)
        Message.objects.filter(id=rest.id).update(claimed_by=claim_token)
        mark_failed(rest, claim_token, error)
    return True


# --- sending --------------------------------------------------------------------------------------

_senders: dict[str, Callable[[Message], object]] = {}


def register_sender(kind: str, send: Callable[[Message], object]) -> None:
    """Deliver messages of `kind` with `send(message)` instead of by email.

    `send` raises when the delivery failed; the message is then retried with backoff and reported
    when it keeps failing, exactly like mail. It must be safe to repeat (at-least-once delivery).
    """
    _senders[kind] = send


def email_for(message: Message, connection=None) -> EmailMessage:
    """The email for a stored message; its Message-ID header is the stored, stable one."""
    return EmailMessage(
        subject=message.subject,
        body=message.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=list(message.to),
        headers={
            "Message-ID": message.message_id,
            # RFC 3834: an automatic notification, so auto-responders stay quiet.
            "Auto-Submitted": "auto-generated",
        },
        connection=connection,
    )


def describe(exc: BaseException) -> str:
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {text}"[:_MAX_ERROR_CHARS]


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    released: int = 0
    lost_lease: int = 0

    def add(self, other: "BatchResult") -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.failed += other.failed
        self.released += other.released
        self.lost_lease += other.lost_lease


def _sent(result: BatchResult, message: Message, claim_token: str) -> None:
    if mark_sent(message, claim_token):
        result.sent += 1
    else:
        result.lost_lease += 1
        log.warning("outbox message %s was sent after its lease ended; another worker may send it again", message.id)


def _partly_sent(result: BatchResult, message: Message, claim_token: str, refused: dict) -> None:
    if mark_partly_sent(message, claim_token, refused):
        result.sent += 1
        result.failed += 1
    else:
        result.lost_lease += 1


def _keep_refusals(smtp, refused: dict) -> None:
    """Keep what the server refused from each `sendmail` on this SMTP connection in `refused`."""
    sendmail = smtp.sendmail

    def keeping(*args, **kwargs):
        answer = sendmail(*args, **kwargs)
        refused.update(answer or {})
        return answer

    smtp.sendmail = keeping


def _failed(result: BatchResult, message: Message, claim_token: str, error: str) -> None:
    if mark_failed(message, claim_token, error):
        result.failed += 1
    else:
        result.lost_lease += 1


def _lease_margin() -> dt.timedelta:
    """Stop starting new sends this long before the lease ends (one send may take EMAIL_TIMEOUT)."""
    timeout = getattr(settings, "EMAIL_TIMEOUT", None) or 30
    return dt.timedelta(seconds=min(lease_seconds() / 2, timeout + 5))


def deliver_batch(
    worker_id: str | None = None,
    *,
    batch_size: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> BatchResult:
    """Claim one batch and try to send each of its messages over one backend connection."""
    worker_id = worker_id or default_worker_id()
    should_stop = should_stop or (lambda: False)
    batch = claim(worker_id, batch_size or batch_size_setting())
    result = BatchResult(claimed=len(batch.messages))
    if not batch.messages:
        return result

    backend = get_connection(fail_silently=False)
    # SMTP keeps one connection open for the whole batch. Stream backends (file, console) write
    # one file per connection, so they get a fresh one per message: one readable file each.
    reuse = isinstance(backend, SMTPBackend)
    fresh_backends = []  # kept alive to the end so no two files share a name
    stop_margin = _lease_margin()
    unreachable = None  # why the mail server could not be reached, once it could not
    refused: dict = {}  # the recipients the server refused beside accepted ones, per message
    try:
        for position, message in enumerate(batch.messages):
            if should_stop() or clock.now() >= batch.lease_until - stop_margin:
                result.released += release(batch.token, [m.id for m in batch.messages[position:]])
                break
            send = _senders.get(message.kind)
            if send is not None:
                try:
                    send(message)
                except Exception as exc:  # noqa: BLE001 - record whatever the sender raised
                    _failed(result, message, batch.token, describe(exc))
                    continue
                _sent(result, message, batch.token)
                continue
            if reuse:
                if unreachable is None:
                    try:
                        if backend.open():  # a new connection (the first, or after a failure)
                            _keep_refusals(backend.connection, refused)
                    except Exception as exc:  # noqa: BLE001 - any failure to connect fails this attempt
                        # The server cannot be reached: every email left in the batch fails this
                        # attempt now rather than each waiting out its own connection timeout.
                        unreachable = f"could not connect to the mail server: {describe(exc)}"
                        _close_quietly(backend)
                if unreachable is not None:
                    _failed(result, message, batch.token, unreachable)
                    continue
                connection = backend
            else:
                connection = get_connection(fail_silently=False)
                fresh_backends.append(connection)
            refused.clear()
            try:
                sent = connection.send_messages([email_for(message, connection)])
                if sent != 1:
                    raise RuntimeError("the mail backend did not accept the message")
            except Exception as exc:  # noqa: BLE001 - record whatever the backend raised
                if reuse:
                    # A refused message leaves smtplib usable, but a dropped one may not: reconnect.
                    _close_quietly(backend)
                _failed(result, message, batch.token, describe(exc))
                continue
            if refused:
                _partly_sent(result, message, batch.token, refused)
                continue
            _sent(result, message, batch.token)
    finally:
        if reuse:
            _close_quietly(backend)
    return result


def _close_quietly(backend) -> None:
    try:
        backend.close()
    except Exception:  # noqa: BLE001 - the connection is being thrown away anyway
        pass


def deliver_due(
    worker_id: str | None = None,
    *,
    batch_size: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_batches: int | None = None,
) -> BatchResult:
    """Deliver batches until nothing is due (or `max_batches`, or a stop is asked for)."""
    worker_id = worker_id or default_worker_id()
    size = batch_size or batch_size_setting()
    should_stop = should_stop or (lambda: False)
    total = BatchResult()
    batches = 0
    while not should_stop():
        result = deliver_batch(worker_id, batch_size=size, should_stop=should_stop)
        total.add(result)
        batches += 1
        if result.claimed < size or (max_batches is not None and batches >= max_batches):
            break
    return total

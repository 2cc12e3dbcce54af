"""Outbox delivery against a real SMTP server on loopback (DESIGN.md "Outbox": a crash never loses
a notification; rules CC8 and NM5 depend on these emails arriving)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from careaccess.core import clock as clock_module
from careaccess.core.outbox import delivery
from careaccess.core.outbox.models import Message
from careaccess.core.outbox.services import enqueue

pytestmark = pytest.mark.django_db


def queue(n=1, *, to="user@example.test", subject="Your careaccess account", kind="notification"):
    with transaction.atomic():
        return [
            enqueue(to=[to] if isinstance(to, str) else to, subject=f"{subject} {i}", body=f"Hello {i}\nLine two.", kind=kind)
            for i in range(n)
        ]


def reload(message):
    return Message.objects.get(id=message.id)


# --- backoff -------------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap(settings):
    settings.CAREACCESS_OUTBOX_RETRY_SECONDS = 30
    settings.CAREACCESS_OUTBOX_RETRY_MAX_SECONDS = 3600
    settings.CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS = 20
    waits = [delivery.backoff(n).total_seconds() for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_backoff_is_the_cap_once_a_message_is_failing(settings):
    settings.CAREACCESS_OUTBOX_RETRY_SECONDS = 10
    settings.CAREACCESS_OUTBOX_RETRY_MAX_SECONDS = 1000
    settings.CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS = 3
    assert [delivery.backoff(n).total_seconds() for n in range(1, 6)] == [10, 20, 1000, 1000, 1000]


# --- delivery over SMTP --------------------------------------------------------------------------


def test_delivers_over_smtp_with_the_stored_message_id(clock, smtp_settings, smtp_server):
    messages = queue(3, to=["a@example.test", "b@example.test"])
    result = delivery.deliver_due("w1")
    assert (result.claimed, result.sent, result.failed) == (3, 3, 0)

    received = {m["Message-ID"]: m for m in smtp_server.recorder.messages}
    assert set(received) == {m.message_id for m in messages}
    for message in messages:
        got = received[message.message_id]
        assert got["Subject"] == message.subject
        assert got["To"] == "a@example.test, b@example.test"
        assert got["Auto-Submitted"] == "auto-generated"
        assert got.get_content().replace("\r\n", "\n").rstrip("\n") == message.body
        stored = reload(message)
        assert stored.state == Message.State.SENT
        assert stored.sent_at == clock.now()
        assert stored.lease_until is None
        assert stored.attempts == 0
    assert sorted(smtp_server.recorder.envelopes[0][1]) == ["a@example.test", "b@example.test"]


def test_one_smtp_connection_per_batch(clock, smtp_settings, smtp_server):
    queue(25)
    result = delivery.deliver_due("w1", batch_size=10)
    assert result.sent == 25
    # batches of 10, 10 and 5: three connections, not 25
    assert smtp_server.recorder.connections == 3


def test_nothing_due_sends_nothing(clock, smtp_settings, smtp_server):
    assert delivery.deliver_due("w1").claimed == 0
    assert smtp_server.recorder.messages == []


def test_a_message_enqueued_in_a_rolled_back_transaction_is_never_sent(clock, smtp_settings, smtp_server):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with transaction.atomic():
            enqueue(to="user@example.test", subject="would be sent", body="...")
            raise Boom
    assert Message.objects.count() == 0
    assert delivery.deliver_due("w1").claimed == 0
    assert smtp_server.recorder.messages == []


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_sends_nothing_with_real_commits(clock, smtp_settings, smtp_server):
    with pytest.raises(ValueError):
        with transaction.atomic():
            enqueue(to="user@example.test", subject="rolled back", body="...")
            raise ValueError("the change failed")
    with transaction.atomic():
        kept = enqueue(to="user@example.test", subject="committed", body="...")
    assert delivery.deliver_due("w1").sent == 1
    assert list(smtp_server.recorder.message_ids()) == [kept.message_id]


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        enqueue(to="user@example.test", subject="x", body="y")
    assert Message.objects.count() == 0


# --- refusals and outages ------------------------------------------------------------------------


def test_a_refused_message_stays_queued_and_backs_off_until_the_server_accepts(clock, smtp_settings, smtp_server):
    (message,) = queue()
    smtp_server.recorder.refuse_all = "550 5.7.1 message refused by policy"
    start = clock.now()

    result = delivery.deliver_due("w1")
    assert (result.sent, result.failed) == (0, 1)
    stored = reload(message)
    assert stored.state == Message.State.QUEUED
    assert stored.attempts == 1
    assert "550" in stored.last_error and "refused by policy" in stored.last_error
    assert stored.next_attempt_at == start + dt.timedelta(seconds=30)
    assert stored.lease_until is None

    # not due before its backoff ends
    clock.advance(dt.timedelta(seconds=29))
    assert delivery.deliver_due("w1").claimed == 0
    clock.advance(dt.timedelta(seconds=1))
    assert delivery.deliver_due("w1").failed == 1
    stored = reload(message)
    assert stored.attempts == 2
    assert stored.next_attempt_at == clock.now() + dt.timedelta(seconds=60)

    smtp_server.recorder.refuse_all = None
    clock.advance(dt.timedelta(seconds=60))
    assert delivery.deliver_due("w1").sent == 1
    stored = reload(message)
    assert stored.state == Message.State.SENT
    assert stored.attempts == 2
    assert smtp_server.recorder.message_ids() == {message.message_id: 1}


def test_a_refused_recipient_fails_only_its_message(clock, smtp_settings, smtp_server):
    good, = queue(to="good@example.test")
    bad, = queue(to="gone@example.test")
    smtp_server.recorder.refuse_recipients = {"gone@example.test"}
    result = delivery.deliver_due("w1")
    assert (result.sent, result.failed) == (1, 1)
    assert reload(good).state == Message.State.SENT
    stored_bad = reload(bad)
    assert stored_bad.state == Message.State.QUEUED
    assert "gone@example.test" in stored_bad.last_error
    # the connection stayed usable for the rest of the batch
    assert smtp_server.recorder.message_ids() == {good.message_id: 1}


def test_recipients_refused_beside_accepted_ones_get_their_own_message_retried_and_reported(
        clock, smtp_settings, smtp_server):
    # smtplib reports the recipients refused beside accepted ones only in sendmail's answer; Django's
    # backend drops that answer, so the refused ones must be caught here (nothing silently dropped).
    failing_settings(smtp_settings)
    (message,) = queue(to=["good@example.test", "gone@example.test", "also@example.test"], subject="Your card")
    smtp_server.recorder.refuse_recipients = {"gone@example.test"}
    result = delivery.deliver_due("w1")
    assert (result.sent, result.failed) == (1, 1)
    sent = reload(message)
    assert sent.state == Message.State.SENT and sent.to == ["good@example.test", "also@example.test"]
    assert smtp_server.recorder.envelopes[-1][1] == ["good@example.test", "also@example.test"]
    rest = Message.objects.exclude(id=message.id).get(kind=message.kind)
    assert rest.to == ["gone@example.test"] and rest.state == Message.State.QUEUED and rest.attempts == 1
    assert (rest.subject, rest.body, rest.cause) == (message.subject, message.body, message.cause)
    assert "gone@example.test" in rest.last_error and "550" in rest.last_error
    assert rest.message_id != message.message_id

    for _ in range(3):  # it keeps failing: reported once, like any message, and never dropped
        clock.advance(reload(rest).next_attempt_at - clock.now())
        delivery.deliver_due("w1")
    assert Message.objects.filter(kind=delivery.FAILING_REPORT_KIND, cause=f"outbox:{rest.id}").count() == 1
    smtp_server.recorder.refuse_recipients = set()
    clock.advance(reload(rest).next_attempt_at - clock.now())
    delivery.deliver_due("w1")
    assert reload(rest).state == Message.State.SENT
    assert [to for _, to in smtp_server.recorder.envelopes].count(["gone@example.test"]) == 1
    assert smtp_server.recorder.message_ids()[message.message_id] == 1  # the others got it once


def test_server_down_then_back(clock, smtp_settings, smtp_down):
    messages = queue(3)
    result = delivery.deliver_due("w1")
    assert (result.sent, result.failed) == (0, 3)
    for message in messages:
        stored = reload(message)
        assert stored.state == Message.State.QUEUED
        assert stored.attempts == 1
        assert "could not connect to the mail server" in stored.last_error

    clock.advance(dt.timedelta(seconds=30))
    assert delivery.deliver_due("w1").failed == 3
    assert {reload(m).attempts for m in messages} == {2}
    assert {reload(m).next_attempt_at for m in messages} == {clock.now() + dt.timedelta(seconds=60)}

    smtp_down.start()
    clock.advance(dt.timedelta(seconds=59))
    assert delivery.deliver_due("w1").claimed == 0
    clock.advance(dt.timedelta(seconds=1))
    assert delivery.deliver_due("w1").sent == 3
    assert smtp_down.recorder.message_ids() == {m.message_id: 1 for m in messages}


# --- failing report ------------------------------------------------------------------------------


def failing_settings(settings):
    settings.CAREACCESS_OUTBOX_RETRY_SECONDS = 10
    settings.CAREACCESS_OUTBOX_RETRY_MAX_SECONDS = 40
    settings.CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS = 3


def test_a_message_failing_n_times_is_reported_once_and_never_dropped(clock, smtp_settings, smtp_server):
    failing_settings(smtp_settings)
    (message,) = queue(to="gone@example.test", subject="Your new smartcard")
    smtp_server.recorder.refuse_recipients = {"gone@example.test"}

    waits = []
    for attempt in range(1, 10):
        before = clock.now()
        result = delivery.deliver_due("w1")
        assert result.failed >= 1
        stored = reload(message)
        assert stored.state == Message.State.QUEUED
        assert stored.attempts == attempt
        waits.append((stored.next_attempt_at - before).total_seconds())
        clock.advance(stored.next_attempt_at - before)
    assert waits == [10, 20, 40, 40, 40, 40, 40, 40, 40]

    reports = list(Message.objects.filter(kind=delivery.FAILING_REPORT_KIND))
    assert len(reports) == 1  # reported once, however often it fails afterwards
    report = reports[0]
    assert report.to == ["ra-team@careaccess.test"]
    assert report.cause == f"outbox:{message.id}"
    assert str(message.id) in report.body and "gone@example.test" in report.body
    assert "careaccess outbox retry" in report.body
    assert reload(message).reported_failing_at is not None
    # the report itself reached the RA team
    assert reload(report).state == Message.State.SENT
    received = [m for m in smtp_server.recorder.messages if m["Message-ID"] == report.message_id]
    assert len(received) == 1 and received[0]["To"] == "ra-team@careaccess.test"

    # the mailbox comes back: the message is still there and goes out
    smtp_server.recorder.refuse_recipients = set()
    assert delivery.deliver_due("w1").sent == 1
    assert reload(message).state == Message.State.SENT
    assert smtp_server.recorder.message_ids()[message.message_id] == 1


def test_an_undeliverable_failing_report_is_not_reported_again(clock, smtp_settings, smtp_server):
    failing_settings(smtp_settings)
    smtp_server.recorder.refuse_all = "550 5.7.1 everything refused"
    queue()
    for _ in range(12):
        delivery.deliver_due("w1")
        clock.advance(dt.timedelta(seconds=40))
    assert Message.objects.filter(kind=delivery.FAILING_REPORT_KIND).count() == 1
    report = Message.objects.get(kind=delivery.FAILING_REPORT_KIND)
    assert report.state == Message.State.QUEUED and report.attempts >= 3
    assert report.reported_failing_at is None


# --- crashes and leases --------------------------------------------------------------------------


def test_a_worker_killed_mid_delivery_loses_nothing(clock, smtp_settings, smtp_server):
    (message,) = queue()
    # worker A claims the message, hands it to the SMTP server, and dies before marking it sent
    dead = delivery.claim("worker-a", 10)
    assert [m.id for m in dead.messages] == [message.id]
    delivery.email_for(dead.messages[0]).send()
    assert smtp_server.recorder.message_ids() == {message.message_id: 1}

    # while A's lease lasts nobody else touches it
    assert delivery.deliver_due("worker-b").claimed == 0
    clock.advance(dt.timedelta(seconds=119))
    assert delivery.deliver_due("worker-b").claimed == 0

    # the lease ends: B sends it again, with the same Message-ID (at-least-once)
    clock.advance(dt.timedelta(seconds=1))
    result = delivery.deliver_due("worker-b")
    assert result.sent == 1
    assert smtp_server.recorder.message_ids() == {message.message_id: 2}
    stored = reload(message)
    assert stored.state == Message.State.SENT
    assert stored.claimed_by.startswith("worker-b#")

    # A coming back to life cannot overwrite B's outcome
    assert delivery.mark_sent(dead.messages[0], dead.token) is False
    assert delivery.mark_failed(dead.messages[0], dead.token, "late") is False
    assert reload(message).attempts == 0

    # and nothing is sent a third time
    clock.advance(dt.timedelta(hours=1))
    assert delivery.deliver_due("worker-c").claimed == 0


def test_a_claimed_message_is_not_claimed_again(clock, smtp_settings):
    queue(5)
    first = delivery.claim("a", 3)
    second = delivery.claim("b", 10)
    assert len(first.messages) == 3 and len(second.messages) == 2
    assert not {m.id for m in first.messages} & {m.id for m in second.messages}
    assert delivery.claim("c", 10).messages == []


def test_stop_request_finishes_the_current_message_and_hands_back_the_rest(clock, smtp_settings, smtp_server):
    messages = queue(5)
    sent_before_stop = []

    def should_stop():
        sent_before_stop.append(1)
        return len(sent_before_stop) > 2  # asked to stop while the second message is being sent

    result = delivery.deliver_batch("w1", batch_size=10, should_stop=should_stop)
    assert (result.claimed, result.sent, result.released) == (5, 2, 3)
    states = [reload(m) for m in messages]
    assert sorted(m.state for m in states) == ["queued", "queued", "queued", "sent", "sent"]
    for m in states:
        if m.state == "queued":
            assert m.lease_until is None and m.attempts == 0
    # handed back messages are due again at once
    assert delivery.deliver_due("w2").sent == 3
    assert sorted(smtp_server.recorder.message_ids().values()) == [1] * 5


class ClockAdvancingBackend:
    """A backend whose every send takes 50 (fake) seconds."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        clock_module.advance(dt.timedelta(seconds=50))
        return len(messages)


def test_a_worker_never_starts_a_send_its_lease_may_not_cover(clock, settings):
    settings.EMAIL_BACKEND = f"{__name__}.ClockAdvancingBackend"
    settings.EMAIL_TIMEOUT = 30
    settings.CAREACCESS_OUTBOX_LEASE_SECONDS = 120  # margin: min(60, 35) = 35 s
    messages = queue(4)
    result = delivery.deliver_batch("w1", batch_size=10)
    # sends start at 0 s and 50 s; at 100 s less than 35 s of lease is left
    assert (result.sent, result.released) == (2, 2)
    assert sorted(reload(m).state for m in messages) == ["queued", "queued", "sent", "sent"]


# --- the file backend ----------------------------------------------------------------------------


def test_the_file_backend_writes_one_readable_file_per_message(clock, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    messages = queue(3, subject="Your username")
    assert delivery.deliver_due("w1").sent == 3
    files = sorted((tmp_path / "mail").iterdir())
    assert len(files) == 3
    texts = [f.read_text() for f in files]
    for message in messages:
        (text,) = [t for t in texts if message.message_id in t]
        assert f"Message-ID: {message.message_id}" in text
        assert f"Subject: {message.subject}" in text
        assert message.body in text

"""`careaccess worker`, its job registry, and `careaccess outbox list|retry`."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import transaction

from careaccess.core.audit.models import Entry
from careaccess.core.outbox import delivery, jobs
from careaccess.core.outbox.models import Message
from careaccess.core.outbox.runner import Worker
from careaccess.core.outbox.services import enqueue, retry_now

pytestmark = pytest.mark.django_db


def queue(n=1, **kwargs):
    with transaction.atomic():
        return [
            enqueue(to=kwargs.get("to", "user@example.test"), subject=f"{kwargs.get('subject', 'Hello')} {i}", body="Body")
            for i in range(n)
        ]


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def registry():
    """A clean job registry for the test, restored afterwards.

    Every app's jobs are imported first: a module first imported inside the test would register into
    the cleared registry and be lost when it is restored (Python imports a module only once)."""
    jobs.autodiscover()
    saved = dict(jobs._registry)
    jobs._registry.clear()
    yield jobs
    jobs._registry.clear()
    jobs._registry.update(saved)


# --- careaccess worker ----------------------------------------------------------------------------


def test_worker_once_delivers_what_is_due_and_exits(clock):
    messages = queue(3)
    output = run("worker", "--once", "--no-jobs", "--worker-id", "test-worker")
    assert "sent 3" in output and "[test-worker]" in output
    assert {m.extra_headers["Message-ID"] for m in mail.outbox} == {m.message_id for m in messages}
    assert set(Message.objects.values_list("state", flat=True)) == {"sent"}
    assert all(c.startswith("test-worker#") for c in Message.objects.values_list("claimed_by", flat=True))


def test_worker_once_is_quiet_when_there_is_nothing_to_do(clock, registry):
    assert run("worker", "--once") == ""


def test_worker_once_over_smtp(clock, smtp_settings, smtp_server):
    (message,) = queue()
    run("worker", "--once", "--no-jobs")
    assert smtp_server.recorder.message_ids() == {message.message_id: 1}


def test_worker_rejects_bad_options():
    with pytest.raises(CommandError):
        call_command("worker", "--once", "--interval", "-1")
    with pytest.raises(CommandError):
        call_command("worker", "--once", "--batch-size", "0")


def test_worker_pass_delivers_in_batches_then_runs_jobs(clock, registry):
    order = []
    registry.register("probe", 0, lambda: order.append(Message.objects.filter(state="queued").count()))
    queue(25)
    result = Worker("w", batch_size=10).run_pass()
    assert result.delivery.sent == 25
    assert order == [0]  # the job ran after the outbox was emptied
    assert result.jobs == {"probe": "ok"}


def test_jobs_run_every_n_seconds_by_the_clock(clock, registry):
    calls = []

    @registry.job("sweep", every=60)
    def sweep():
        calls.append(clock.now())

    worker = Worker("w")
    worker.run_pass()
    worker.run_pass()
    assert len(calls) == 1
    clock.advance(dt.timedelta(seconds=59))
    worker.run_pass()
    assert len(calls) == 1
    clock.advance(dt.timedelta(seconds=1))
    worker.run_pass()
    assert len(calls) == 2


def test_a_failing_job_does_not_stop_the_worker(clock, registry):
    ran = []
    registry.register("a-broken", 0, lambda: 1 / 0)
    registry.register("b-fine", 0, lambda: ran.append(1))
    queue(1)
    result = Worker("w").run_pass()
    assert result.jobs["a-broken"].startswith("failed: ZeroDivisionError")
    assert result.jobs["b-fine"] == "ok" and ran == [1]
    assert result.delivery.sent == 1
    output = run("worker", "--once", "--no-jobs")
    assert "failed" not in output


def test_worker_job_filter_and_no_jobs(clock, registry):
    ran = []
    registry.register("one", 0, lambda: ran.append("one"))
    registry.register("two", 0, lambda: ran.append("two"))
    Worker("w", only_jobs={"two"}).run_pass()
    Worker("w", run_jobs=False).run_pass()
    assert ran == ["two"]
    out = run("worker", "--once", "--job", "one", "-v", "2")
    assert ran == ["two", "one"] and "one ok" in out


def test_the_audit_checkpoint_job_is_registered():
    assert {j.name: j.func for j in jobs.registered()}["audit.checkpoint"] is jobs.checkpoint_if_due


def test_sigterm_lets_the_worker_finish_then_stop(clock):
    worker = Worker("w", interval=3600)
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        worker.install_signal_handlers()
        os.kill(os.getpid(), signal.SIGTERM)
        assert worker.stopping
        # a stopped worker's loop ends at once instead of sleeping an hour
        worker.run()
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def test_a_stopping_worker_hands_unsent_messages_back(clock):
    queue(5)
    worker = Worker("w")
    worker.stop()
    result = worker.run_pass()
    assert result.delivery.claimed == 0
    assert Message.objects.filter(state="queued", lease_until__isnull=True).count() == 5


# --- careaccess outbox list / retry ---------------------------------------------------------------


def test_outbox_list_by_state(clock, settings):
    settings.CAREACCESS_OUTBOX_REPORT_AFTER_ATTEMPTS = 3
    sent, waiting, failing = queue(3, subject="Subject [with] brackets")
    Message.objects.filter(id=sent.id).update(state="sent", sent_at=clock.now())
    Message.objects.filter(id=failing.id).update(attempts=3, last_error="SMTPRecipientsRefused: 550 gone")

    everything = run("outbox", "list")
    for m in (sent, waiting, failing):
        assert str(m.id) in everything
    assert "Subject [with] brackets 0" in everything  # shown as written, not read as markup

    queued = run("outbox", "list", "--state", "queued")
    assert str(waiting.id) in queued and str(failing.id) in queued and str(sent.id) not in queued
    only_failing = run("outbox", "list", "--state", "failing")
    assert str(failing.id) in only_failing and str(waiting.id) not in only_failing
    assert "550 gone" in only_failing
    only_sent = run("outbox", "list", "--state", "sent")
    assert str(sent.id) in only_sent and str(waiting.id) not in only_sent

    assert "showing 1 of 3" in run("outbox", "list", "--limit", "1")
    Message.objects.all().delete()
    assert "none" in run("outbox", "list", "--state", "failing")


def test_outbox_list_shows_who_is_sending(clock):
    queue(1)
    delivery.claim("busy-worker", 10)
    assert "sending: busy-worker#" in run("outbox", "list")


def test_outbox_retry_makes_a_waiting_message_due_now(clock, settings):
    (message,) = queue()
    later = clock.now() + dt.timedelta(hours=1)
    Message.objects.filter(id=message.id).update(attempts=9, next_attempt_at=later, last_error="boom")
    entries_before = Entry.objects.count()

    output = run("outbox", "retry", str(message.id), "--reason", "mail server fixed")
    assert "is due now" in output
    stored = Message.objects.get(id=message.id)
    assert stored.next_attempt_at == clock.now() and stored.attempts == 9
    entry = Entry.objects.order_by("-index").first()
    assert Entry.objects.count() == entries_before + 1
    assert (entry.action, entry.target_id, entry.reason) == ("outbox.retry", str(message.id), "mail server fixed")

    assert Worker("w", run_jobs=False).run_pass().delivery.sent == 1


def test_outbox_retry_finds_messages_by_prefix_or_message_id(clock):
    (message,) = queue()
    later = clock.now() + dt.timedelta(hours=1)
    Message.objects.filter(id=message.id).update(next_attempt_at=later)
    assert retry_now(message.id.hex[:8]).id == message.id
    Message.objects.filter(id=message.id).update(next_attempt_at=later)
    assert retry_now(message.message_id).id == message.id
    assert retry_now(str(message.id).upper()).id == message.id


def test_outbox_retry_refusals(clock):
    (message,) = queue()
    with pytest.raises(CommandError, match="no outbox message"):
        call_command("outbox", "retry", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(CommandError, match="not a message id"):
        call_command("outbox", "retry", "xyz")
    delivery.claim("busy", 10)
    with pytest.raises(CommandError, match="being sent right now by busy#"):
        call_command("outbox", "retry", str(message.id))
    Message.objects.filter(id=message.id).update(state="sent", sent_at=clock.now(), lease_until=None)
    with pytest.raises(CommandError, match="already sent"):
        call_command("outbox", "retry", str(message.id))

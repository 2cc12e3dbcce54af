"""Sent messages are deleted after CAREACCESS_OUTBOX_SENT_RETENTION_DAYS by the worker's job,
audited (rule PP9); nothing queued is ever pruned, however old."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import transaction

from careaccess.core.audit.models import Entry
from careaccess.core.outbox import jobs
from careaccess.core.outbox.models import Message
from careaccess.core.outbox.services import enqueue

pytestmark = pytest.mark.django_db


def _message(state: str, sent_at=None) -> Message:
    with transaction.atomic():
        message = enqueue(to=["user@example.test"], subject="Your account", body="Hello")
    Message.objects.filter(id=message.id).update(state=state, sent_at=sent_at)
    return message


def test_the_worker_prunes_sent_messages_past_retention_and_audits_it(clock, settings):  # rule PP9
    settings.CAREACCESS_OUTBOX_SENT_RETENTION_DAYS = 30
    old_sent = _message(Message.State.SENT, clock.now())
    old_queued = _message(Message.State.QUEUED)
    clock.advance(dt.timedelta(days=20))
    recent_sent = _message(Message.State.SENT, clock.now())
    clock.advance(dt.timedelta(days=11))
    prune = next(job for job in jobs.registered() if job.name == "outbox.prune-sent")

    prune.func()
    assert set(Message.objects.values_list("id", flat=True)) == {old_queued.id, recent_sent.id}
    entry = Entry.objects.get(action="outbox.pruned")
    assert json.loads(entry.after)["deleted"] == 1 and entry.actor_kind == "system"

    prune.func()  # nothing more to prune: no further entry
    assert Entry.objects.filter(action="outbox.pruned").count() == 1
    assert Message.objects.filter(id=old_queued.id).exists()

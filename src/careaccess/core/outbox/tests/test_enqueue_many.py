"""`enqueue_many`: many notifications in the caller's transaction, set-based, the same rows as `enqueue`."""

from __future__ import annotations

import math

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from careaccess.core.outbox.models import Message
from careaccess.core.outbox.services import enqueue, enqueue_many

pytestmark = pytest.mark.django_db


def test_writes_the_rows_enqueue_writes_one_insert_per_thousand(clock):
    batch = [{"to": f"user{i}@example.test", "subject": f"Subject {i}", "body": "Hello\n", "kind": "lifecycle.x",
              "cause": f"account:{i}"} for i in range(1500)]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert enqueue_many(batch) == 1500
    inserts = [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")]
    per_insert = min(1000, connection.ops.bulk_batch_size(Message._meta.concrete_fields, batch))  # SQLite: fewer
    assert len(inserts) == math.ceil(1500 / per_insert)
    with transaction.atomic():
        single = enqueue(to="user0@example.test", subject="Subject 0", body="Hello\n", kind="lifecycle.x",
                         cause="account:0")
    many = Message.objects.filter(subject="Subject 0").exclude(id=single.id).get()
    for field in ("to", "subject", "body", "kind", "cause", "state", "created_at", "next_attempt_at", "attempts"):
        assert getattr(many, field) == getattr(single, field), field
    assert many.message_id != single.message_id and many.message_id.startswith("<")


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_or_without_a_recipient_nothing_is_queued(clock):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        enqueue_many([{"to": "a@example.test", "subject": "s", "body": "b"}])
    with pytest.raises(ValueError), transaction.atomic():
        enqueue_many([{"to": "a@example.test", "subject": "s", "body": "b"}, {"to": [], "subject": "s", "body": "b"}])
    assert not Message.objects.exists()

"""Notifications waiting to be delivered, written in the same transaction as their cause."""

import uuid

from django.db import models


class Message(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        SENT = "sent", "sent"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Stable across retries so a message sent twice after a crash is recognisably the same one.
    message_id = models.CharField(max_length=200, unique=True)
    to = models.JSONField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    kind = models.CharField(max_length=60, default="notification", db_index=True)
    cause = models.CharField(max_length=100, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    # A worker holds a message only until its lease ends; a crashed worker's message comes back.
    claimed_by = models.CharField(max_length=100, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    reported_failing_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "outbox_message"
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="outbox_due")]

    def __str__(self):
        return f"{self.subject} -> {', '.join(self.to)} ({self.state})"

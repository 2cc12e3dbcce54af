"""The audit ledger's tables (rules PP9, SC2).

The ledger tables are `managed = False`: migrations create them (with the triggers that refuse
UPDATE and DELETE), and Django's test flush leaves them alone, so the ledger stays one valid chain
across every test run instead of being half-emptied by a DELETE the triggers refuse.
"""

from django.db import models


class SequencedManager(models.Manager):
    """Reads see every entry in its place: on PostgreSQL pending entries are sequenced first
    (sequencing.py), so a history, a search or a count of the ledger never meets an entry that
    has no index yet. A cheap index probe when there is nothing to do."""

    def get_queryset(self):
        from .sequencing import sequence

        sequence()
        return super().get_queryset()


class Entry(models.Model):
    """One change: a leaf of the Merkle tree that also carries the previous leaf's hash."""

    index = models.BigIntegerField(primary_key=True)
    recorded_at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor = models.CharField(max_length=200)
    actor_uid = models.CharField(max_length=12, null=True, db_index=True)
    actor_position = models.CharField(max_length=300, null=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=50)
    target_id = models.CharField(max_length=100)
    person_uid = models.CharField(max_length=12, null=True, db_index=True)
    organisation_code = models.CharField(max_length=20, null=True, db_index=True)
    access_request = models.CharField(max_length=40, null=True, db_index=True)
    request_id = models.CharField(max_length=64, null=True)
    reason = models.TextField(default="")
    before = models.TextField(default="null")
    after = models.TextField(default="null")
    prev_hash = models.CharField(max_length=64)
    leaf_hash = models.CharField(max_length=64)

    objects = SequencedManager()

    class Meta:
        managed = False
        db_table = "audit_entry"
        ordering = ["index"]
        indexes = [models.Index(fields=["recorded_at"], name="audit_entry_recorded_at")]

    def __str__(self):
        return f"#{self.index} {self.action} {self.target_type}:{self.target_id}"


class Node(models.Model):
    """A perfect Merkle subtree's hash (level >= 1), stored once complete so proofs stay O(log n).

    key = level * 2**48 + index, one integer key portable to every database.
    """

    key = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)

    class Meta:
        managed = False
        db_table = "audit_node"


class Head(models.Model):
    """The ledger's tip: size, last leaf hash and the Merkle frontier. One row; placing entries locks it."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    frontier = models.TextField(default="")

    objects = SequencedManager()

    class Meta:
        managed = False
        db_table = "audit_head"


class Checkpoint(models.Model):
    """A signed statement of the tree's size and root at a time (RFC 9162 signed tree head)."""

    id = models.BigAutoField(primary_key=True)
    tree_size = models.BigIntegerField()
    root_hash = models.CharField(max_length=64)
    made_at = models.DateTimeField()
    key_id = models.CharField(max_length=64)
    signature = models.CharField(max_length=200)

    class Meta:
        managed = False
        db_table = "audit_checkpoint"
        ordering = ["id"]

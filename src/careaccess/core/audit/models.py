"""The audit ledger's tables (rules PP9, SC2).

The ledger tables are `managed = False`: migrations create them (with the triggers that refuse
UPDATE and DELETE), and Django's test flush leaves them alone, so the ledger stays one valid chain
across every test run instead of being half-emptied by a DELETE the triggers refuse.

Reading writes nothing. `Entry` reads the view `audit_ledger` (migration 0004): the placed entries
and, on PostgreSQL, the pending tail after them (sequencing.py), each pending entry at the place
sequencing would give it now (the head's size plus its rank among the pending entries, in the
order they were written). So a history, a search or a count sees every committed entry in order
without placing any; only what needs the signed chain itself (checkpoints, verify) places them.
"""

from django.db import connection, models

# One statement, so the head's size and the pending entries come from one snapshot (the pending
# ones are found by the partial index audit_entry_pending, migration 0003).
_SIZE = (
    """SELECT size + (SELECT count(*) FROM audit_entry WHERE "index" < 0 AND leaf_hash = '') """
    "FROM audit_head WHERE id = 1"
)


class HeadManager(models.Manager):
    def size(self) -> int:
        """How many entries readers see: the placed ones (the head's size) and the pending tail,
        which `Entry.objects` shows at indexes size.. in the order written. Writes nothing."""
        with connection.cursor() as cursor:
            cursor.execute(_SIZE)
            return cursor.fetchone()[0]


class Entry(models.Model):
    """One change: a leaf of the Merkle tree that also carries the previous leaf's hash.

    Read through the view `audit_ledger` (see the module's docstring): a pending entry has its
    provisional place as `index` and empty `prev_hash` and `leaf_hash` until it is placed. Entries
    are written by `ledger.record` only, into the table `audit_entry`."""

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

    class Meta:
        managed = False
        db_table = "audit_ledger"
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
    """The tip of the placed entries: size, last leaf hash and the Merkle frontier. One row; placing
    entries locks it. `Head.objects.size()` also counts the pending tail (what readers see)."""

    id = models.SmallIntegerField(primary_key=True, default=1)
    size = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64)
    frontier = models.TextField(default="")

    objects = HeadManager()

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


class CheckpointKey(models.Model):
    """One checkpoint signing key of the ledger, in the order they signed (rule PP9).

    A key signs the checkpoints made from its `valid_from` (none for the first key: from the start)
    until the next key's; the current key is the last. Each key after the first carries its
    endorsement: the key before it signed `checkpoints.key_message(key_id, valid_from, that key's
    id)`, so an auditor who holds an older key can trust the newer one (docs/audit-ledger.md).
    Append-only like the ledger (migration 0005): a key is never edited or removed, so checkpoints
    signed by a retired key still verify."""

    id = models.BigAutoField(primary_key=True)
    key_id = models.CharField(max_length=64, unique=True)
    public_key = models.TextField()
    valid_from = models.DateTimeField(null=True)
    endorsement = models.CharField(max_length=200, default="")

    class Meta:
        managed = False
        db_table = "audit_checkpoint_key"
        ordering = ["id"]

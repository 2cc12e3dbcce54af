"""Appending to the ledger, the database's refusal of UPDATE/DELETE, the signing key and periodic
checkpoints (rules PP9, SC2)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import serialization
from django.db import DatabaseError, connection, transaction

from careaccess.core.audit import checkpoints, ledger, sequencing
from careaccess.core.audit import verify as v
from careaccess.core.audit.models import Checkpoint, Entry, Head, Node
from careaccess.core.context import Actor, request_scope

from .helpers import ACTOR, GENESIS, append, ensure, q, size, sql

pytestmark = pytest.mark.django_db


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


# --- record() ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_record_needs_the_callers_transaction():  # rule PP9
    with pytest.raises(RuntimeError, match="inside the transaction"):
        ledger.record("x.y", actor=ACTOR, target_type="t", target_id=1)


def test_each_entry_hashes_its_columns_and_the_previous_leaf(clock):  # rules PP9, SC2
    sequencing.sequence()  # entries another test committed pending come before this one
    before = size()
    previous = Head.objects.get(id=1).last_hash
    with request_scope("req-123"):
        with transaction.atomic():
            entry = ledger.record(
                "account.suspended",
                actor=ACTOR,
                target_type="account",
                target_id=42,
                before={"state": "active"},
                after={"state": "suspended", "b": 1, "a": "ü"},
                person_uid="100000000009",
                organisation_code="Y001",
                access_request=7,
                reason="left the practice",
            )
    sequencing.sequence()  # on PostgreSQL the entry is placed only now
    entry = Entry.objects.get(index=before)
    assert entry.prev_hash == (previous if before else GENESIS)
    expected_bytes = json.dumps(
        [
            "careaccess-audit-v1",
            before,
            "2026-06-01T09:00:00.000000Z",
            "person",
            "Ada Lovelace",
            "100000000001",
            "RA agent, Y001",
            "account.suspended",
            "account",
            "42",
            "100000000009",
            "Y001",
            "7",
            "req-123",
            "left the practice",
            '{"state":"active"}',
            '{"a":"ü","b":1,"state":"suspended"}',
            entry.prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert entry.before == '{"state":"active"}'
    assert hashlib.sha256(b"\x00" + expected_bytes).hexdigest() == entry.leaf_hash
    head = Head.objects.get(id=1)
    assert head.size == before + 1 and head.last_hash == entry.leaf_hash
    assert entry.recorded_at == clock.now()


def test_entries_chain_and_nodes_are_stored_for_completed_subtrees():  # rule PP9
    append(9, tag="chain")
    n = size()
    rows = sql(f"SELECT {q('index')}, prev_hash, leaf_hash FROM audit_entry ORDER BY {q('index')}")
    assert [r[0] for r in rows] == list(range(n))
    for (_, prev, _), (_, _, leaf_before) in zip(rows[1:], rows[:-1]):
        assert prev == leaf_before
    assert rows[0][1] == GENESIS
    leaves = [bytes.fromhex(r[2]) for r in rows]
    # Every perfect aligned subtree below the size is stored, and equals the hash of its halves.
    level, hashes = 0, leaves
    while len(hashes) > 1:
        hashes = [_node(hashes[i], hashes[i + 1]) for i in range(0, len(hashes) - 1, 2)]
        level += 1
        for i, h in enumerate(hashes):
            assert Node.objects.get(key=ledger.node_key(level, i)).hash == h.hex()


def test_values_that_are_not_text_are_stored_as_text():
    """A caller passing an int uid must not make the stored row disagree with its hash."""
    with transaction.atomic():
        entry = ledger.record(
            "x.int_ids", actor=Actor(kind="person", label="P", person_uid=123456789012), target_type="t",
            target_id=5, person_uid=100000000003, organisation_code=12345, access_request=99,
        )
    assert entry.person_uid == "100000000003" and entry.actor_uid == "123456789012"
    assert v.verify().ok


# --- the database refuses UPDATE and DELETE ------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET reason = 'changed'",
        "DELETE FROM audit_entry",
        "UPDATE audit_node SET hash = 'x'",
        "DELETE FROM audit_node",
        "UPDATE audit_checkpoint SET root_hash = 'x'",
        "DELETE FROM audit_checkpoint",
    ],
)
def test_the_database_refuses_changes_to_the_ledger(statement):  # rule PP9
    append(2, tag="refuse")
    checkpoints.make_checkpoint()
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            sql(statement)


def test_the_orm_cannot_change_an_entry_either():  # rule PP9
    [entry] = append(1, tag="orm")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            Entry.objects.filter(index=entry.index).update(reason="changed")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            Entry.objects.filter(index=entry.index).delete()
    assert Entry.objects.get(index=entry.index).reason == entry.reason


@pytest.mark.postgres
def test_postgresql_refuses_truncate():  # rule PP9
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    for table in ("audit_entry", "audit_node", "audit_checkpoint"):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic():
                sql(f"TRUNCATE {table}")


# --- the signing key and checkpoints -------------------------------------------------------


def test_the_key_is_created_once_with_mode_0600(tmp_path, settings):
    settings.CAREACCESS_LEDGER_KEY = tmp_path / "keys" / "ledger.pem"
    key = checkpoints.signing_key()
    path = settings.CAREACCESS_LEDGER_KEY
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert checkpoints.signing_key() is key
    checkpoints._key_cache.clear()
    again = checkpoints.signing_key()  # read back from the file, not made anew
    raw = lambda k: k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)  # noqa: E731
    assert raw(again) == raw(key)
    checkpoints._key_cache.clear()


def test_the_key_id_is_the_sha256_of_the_raw_public_key():
    raw = checkpoints.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert checkpoints.key_id() == hashlib.sha256(raw).hexdigest()
    assert checkpoints.public_key_pem().startswith("-----BEGIN PUBLIC KEY-----")


def test_a_checkpoint_signs_the_documented_message(clock):  # rule PP9
    ensure(3)
    cp = checkpoints.make_checkpoint()
    head = Head.objects.get(id=1)
    assert cp.tree_size == head.size
    assert cp.root_hash == checkpoints.head_root(head).hex()
    exported = checkpoints.export(cp)
    assert exported["made_at"] == "2026-06-01T09:00:00.000000Z"
    message = f"careaccess-checkpoint-v1\n{cp.tree_size}\n{cp.root_hash}\n2026-06-01T09:00:00.000000Z\n".encode()
    key = serialization.load_pem_public_key(exported["public_key"].encode())
    key.verify(base64.b64decode(exported["signature"]), message)  # raises if not
    assert set(exported) >= {"tree_size", "root_hash", "made_at", "key_id", "signature", "public_key"}


def test_checkpoint_if_due(clock, settings):  # rule PP9
    settings.CAREACCESS_CHECKPOINT_EVERY_SECONDS = 300
    ensure(1)
    first = checkpoints.make_checkpoint()
    assert checkpoints.checkpoint_if_due() is None  # nothing new
    append(1, tag="due")
    clock.advance(dt.timedelta(seconds=299))
    assert checkpoints.checkpoint_if_due() is None  # too soon
    clock.advance(dt.timedelta(seconds=1))
    made = checkpoints.checkpoint_if_due()
    assert made is not None and made.tree_size == first.tree_size + 1
    clock.advance(dt.timedelta(hours=1))
    assert checkpoints.checkpoint_if_due() is None  # old, but the ledger did not grow
    assert Checkpoint.objects.filter(id__gt=first.id).count() == 1


# --- many writers at once (PostgreSQL) ------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import os, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "careaccess.settings"
    import django
    django.setup()
    from django.db import transaction
    from careaccess.core.audit import ledger
    from careaccess.core.context import Actor
    actor = Actor.system("writer-" + sys.argv[1])
    for i in range(int(sys.argv[2])):
        with transaction.atomic():
            ledger.record("test.concurrent", actor=actor, target_type="writer", target_id=f"{sys.argv[1]}-{i}")
    """
)
SEQUENCER = textwrap.dedent(
    """
    import os, pathlib, sys
    os.environ["DJANGO_SETTINGS_MODULE"] = "careaccess.settings"
    import django
    django.setup()
    from careaccess.core.audit.sequencing import sequence
    stop, placed = pathlib.Path(sys.argv[1]), 0
    while not stop.exists():
        placed += sequence(batch=7)
    print(placed)
    """
)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain(tmp_path):  # rule PP9
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the SQLite test database is in memory)")
    s = connection.settings_dict
    url = (
        f"postgres://{quote(s['USER'] or '')}:{quote(str(s['PASSWORD'] or ''))}@{s['HOST'] or '127.0.0.1'}:"
        f"{s['PORT'] or 5432}/{s['NAME']}"
    )
    before = size()
    writers, each = 6, 40
    env = {**os.environ, "DATABASE_URL": url}
    # Two sequencers (as two workers would) place entries in small batches while the writers write.
    stop = tmp_path / "stop"
    sequencers = [
        subprocess.Popen([sys.executable, "-c", SEQUENCER, str(stop)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(each)], env=env, stderr=subprocess.PIPE)
        for w in range(writers)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    stop.touch()
    placed = 0
    for p in sequencers:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
        placed += int(out)
    assert placed > 0  # the sequencers did take part
    assert size() == before + writers * each
    labels = Entry.objects.filter(action="test.concurrent", index__gte=before).values_list("target_id", flat=True)
    assert len(set(labels)) == writers * each
    result = v.verify()
    assert result.ok, result.problem


def test_a_batch_appends_the_same_chain_as_one_at_a_time():  # rule PP9
    # record_many: one head lock and one write for many entries; each still chains to the one before.
    before = size()
    with transaction.atomic():
        returned = ledger.record_many([
            ledger.Change("account.suspended", actor=ACTOR, target_type="account", target_id=n,
                          before={"state": "active"}, after={"state": "suspended"}, person_uid="100000000009")
            for n in range(37)
        ])
    assert [e.target_id for e in returned] == [str(n) for n in range(37)]
    sequencing.sequence()  # on PostgreSQL the entries are placed only now
    stored = list(Entry.objects.filter(index__gte=before - 1 if before else 0).order_by("index"))
    assert [e.target_id for e in stored[-37:]] == [str(n) for n in range(37)]  # placed in the order given
    assert stored[-1].index == before + 36
    for previous, entry in zip(stored, stored[1:]):
        assert entry.prev_hash == previous.leaf_hash
    assert Head.objects.get(id=1).size == before + 37
    assert ledger.record_many([]) == []
    assert v.verify().ok

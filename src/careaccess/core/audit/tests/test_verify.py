"""Whole-ledger verification finds every kind of tampering and names the first bad entry (rule PP9).

Tampering is done the way an attacker with the database owner's rights would: triggers dropped,
raw SQL. Each test uses the `db` fixture, so the DDL and the damage roll back at its end.
"""

from __future__ import annotations

import datetime as dt

import pytest

from careaccess.core.audit import checkpoints, merkle
from careaccess.core.audit import verify as v
from careaccess.core.audit.models import Head

from .helpers import (
    GENESIS,
    append,
    drop_triggers,
    ensure,
    forge_at,
    insert_row,
    leaf_of,
    move,
    q,
    row,
    shift_up_from,
    size,
    sql,
)

pytestmark = pytest.mark.django_db

POSITIONS = ["first", "middle", "last"]


def _position(name: str, n: int) -> int:
    return {"first": 0, "middle": n // 2, "last": n - 1}[name]


@pytest.fixture
def ledger_of_some():
    """At least 40 entries (whatever other tests left) and a checkpoint over all of them."""
    append(5, tag="verify")
    n = ensure(40)
    checkpoints.make_checkpoint()
    return n


def test_an_untouched_ledger_verifies(ledger_of_some):  # rule PP9
    result = v.verify()
    assert result.ok, result.problem
    head = Head.objects.get(id=1)
    assert result.size == head.size == ledger_of_some
    assert result.root == checkpoints.head_root(head).hex()
    assert result.checkpoints_checked >= 1
    assert result.nodes_checked > 0


@pytest.mark.parametrize("batch", [1, 3, 7, 64])
def test_batch_boundaries_do_not_matter(ledger_of_some, batch):
    result = v.verify(batch=batch)
    assert result.ok, result.problem
    assert result.size == ledger_of_some


def test_times_with_and_without_microseconds_verify(clock):  # rule PP9
    before = size()
    append(1, tag="whole-second")  # the clock fixture is frozen on a whole second
    clock.advance(dt.timedelta(microseconds=123456))
    append(1, tag="fraction")
    clock.advance(dt.timedelta(microseconds=1))
    append(1, tag="tiny")
    assert size() == before + 3
    assert v.verify().ok


def test_progress_is_reported():
    ensure(10)
    seen, total = [], []
    result = v.verify(batch=4, progress=seen.append, total_hint=total.append)
    assert result.ok
    assert sum(seen) == result.size and total == [result.size]


# --- edit, delete, insert, reorder: first, middle, last ------------------------------------


@pytest.mark.parametrize("where", POSITIONS)
def test_an_edited_entry_is_found(ledger_of_some, where):  # rule PP9
    n = size()
    k = _position(where, n)
    drop_triggers()
    sql("UPDATE audit_entry SET reason = %s WHERE " + q("index") + " = %s", ["nothing to see", k])
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.EDITED
    assert result.problem.index == k
    assert "edited" in result.problem.message


@pytest.mark.parametrize("where", POSITIONS)
def test_a_removed_entry_is_found(ledger_of_some, where):  # rule PP9
    n = size()
    k = _position(where, n)
    drop_triggers()
    sql("DELETE FROM audit_entry WHERE " + q("index") + " = %s", [k])
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.REMOVED
    assert result.problem.index == k
    if where == "first":
        assert "index 0" in result.problem.message


@pytest.mark.parametrize("where", POSITIONS)
def test_an_inserted_entry_is_found(ledger_of_some, where):  # rule PP9
    """The best forgery: later entries moved up one place, a well-formed entry at k that links
    correctly to entry k-1 and carries a correct leaf hash of its own."""
    n = size()
    k = _position(where, n)
    prev = row(k - 1)["leaf_hash"] if k else GENESIS
    template = row(k)
    drop_triggers()
    shift_up_from(k)
    insert_row(forge_at(k, prev, template))
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.INSERTED
    assert result.problem.index == k
    assert f"entry {k} was inserted" in result.problem.message


def test_an_entry_added_after_the_last_is_found(ledger_of_some):  # rule PP9
    n = size()
    forged = forge_at(n, row(n - 1)["leaf_hash"], row(n - 1))
    insert_row(forged)  # no trigger stops an INSERT; the head was not moved with it
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.INSERTED
    assert result.problem.index == n


def test_an_entry_with_a_negative_index_is_found(ledger_of_some):
    forged = forge_at(-1, GENESIS, row(0))
    insert_row(forged)
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.INSERTED
    assert result.problem.index == 0


@pytest.mark.parametrize("where", POSITIONS)
def test_reordered_entries_are_found(ledger_of_some, where):  # rule PP9
    n = size()
    k = min(_position(where, n), n - 2)  # swap k and k+1
    drop_triggers()
    move(k, -5)
    move(k + 1, k)
    move(-5, k + 1)
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.CHAIN_BREAK
    assert result.problem.index == k


# --- cleverer attacks -------------------------------------------------------------------------


def test_an_entry_rewritten_with_its_hash_breaks_the_chain_after_it(ledger_of_some):  # rule PP9
    n = size()
    k = n // 2
    values = row(k)
    values["reason"] = "rewritten"
    drop_triggers()
    sql(
        "UPDATE audit_entry SET reason = %s, leaf_hash = %s WHERE " + q("index") + " = %s",
        ["rewritten", leaf_of(values), k],
    )
    result = v.verify()
    assert result.problem.kind == v.CHAIN_BREAK
    assert result.problem.index == k + 1


def test_the_last_entry_rewritten_with_its_hash_is_caught_by_the_head(ledger_of_some):
    n = size()
    values = row(n - 1)
    values["reason"] = "rewritten"
    drop_triggers()
    sql(
        "UPDATE audit_entry SET reason = %s, leaf_hash = %s WHERE " + q("index") + " = %s",
        ["rewritten", leaf_of(values), n - 1],
    )
    result = v.verify(check_nodes=False)
    assert not result.ok
    assert result.problem.index == n - 1


def test_a_rewrite_that_also_fixes_the_head_is_caught_by_the_signed_checkpoint(ledger_of_some):  # rule PP9
    checkpoints.make_checkpoint()
    n = size()
    values = row(n - 1)
    values["reason"] = "rewritten"
    new_leaf = leaf_of(values)
    drop_triggers()
    sql(
        "UPDATE audit_entry SET reason = %s, leaf_hash = %s WHERE " + q("index") + " = %s",
        ["rewritten", new_leaf, n - 1],
    )
    leaves = [bytes.fromhex(h) for (h,) in sql(f"SELECT leaf_hash FROM audit_entry ORDER BY {q('index')}")]
    frontier = merkle.Frontier.from_leaves(leaves)
    Head.objects.filter(id=1).update(last_hash=new_leaf, frontier=",".join(h.hex() for h in frontier.to_list()))
    result = v.verify(check_nodes=False)
    assert not result.ok
    assert result.problem.kind == v.CHECKPOINT
    assert result.problem.checkpoint_id is not None


def test_removing_entries_from_the_end_and_rewinding_the_head_is_caught_by_the_checkpoint(ledger_of_some):
    n = size()
    drop_triggers()
    sql(f"DELETE FROM audit_entry WHERE {q('index')} >= %s", [n - 3])
    leaves = [bytes.fromhex(h) for (h,) in sql(f"SELECT leaf_hash FROM audit_entry ORDER BY {q('index')}")]
    frontier = merkle.Frontier.from_leaves(leaves)
    Head.objects.filter(id=1).update(
        size=n - 3, last_hash=leaves[-1].hex(), frontier=",".join(h.hex() for h in frontier.to_list())
    )
    result = v.verify(check_nodes=False)
    assert not result.ok
    assert result.problem.kind == v.REMOVED
    assert result.problem.index == n - 3


def test_a_forged_checkpoint_signature_is_found(ledger_of_some):
    cp = checkpoints.make_checkpoint()
    drop_triggers()
    forged_root = "ab" * 32
    sql("UPDATE audit_checkpoint SET signature = %s WHERE id = %s", ["A" * 86 + "==", cp.id])
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.SIGNATURE
    assert result.problem.checkpoint_id == cp.id
    sql("UPDATE audit_checkpoint SET root_hash = %s WHERE id = %s", [forged_root, cp.id])
    assert v.verify().problem.kind == v.CHECKPOINT


def test_an_altered_node_is_found_and_can_be_skipped(ledger_of_some):
    key = sql(f"SELECT MIN({q('key')}) FROM audit_node")[0][0]
    drop_triggers()
    sql(f"UPDATE audit_node SET hash = %s WHERE {q('key')} = %s", ["cd" * 32, key])
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.NODE
    assert v.verify(check_nodes=False).ok


def test_an_altered_head_frontier_is_found(ledger_of_some):
    head = Head.objects.get(id=1)
    hashes = head.frontier.split(",")
    hashes[0] = "ef" * 32
    Head.objects.filter(id=1).update(frontier=",".join(hashes))
    result = v.verify()
    assert not result.ok
    assert result.problem.kind == v.HEAD


def test_result_as_dict_names_the_problem(ledger_of_some):
    drop_triggers()
    sql("DELETE FROM audit_entry WHERE " + q("index") + " = %s", [3])
    d = v.verify().as_dict()
    assert d["ok"] is False and d["problem"]["index"] == 3 and d["problem"]["kind"] == "removed"


TRICKY = [
    'quote " backslash \\ slash /',
    "controls \x00\x01\x08\t\n\x0b\x0c\r\x1f\x7f",
    "unicode é ß 中文 😀 \u2028\u2029 \ufeff",
    "",
    "null",
]


def test_entries_with_awkward_text_verify_on_the_fast_path():
    """The leaf text is built in SQL for speed; it must match Python's JSON byte for byte."""
    from careaccess.core.audit import ledger
    from careaccess.core.context import Actor
    from django.db import connection, transaction

    texts = [t.replace("\x00", "") if connection.vendor == "postgresql" else t for t in TRICKY]
    for text in texts:
        with transaction.atomic():
            ledger.record(
                "awkward." + str(len(text)), actor=Actor(kind="system", label=text or "x"), target_type="t",
                target_id=text, before={"k": text}, after=[text, None, 1.5, True], reason=text,
                organisation_code=None, person_uid=None,
            )
    result = v.verify()
    assert result.ok, result.problem
    assert result.slow_rows == 0


def test_rows_the_database_formats_differently_are_rechecked_in_python(monkeypatch, ledger_of_some):
    """Were the database's JSON ever to differ from Python's, verify must not cry wolf."""
    real = v._leaf_text_sql

    def differently():
        sql_text = real()
        return sql_text.replace(", prev_hash, leaf_hash FROM", " || ' ', prev_hash, leaf_hash FROM")

    monkeypatch.setattr(v, "_leaf_text_sql", differently)
    result = v.verify()
    assert result.ok, result.problem
    assert result.slow_rows == result.size
    drop_triggers()
    sql("UPDATE audit_entry SET reason = %s WHERE " + q("index") + " = %s", ["edited", 2])
    result = v.verify()
    assert result.problem.kind == v.EDITED and result.problem.index == 2


def test_appends_while_verifying_are_not_mistaken_for_tampering(ledger_of_some):
    added = []

    def append_during(n):
        if len(added) < 6:
            added.extend(append(2, tag="during-verify"))

    result = v.verify(batch=5, progress=append_during)
    assert result.ok, result.problem
    assert result.size == size()
    assert len(added) >= 6


def test_verify_with_a_given_public_key_and_without_the_local_key(ledger_of_some, settings, tmp_path):
    pem = checkpoints.public_key_pem()
    assert v.verify(public_key_pem=pem).ok
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    foreign = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    result = v.verify(public_key_pem=foreign)
    assert result.problem.kind == v.SIGNATURE
    settings.CAREACCESS_LEDGER_KEY = tmp_path / "absent.pem"
    result = v.verify()
    assert result.problem.kind == v.SIGNATURE and "not on this machine" in result.problem.message
    assert not (tmp_path / "absent.pem").exists()  # verify never makes a key


@pytest.mark.parametrize("in_sql", [True, False])
def test_both_ways_of_building_the_leaf_text_agree(ledger_of_some, in_sql):
    result = v.verify(leaf_text_in_sql=in_sql)
    assert result.ok, result.problem
    assert result.slow_rows == 0
    drop_triggers()
    sql("UPDATE audit_entry SET actor = %s WHERE " + q("index") + " = %s", ['A","B', 5])
    result = v.verify(leaf_text_in_sql=in_sql)
    assert result.problem.kind == v.EDITED and result.problem.index == 5


def test_a_deleted_head_row_or_junk_hashes_are_reported_not_crashed_on(ledger_of_some):
    drop_triggers()
    sql("UPDATE audit_entry SET prev_hash = '', leaf_hash = 'zz' WHERE " + q("index") + " = %s", [3])
    result = v.verify()
    assert result.problem.index == 3 and result.problem.kind == v.CHAIN_BREAK


def test_a_deleted_head_row_is_reported(ledger_of_some):
    sql("DELETE FROM audit_head")
    result = v.verify()
    assert not result.ok and result.problem.kind == v.HEAD


# --- ranges checked side by side: the joins --------------------------------------------------

SPAN = 8  # a tiny range, so a test ledger has many joins
JOINS = ["first", "last_of_a_range", "first_of_a_range", "second_of_a_range", "last"]


def _join_position(where: str, n: int) -> int:
    join = (n // 2) // SPAN * SPAN  # a range boundary in the middle of the ledger
    return {"first": 0, "last_of_a_range": join - 1, "first_of_a_range": join, "second_of_a_range": join + 1,
            "last": n - 1}[where]


def _tamper(kind: str, k: int) -> tuple[str, int]:
    """Edit, remove, insert before or swap with the next entry k; the finding one pass names."""
    if kind == "edit":
        drop_triggers()
        sql("UPDATE audit_entry SET reason = %s WHERE " + q("index") + " = %s", ["nothing to see", k])
        return v.EDITED, k
    if kind == "remove":
        drop_triggers()
        sql("DELETE FROM audit_entry WHERE " + q("index") + " = %s", [k])
        return v.REMOVED, k
    if kind == "insert":
        prev = row(k - 1)["leaf_hash"] if k else GENESIS
        template = row(k)
        drop_triggers()
        shift_up_from(k)
        insert_row(forge_at(k, prev, template))
        return v.INSERTED, k
    drop_triggers()  # reorder: swap k and k + 1
    move(k, -5)
    move(k + 1, k)
    move(-5, k + 1)
    return v.CHAIN_BREAK, k


def _same(a: v.Problem | None, b: v.Problem | None) -> bool:
    return (a.kind, a.index, a.message) == (b.kind, b.index, b.message) if a and b else a is b


@pytest.mark.parametrize("where", JOINS)
@pytest.mark.parametrize("kind", ["edit", "remove", "insert", "reorder"])
def test_the_first_bad_entry_is_named_exactly_on_either_side_of_a_join(ledger_of_some, kind, where):  # rule PP9
    n = size()
    k = _join_position(where, n)
    if kind == "reorder":
        k = min(k, n - 2)
    expected_kind, expected_index = _tamper(kind, k)
    ranged = v.verify(span=SPAN)
    assert not ranged.ok
    assert (ranged.problem.kind, ranged.problem.index) == (expected_kind, expected_index)
    assert _same(ranged.problem, v.verify().problem)  # what one range (one pass) reports, word for word


@pytest.mark.parametrize("span", [1, 2, SPAN, 1 << 20])
def test_any_span_gives_the_same_result(ledger_of_some, span):
    whole = v.verify()
    ranged = v.verify(span=span, batch=3)
    assert ranged.ok and whole.ok, ranged.problem
    assert (ranged.size, ranged.root, ranged.checkpoints_checked, ranged.nodes_checked) == (
        whole.size, whole.root, whole.checkpoints_checked, whole.nodes_checked)


def test_a_span_that_is_not_a_power_of_two_is_refused():
    with pytest.raises(ValueError, match="power of two"):
        v.verify(span=6)


@pytest.fixture
def checkpoint_at_a_join():
    """A checkpoint whose tree size is a range boundary, and entries after it."""
    append(2, tag="join")
    n = ensure(3 * SPAN)
    append(-n % SPAN, tag="to-join")
    cp = checkpoints.make_checkpoint()
    assert cp.tree_size % SPAN == 0
    append(3, tag="after-join")
    return cp


@pytest.mark.parametrize("offset", [-1, 0])
def test_an_insert_at_a_checkpoint_on_a_join_is_named_before_the_checkpoint(checkpoint_at_a_join, offset):
    k = checkpoint_at_a_join.tree_size + offset
    expected = _tamper("insert", k)
    ranged = v.verify(span=SPAN)
    assert (ranged.problem.kind, ranged.problem.index) == expected
    assert _same(ranged.problem, v.verify().problem)


def test_a_rewrite_before_a_checkpoint_on_a_join_is_caught_by_it(checkpoint_at_a_join):  # rule PP9
    s = checkpoint_at_a_join.tree_size
    drop_triggers()
    # Rewrite the last SPAN entries before the checkpoint, each with its hash and chained on, and
    # the chain after them: only the signed root at s can tell.
    leaves = [bytes.fromhex(h) for (h,) in sql(f"SELECT leaf_hash FROM audit_entry WHERE {q('index')} < %s "
                                               f"ORDER BY {q('index')}", [s - SPAN])]
    prev = leaves[-1].hex()
    for index in range(s - SPAN, size()):
        values = row(index)
        if index < s:
            values["reason"] = "rewritten"
        values["prev_hash"] = prev
        prev = leaf_of(values)
        sql(f"UPDATE audit_entry SET reason = %s, prev_hash = %s, leaf_hash = %s WHERE {q('index')} = %s",
            [values["reason"], values["prev_hash"], prev, index])
        leaves.append(bytes.fromhex(prev))
    frontier = merkle.Frontier.from_leaves(leaves)
    Head.objects.filter(id=1).update(last_hash=prev, frontier=",".join(h.hex() for h in frontier.to_list()))
    ranged = v.verify(span=SPAN, check_nodes=False)
    assert ranged.problem.kind == v.CHECKPOINT and ranged.problem.checkpoint_id == checkpoint_at_a_join.id
    assert _same(ranged.problem, v.verify(check_nodes=False).problem)


def test_an_altered_node_above_the_ranges_is_found(ledger_of_some):
    n = size()
    level = (n // (2 * SPAN)).bit_length() + SPAN.bit_length() - 1  # above one range, below the top
    level = min(level, n.bit_length() - 1)
    key = sql(f"SELECT MIN({q('key')}) FROM audit_node WHERE {q('key')} >= %s", [level << 48])[0][0]
    assert key >> 48 > SPAN.bit_length() - 1
    drop_triggers()
    sql(f"UPDATE audit_node SET hash = %s WHERE {q('key')} = %s", ["cd" * 32, key])
    result = v.verify(span=SPAN)
    assert result.problem.kind == v.NODE
    assert v.verify(span=SPAN, check_nodes=False).ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ranges_checked_in_worker_processes_give_the_same_result():
    """Outside a transaction the ranges go to processes with their own connections (committed
    entries only: the ledger is never emptied, so these stay, as valid entries)."""
    append(2, tag="workers")
    ensure(5 * SPAN)
    checkpoints.make_checkpoint()
    seen = []
    alone = v.verify(span=SPAN, workers=1)
    side_by_side = v.verify(span=SPAN, workers=2, progress=seen.append)
    assert alone.ok and side_by_side.ok, side_by_side.problem
    assert side_by_side.workers == 2 and alone.workers == 1
    assert sum(seen) == side_by_side.size
    assert (side_by_side.size, side_by_side.root, side_by_side.checkpoints_checked, side_by_side.nodes_checked) == (
        alone.size, alone.root, alone.checkpoints_checked, alone.nodes_checked)

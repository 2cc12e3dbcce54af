"""PostgreSQL writes entries pending and sequences them in batches (sequencing.py): the one UPDATE
the database allows is giving a pending entry its place, once, with its content unchanged; readers
see pending entries at the places they will get without placing them, and verify checks only
placed ones (rules PP9, SC2)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext

from careaccess.core.audit import ledger, sequencing
from careaccess.core.audit import verify as v
from careaccess.core.audit.models import Entry, Head

from .helpers import ACTOR, append, q, size, sql

# SQLite places each entry as it is written: nothing to sequence there.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def _pending(n: int) -> list[Entry]:
    with transaction.atomic():
        return ledger.record_many(
            [ledger.Change("test.pending", actor=ACTOR, target_type="t", target_id=i, after={"i": i}) for i in range(n)]
        )


def _raw_size() -> int:
    return Head.objects.get(id=1).size  # the placed entries only


def test_an_append_takes_no_lock_and_waits_for_its_place():  # rule PP9
    start = size()
    entries = _pending(3)
    assert all(e.index < 0 and e.leaf_hash == e.prev_hash == "" for e in entries)
    assert _raw_size() == start  # the head did not move
    assert sequencing.sequence() == 3
    placed = list(Entry.objects.filter(index__gte=start).order_by("index"))
    assert [e.target_id for e in placed] == ["0", "1", "2"]  # in the order written
    assert not sequencing.pending()
    assert v.verify().ok


def _pending_rows() -> list[tuple]:
    return sql(f"SELECT {q('index')}, prev_hash, leaf_hash FROM audit_entry WHERE {q('index')} < 0 "
               f"AND leaf_hash = '' ORDER BY {q('index')} DESC")


def test_reads_see_pending_entries_in_their_places_and_write_nothing():  # rules PP9, PP15
    start = size()
    placed = _raw_size()
    _pending(3)
    rows = _pending_rows()
    with CaptureQueriesContext(connection) as queries:
        assert size() == start + 3
        seen = list(Entry.objects.filter(index__gte=start).order_by("index"))
        assert Entry.objects.filter(action="test.pending", index__gte=start).count() == 3
        newest = list(Entry.objects.filter(index__gte=start).order_by("-index")[:2])
        one = Entry.objects.get(index=start + 1)
    # In the order written, at the places sequencing will give them, after the placed entries.
    assert [(e.index, e.target_id) for e in seen] == [(start, "0"), (start + 1, "1"), (start + 2, "2")]
    assert [e.target_id for e in newest] == ["2", "1"] and one.target_id == "1"
    assert all(e.leaf_hash == e.prev_hash == "" for e in seen)  # not placed yet: no hashes
    # Reading wrote nothing: no statement but SELECTs, the pending rows and the head as they were.
    assert all(query["sql"].lstrip().upper().startswith("SELECT") for query in queries.captured_queries)
    assert _pending_rows() == rows and _raw_size() == placed
    # Placed, they keep the places the readers saw.
    assert sequencing.sequence() == len(rows)
    assert [(e.index, e.target_id) for e in Entry.objects.filter(index__gte=start).order_by("index")] == [
        (start, "0"), (start + 1, "1"), (start + 2, "2")
    ]
    assert v.verify().ok


def test_placing_keeps_the_places_readers_saw():
    """Sequencing between two reads moves nothing the first saw; the second sees the next entry after."""
    start = size()
    _pending(2)
    before = list(Entry.objects.filter(index__gte=start).values_list("index", "target_id"))
    sequencing.sequence()
    _pending(1)
    after = list(Entry.objects.filter(index__gte=start).values_list("index", "target_id"))
    assert before == [(start, "0"), (start + 1, "1")]
    assert after == [(start, "0"), (start + 1, "1"), (start + 2, "0")]
    assert _raw_size() == start + 2 and size() == start + 3


def test_the_read_view_refuses_changes_like_the_table():  # rule PP9
    _pending(1)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            Entry.objects.filter(index__gte=0).update(reason="changed")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            Entry.objects.filter(action="test.pending").delete()


def test_small_batches_chain_like_one_large_one():
    start = size()
    _pending(23)
    assert sequencing.sequence(batch=4) == 23
    assert size() == start + 23
    assert v.verify().ok


@pytest.mark.parametrize(
    "change",
    [
        "reason = 'rewritten'",  # content, with the sequencing
        "after = '{}'",
        "recorded_at = recorded_at + interval '1 second'",
    ],
)
def test_sequencing_cannot_change_an_entrys_content(change):  # rule PP9
    [entry] = _pending(1)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            sql(
                f"UPDATE audit_entry SET {q('index')} = %s, prev_hash = %s, leaf_hash = %s, {change} "
                f"WHERE {q('index')} = %s",
                [10**9, "a" * 64, "b" * 64, entry.index],
            )


def test_a_pending_entry_cannot_be_edited_deleted_or_half_placed():  # rule PP9
    [entry] = _pending(1)
    for statement, params in [
        ("UPDATE audit_entry SET reason = 'x' WHERE " + q("index") + " = %s", [entry.index]),
        ("DELETE FROM audit_entry WHERE " + q("index") + " = %s", [entry.index]),
        ("UPDATE audit_entry SET " + q("index") + " = %s WHERE " + q("index") + " = %s", [10**9, entry.index]),
    ]:
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic():
                sql(statement, params)


def test_a_placed_entry_cannot_be_placed_again():  # rule PP9
    [entry] = append(1, tag="placed")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            sql(
                f"UPDATE audit_entry SET {q('index')} = %s, prev_hash = %s, leaf_hash = %s WHERE {q('index')} = %s",
                [10**9, "a" * 64, "b" * 64, entry.index],
            )


def test_verify_skips_entries_committed_after_it_sequenced(monkeypatch):
    append(3, tag="before-verify")
    monkeypatch.setattr(v, "sequence", lambda: 0)  # as if they committed just after verify sequenced
    _pending(2)
    result = v.verify()
    assert result.ok, result.problem
    assert result.size == _raw_size()


def test_a_negative_index_with_hashes_is_not_a_pending_entry(monkeypatch):
    [entry] = append(1, tag="forged")
    monkeypatch.setattr(v, "sequence", lambda: 0)
    values = {c: getattr(entry, c) for c in ledger.ENTRY_COLUMNS}
    values.update(index=-10**9, reason="slipped in")
    with connection.cursor() as cursor:
        names = list(values)
        cursor.execute(
            f"INSERT INTO audit_entry ({', '.join(q(n) for n in names)}) VALUES ({', '.join(['%s'] * len(names))})",
            [values[n] for n in names],
        )
    result = v.verify()
    assert result.problem.kind == v.INSERTED


def test_only_pending_entries_enter_the_pending_index():
    """The look for pending entries reads a partial index (migration 0003), not the dead primary-key
    entries that placements leave below index 0."""
    [(definition,)] = sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'audit_entry_pending'")
    assert "WHERE ((leaf_hash)::text = ''::text)" in definition
    _pending(1)
    assert sequencing.pending()
    sequencing.sequence()
    assert not sequencing.pending()

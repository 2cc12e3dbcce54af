"""Reading the ledger: who may, what they see, and that reading is recorded (rule PP15)."""

import datetime as dt

import pytest

from careaccess.core.audit import search
from careaccess.core.audit.models import Entry, Head
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.directory import services, testing

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(clock):
    testing.staff_catalogue()
    icb = testing.organisation("QWO", kind="icb", oversees_descendants=True)
    practice = testing.organisation("B86001", parent="QWO")
    other_icb = testing.organisation("QXX", kind="icb", oversees_descendants=True)
    elsewhere = testing.organisation("B99001", parent="QXX")
    return icb, practice, other_icb, elsewhere


def test_only_auditors_and_ra_managers_read_the_ledger(tree):
    icb, practice, *_ = tree
    sponsor = testing.staff(practice, "sponsor")
    with pytest.raises(Forbidden):
        search.entries(sponsor, search.EntryFilter())
    for capability in ("auditor", "ra_manager"):
        reader = testing.staff(icb, capability)
        assert search.entries(reader, search.EntryFilter(organisation="B86001")).exists()


def test_an_auditor_sees_only_the_organisations_their_position_covers(tree):
    icb, practice, other_icb, elsewhere = tree
    auditor = testing.staff(other_icb, "auditor")
    testing.position(practice, "Clerk")
    testing.position(elsewhere, "Clerk")
    seen = set(search.entries(auditor, search.EntryFilter(action="position.created")).values_list("organisation_code", flat=True))
    assert "B99001" in seen and "B86001" not in seen


def test_filters_by_person_kind_and_time(tree, clock):
    icb, practice, *_ = tree
    auditor = testing.staff(icb, "auditor")
    person = testing.person(given_name="Fay")
    start = clock.now()
    clock.advance(dt.timedelta(hours=1))
    services.update_person(testing.SYSTEM, person, phone="01134960000")
    services.create_assignment(testing.SYSTEM, person, testing.position(practice, "Clerk"))
    found = search.entries(auditor, search.EntryFilter(person=person.uid, since=start + dt.timedelta(minutes=30)))
    assert [e.action for e in found] == ["assignment.created", "person.updated"]
    assert list(search.entries(auditor, search.EntryFilter(person=person.uid, action="person.updated")).values_list("action", flat=True)) == ["person.updated"]


def test_reading_is_recorded(tree):
    icb, *_ = tree
    auditor = testing.staff(icb, "auditor")
    filters = search.EntryFilter(organisation="B86001")
    shown = len(search.entries(auditor, filters)[:50])
    size = Head.objects.size()
    search.record_search(auditor, filters, shown)
    entry = Entry.objects.get(index=size)
    assert entry.action == "audit.searched" and entry.actor_uid == auditor.person_uid
    assert entry.organisation_code == "B86001"


def test_bad_filters_are_refused_clearly(tree):
    icb, *_ = tree
    auditor = testing.staff(icb, "auditor")
    with pytest.raises(InvalidInput, match="12-digit"):
        search.entries(auditor, search.EntryFilter(person="bob"))
    with pytest.raises(InvalidInput, match="after its start"):
        now = dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc)
        search.entries(auditor, search.EntryFilter(since=now, until=now - dt.timedelta(days=1)))

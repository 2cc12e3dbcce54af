"""Reading the ledger through the API and on the page (issue 3 part 3, rule PP15): filters, pages,
who may read, links to the access request that caused an entry, and that reading is recorded.

The ledger is never flushed between tests (see helpers.py): every test filters by its own people
and organisations, or reasons from the ledger's size before it acted.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction

from careaccess.api.testing import ApiClient, client_for
from careaccess.core.audit import ledger
from careaccess.core.audit.models import Entry, Head
from careaccess.core.context import Actor, request_scope
from careaccess.directory import services, testing
from careaccess.directory.models import Person

PASSWORD = "correct horse battery staple"
REQUEST_REF = "REQ-7KQ4M2XP"


def size() -> int:
    return Head.objects.size()


class World:
    pass


def _build(clock, n: int = 1) -> World:
    """Organisations and a web request id of their own for each n: entries outlive transactional tests."""
    w = World()
    testing.staff_catalogue()
    w.icb = testing.organisation(f"QR{'ABC'[n - 1]}", kind="icb", oversees_descendants=True)
    w.practice = testing.organisation(f"B8700{n}", parent=w.icb.code)
    w.other_icb = testing.organisation(f"QS{'ABC'[n - 1]}", kind="icb", oversees_descendants=True)
    w.elsewhere = testing.organisation(f"B9700{n}", parent=w.other_icb.code)
    w.auditor = testing.staff(w.icb, "auditor", name="Audrey")
    w.sponsor = testing.staff(w.practice, "sponsor", name="Sunil")
    w.subject = testing.person(given_name="Fay", family_name="Fairweather")
    w.start = clock.now()
    clock.advance(dt.timedelta(hours=1))
    services.update_person(testing.SYSTEM, w.subject, phone="01134960000")
    services.create_assignment(testing.SYSTEM, w.subject, testing.position(w.practice, "Receptionist"))
    # An entry caused by an access request, made by one web request (as the request services write them).
    with request_scope(f"web-request-000{n}") as w.request_id, transaction.atomic():
        ledger.record("request.approved", actor=Actor.system("test"), target_type="access_request",
                      target_id=1, before={"state": "validated"}, after={"state": "approved"},
                      person_uid=w.subject.uid, organisation_code=w.practice.code, access_request=REQUEST_REF,
                      reason="least role that fits")
    # Read back at its place (on PostgreSQL record() leaves it pending; readers see it where it will be placed).
    w.caused = Entry.objects.filter(request_id=w.request_id).order_by("-index").first()
    testing.position(w.elsewhere, "Clerk")  # outside the auditor's scope
    return w


@pytest.fixture
def world(db, clock) -> World:
    return _build(clock)


# --- the API ---

@pytest.mark.django_db
def test_api_filters_by_person_organisation_kind_and_time(world):
    api = client_for(actor=world.auditor)
    uid = world.subject.uid
    items = api.get("/audit/entries", person=uid).json()["items"]
    assert [i["action"] for i in items] == ["request.approved", "assignment.created", "person.updated", "person.created"]
    assert [i["index"] for i in items] == sorted((i["index"] for i in items), reverse=True)  # newest first
    assert all(uid in (i["person"], i["actor_uid"]) for i in items)

    kinds = api.get("/audit/entries", person=uid, action="person.").json()["items"]
    assert [i["action"] for i in kinds] == ["person.updated", "person.created"]

    def changes(items):  # the searches above are entries about the person too, made just now
        return [i["action"] for i in items if not i["action"].startswith("audit.")]

    since = (world.start + dt.timedelta(minutes=30)).isoformat()
    recent = api.get("/audit/entries", person=uid, since=since).json()["items"]
    assert changes(recent) == ["request.approved", "assignment.created", "person.updated"]
    before = api.get("/audit/entries", person=uid, until=since).json()["items"]
    assert changes(before) == ["person.created"] == [i["action"] for i in before]

    expected = Entry.objects.filter(organisation_code="B87001").count()
    organisation = api.get("/audit/entries", organisation="b87001", page_size=500).json()
    assert organisation["count"] == expected
    assert {i["organisation"] for i in organisation["items"]} == {"B87001"}

    by_actor = api.get("/audit/entries", actor=world.auditor.person_uid, action="audit.").json()["items"]
    assert by_actor and {i["actor_uid"] for i in by_actor} == {world.auditor.person_uid}

    # Outside the auditor's scope: another ICB's organisation.
    assert api.get("/audit/entries", organisation="B97001").json()["count"] == 0


@pytest.mark.django_db
def test_api_entries_carry_the_request_that_caused_them(world):
    api = client_for(actor=world.auditor)
    [item] = api.get("/audit/entries", access_request=REQUEST_REF, person=world.subject.uid).json()["items"]
    assert item["index"] == world.caused.index
    assert item["links"] == {
        "entry": f"/api/v1/audit/entries/{world.caused.index}",
        "access_request": f"/api/v1/requests/{REQUEST_REF}",
        "same_request": "/api/v1/audit/entries?request_id=web-request-0001",
    }
    assert item["before"] == {"state": "validated"} and item["after"] == {"state": "approved"}
    assert item["reason"] == "least role that fits" and item["actor_kind"] == "system"
    assert item["leaf_hash"] == world.caused.leaf_hash and item["request_id"] == "web-request-0001"

    same = api.client.get(item["links"]["same_request"], headers=api.headers).json()
    assert [i["index"] for i in same["items"]] == [world.caused.index]
    one = api.get(f"/audit/entries/{world.caused.index}")
    assert one.status_code == 200 and one.json() == item

    plain = api.get("/audit/entries", person=world.subject.uid, action="person.updated").json()["items"][0]
    assert plain["links"]["access_request"] is None and plain["links"]["same_request"] is None


@pytest.mark.django_db
def test_api_pages(world):
    api = client_for(actor=world.auditor)
    everything = api.get("/audit/entries", organisation="B87001", page_size=500).json()
    first = api.get("/audit/entries", organisation="B87001", page_size=2).json()
    second = api.get("/audit/entries", organisation="B87001", page_size=2, page=2).json()
    # Each search is itself a newer entry at B87001: the first two of page 2 are now the two newest
    # entries the first search saw.
    assert second["count"] == first["count"] + 1 == everything["count"] + 2 >= 7
    assert (first["page"], first["page_size"], second["page"]) == (1, 2, 2)
    assert [i["index"] for i in second["items"]] == [i["index"] for i in everything["items"][0:2]]
    assert [i["action"] for i in first["items"]] == ["audit.searched", "request.approved"]
    beyond = api.get("/audit/entries", organisation="B87001", page=999).json()
    assert beyond["items"] == [] and beyond["count"] > 0

    bad = api.get("/audit/entries", page=0, page_size=501)
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"page", "page_size"}


@pytest.mark.django_db
def test_api_refuses_bad_filters_clearly(world):
    api = client_for(actor=world.auditor)
    checks = {
        ("person", "bob"): "12-digit",
        ("since", "2026-06-01T09:00:00"): "offset",
        ("since", "yesterday"): "ISO 8601",
    }
    before = size()
    for (field, value), fix in checks.items():
        response = api.get("/audit/entries", **{field: value})
        assert response.status_code == 422, (field, value)
        assert response["Content-Type"] == "application/problem+json"
        assert fix in response.json()["errors"][field]
    backwards = api.get("/audit/entries", since="2026-06-02T00:00:00Z", until="2026-06-01T00:00:00Z")
    assert "after its start" in backwards.json()["errors"]["until"]
    assert size() == before  # a refused search reads nothing, so records nothing


@pytest.mark.django_db
def test_api_only_auditors_and_ra_managers_read_with_a_token(world):
    assert ApiClient().get("/audit/entries").status_code == 401
    assert ApiClient().get(f"/audit/entries/{world.caused.index}").status_code == 401
    sponsor = client_for(actor=world.sponsor)
    refused = sponsor.get("/audit/entries", person=world.subject.uid)
    assert refused.status_code == 403 and refused.json()["type"] == "urn:careaccess:problem:forbidden"
    assert sponsor.get(f"/audit/entries/{world.caused.index}").status_code == 403

    ra_manager = client_for(actor=testing.staff(world.icb, "ra_manager"))
    assert ra_manager.get("/audit/entries", person=world.subject.uid).json()["count"] == 4
    # An entry outside the reader's scope is as absent as one that does not exist.
    outside = Entry.objects.filter(organisation_code="B97001").order_by("-index").first()
    assert ra_manager.get(f"/audit/entries/{outside.index}").status_code == 404
    for index in (10**15, 10**20, -1):
        missing = ra_manager.get(f"/audit/entries/{index}")
        assert missing.status_code == 404 and missing["Content-Type"] == "application/problem+json", index


@pytest.mark.django_db
def test_api_reading_is_recorded(world):
    api = client_for(actor=world.auditor)
    at = size()
    response = api.get("/audit/entries", person=world.subject.uid, action="person.", page_size=1)
    searched = Entry.objects.get(index=at)
    assert searched.action == "audit.searched" and searched.actor_uid == world.auditor.person_uid
    assert searched.actor_position and searched.person_uid == world.subject.uid
    assert json.loads(searched.after) == {"filters": {"person": world.subject.uid, "action": "person."}, "shown": 1}
    assert searched.request_id == response["X-Request-ID"]

    api.get(f"/audit/entries/{world.caused.index}")
    read = Entry.objects.get(index=at + 1)
    assert (read.action, read.target_type, read.target_id) == ("audit.entry_read", "audit_entry", str(world.caused.index))
    assert read.person_uid == world.subject.uid and read.organisation_code == "B87001"
    assert size() == at + 2


def test_api_is_documented(db):
    schema = ApiClient().client.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/audit/entries", "/api/v1/audit/entries/{index}"):
        operation = schema["paths"][path]["get"]
        assert operation["summary"] and operation["security"] == [{"BearerToken": []}]
        assert {"401", "403"} <= set(operation["responses"])
    parameters = {p["name"] for p in schema["paths"]["/api/v1/audit/entries"]["get"]["parameters"]}
    assert parameters == {"page", "page_size", "person", "organisation", "actor", "action", "access_request",
                          "request_id", "since", "until"}


# --- the page ---

def sign_in(client, actor: Actor, password: str | None = None):
    """Give the actor's person a sign-in (no service makes them yet) and sign the test client in."""
    person = Person.objects.get(pk=actor.person_id)
    user = get_user_model().objects.create_user(username=person.uid, password=password)
    Person.objects.filter(pk=person.pk).update(user=user)
    if client is not None:
        client.force_login(user)
    return person


def squash(response) -> str:
    """The page's HTML with no whitespace next to tags and single spaces elsewhere (the macros indent)."""
    return re.sub(r"\s*([<>])\s*", r"\1", re.sub(r"\s+", " ", response.content.decode()))


@pytest.mark.django_db
def test_page_shows_an_auditor_the_entries_newest_first(client, world):
    sign_in(client, world.auditor)
    home = squash(client.get("/"))
    assert '<a href="/audit/">Read the audit ledger</a>' in home

    at = size()
    page = squash(client.get("/audit/", {"person": world.subject.uid}))
    assert "<title>Search the audit ledger – careaccess</title>" in page
    assert "Showing entries 1 to 4 of 4, newest first." in page
    linked = [int(i) for i in re.findall(r'<a href="/audit/(\d+)">', page)]
    assert linked == sorted(linked, reverse=True) and len(linked) == 4
    assert linked[0] == world.caused.index
    assert "person.updated" in page and "request.approved" in page
    assert Entry.objects.get(index=at).action == "audit.searched"

    # Dates are whole days, local time: the entries (and the search just made) were on 1 June 2026.
    day = {"person": world.subject.uid, "from_day": "1", "from_month": "6", "from_year": "2026"}
    assert "of 5, newest first" in squash(client.get("/audit/", {**day, "to_day": "1", "to_month": "6", "to_year": "2026"}))
    may = {"from_day": "31", "from_month": "5", "to_day": "31", "to_month": "5", "to_year": "2026"}
    assert "No entries match" in squash(client.get("/audit/", {**day, **may}))
    later = squash(client.get("/audit/", {**day, "from_day": "2"}))
    assert "No entries match" in later


@pytest.mark.django_db
def test_page_is_paginated(client, world, settings):
    settings.CAREACCESS_PAGE_SIZE = 3
    sign_in(client, world.auditor)
    first = squash(client.get("/audit/", {"person": world.subject.uid, "kind": "person."}))
    assert "Showing entries 1 to 2 of 2" in first and "nhsuk-pagination" not in first
    first = squash(client.get("/audit/", {"person": world.subject.uid}))
    assert "Showing entries 1 to 3 of 5" in first  # the 4 entries and the first search's record
    assert 'href="/audit/?person=' in first and "page=2" in first
    second = squash(client.get("/audit/", {"person": world.subject.uid, "page": "2"}))
    assert "Showing entries 4 to 6 of 6" in second and 'rel="prev"' in second


@pytest.mark.django_db
def test_page_bad_input_shows_the_error_summary(client, world):
    sign_in(client, world.auditor)
    before = size()
    page = squash(client.get("/audit/", {"person": "12345", "from_day": "31", "from_month": "2", "from_year": "2026",
                                         "to_day": "1", "to_year": "2026"}))
    assert "<title>Error: Search the audit ledger – careaccess</title>" in page
    assert 'class="nhsuk-error-summary"' in page
    assert '<a href="#person">Enter the person&#39;s 12-digit user ID, like 123456789012</a>' in page
    assert '<a href="#from_day">From date must be a real date</a>' in page
    assert '<a href="#to_month">To date must include a month</a>' in page
    assert 'value="12345"' in page  # what was typed is shown again
    assert "Showing entries" not in page
    assert size() == before  # nothing was read, so nothing recorded

    backwards = squash(client.get("/audit/", {"from_day": "2", "from_month": "6", "from_year": "2026",
                                              "to_day": "1", "to_month": "6", "to_year": "2026"}))
    assert '<a href="#to_day">To date must be the same as or after the from date</a>' in backwards


@pytest.mark.django_db
def test_page_entry_shows_before_after_and_links(client, world):
    sign_in(client, world.auditor)
    at = size()
    page = squash(client.get(f"/audit/{world.caused.index}"))
    assert "<title>Audit entry" in page and ">request.approved</h1>" in page
    assert f'<a href="/requests/{REQUEST_REF}">{REQUEST_REF}</a>' in page
    assert '<a href="/audit/?request_id=web-request-0001">Everything from this web request</a>' in page
    assert f'<a href="/audit/?person={world.subject.uid}">{world.subject.uid}</a>' in page
    assert '&#34;state&#34;: &#34;validated&#34;' in page and '&#34;state&#34;: &#34;approved&#34;' in page
    assert "least role that fits" in page and world.caused.leaf_hash in page
    read = Entry.objects.get(index=at)
    assert read.action == "audit.entry_read" and read.target_id == str(world.caused.index)

    same = squash(client.get("/audit/", {"request_id": "web-request-0001"}))
    assert "Showing entries 1 to 1 of 1" in same

    outside = Entry.objects.filter(organisation_code="B97001").order_by("-index").first()
    assert client.get(f"/audit/{outside.index}").status_code == 404
    assert client.get(f"/audit/{10**20}").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db
def test_page_says_when_an_entry_waits_for_its_place(client, world):
    """PostgreSQL: an entry just written is shown at its provisional place without placing it."""
    from careaccess.core.audit import sequencing

    sign_in(client, world.auditor)
    sequencing.sequence()
    at = size()
    with transaction.atomic():
        ledger.record("test.pending_page", actor=Actor.system("t"), target_type="t", target_id=1,
                      organisation_code=world.practice.code)
    page = squash(client.get(f"/audit/{at}"))
    assert ">test.pending_page</h1>" in page and 'id="pending"' in page and "audit prove" not in page
    sequencing.sequence()
    page = squash(client.get(f"/audit/{at}"))
    assert 'id="pending"' not in page and Entry.objects.get(index=at).leaf_hash in page


@pytest.mark.django_db
def test_page_is_for_auditors_and_ra_managers_only(client, world):
    assert client.get("/audit/").url.startswith("/sign-in?next=")
    sign_in(client, world.sponsor)
    refused = client.get("/audit/", {"person": world.subject.uid})
    assert refused.status_code == 403
    assert "Auditor" in refused.content.decode() and "RA manager" in refused.content.decode()
    assert client.get(f"/audit/{world.caused.index}").status_code == 403


# --- in a browser ---

@pytest.mark.browser
def test_browser_auditor_searches_by_person_and_opens_an_entry(live_server, page, transactional_db, clock):
    w = _build(clock, 2)
    auditor = sign_in(None, w.auditor, PASSWORD)

    page.goto(f"{live_server.url}/sign-in")
    page.fill("#username", auditor.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("link", name="Read the audit ledger", exact=True).click()
    page.wait_for_url(f"{live_server.url}/audit/")

    page.fill("#person", w.subject.uid)
    page.click("button:has-text('Search')")
    page.wait_for_url(re.compile(r".*/audit/\?.*person=" + w.subject.uid))
    assert "Showing entries 1 to 4 of 4" in page.locator("#results-count").inner_text()
    rows = page.locator("table tbody tr")
    assert rows.count() == 4
    assert "request.approved" in rows.nth(0).inner_text()
    page.screenshot(path="/tmp/audit-search.png", full_page=True)

    rows.nth(0).locator("a").first.click()
    page.wait_for_url(f"{live_server.url}/audit/{w.caused.index}")
    assert page.locator("h1").inner_text() == "request.approved"
    assert page.locator(f"a[href='/requests/{REQUEST_REF}']").inner_text() == REQUEST_REF
    assert '"state": "approved"' in page.locator("#after").inner_text()
    page.screenshot(path="/tmp/audit-entry.png", full_page=True)
    page.get_by_role("link", name="Everything from this web request").click()
    page.wait_for_url(re.compile(r".*/audit/\?request_id=web-request-0002"))
    assert "Showing entries 1 to 1 of 1" in page.locator("#results-count").inner_text()

"""Whom the API's people operations answer about: staff read only the people who hold or held a
position at an organisation their acting position covers (rules SC8, SC10, DS15), the same rule
and code as the `/people` pages (`directory.person_search`); anyone else is 404 for one and absent
from lists, never told apart from a user id nobody has. People placed nowhere are read only by a
position covering every organisation. Relying services read everyone, as before. Staff reads are
audit ledger entries (rules PP9, PP15)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from careaccess.api.testing import SYSTEM, ApiClient, client_for
from careaccess.core import permissions
from careaccess.core.audit.models import Entry
from careaccess.core.context import Actor
from careaccess.directory import person_search, services
from careaccess.directory import testing as build
from careaccess.directory.models import Person
from careaccess.reports import selectors as reports

pytestmark = pytest.mark.django_db


@dataclass
class Region:
    ra_manager: ApiClient  # at the registration authority, which oversees every organisation
    icb_lead: ApiClient  # an auditor at the ICB, which oversees practices A and B (not C)
    sponsor_a: ApiClient
    sponsor_b: ApiClient
    portal: ApiClient  # a relying service's token
    sponsor_a_actor: Actor
    icb_lead_actor: Actor
    ra_manager_actor: Actor
    only_b: Person  # a nurse placed only at practice B
    leaver: Person  # left practice A, now at practice C (SC10)
    locum: Person  # placed at practices A and B (DS15)
    unplaced: Person  # registered, placed nowhere yet
    only_c: Person  # at practice C, under the other ICB


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def uids(response) -> set[str]:
    return {p["uid"] for p in ok(response)["items"]}


def place(person: Person, organisation, name: str, **dates):
    return services.create_assignment(SYSTEM, person, build.position(organisation, f"{name} {person.uid}"), **dates)


@pytest.fixture
def region(db, clock) -> Region:
    build.staff_catalogue()
    authority = build.organisation("RA1", kind="registration_authority", oversees_descendants=True)
    icb = build.organisation("QAA", parent="RA1", kind="icb", oversees_descendants=True)
    practice_a = build.organisation("A11111", parent="QAA")
    practice_b = build.organisation("B22222", parent="QAA")
    build.organisation("QBB", parent="RA1", kind="icb", oversees_descendants=True)
    practice_c = build.organisation("C33333", parent="QBB")

    ra_manager = build.staff(authority, "ra_manager", name="Morgan")
    icb_lead = build.staff(icb, "auditor", name="Ida")
    sponsor_a = build.staff(practice_a, "sponsor", name="Ann")
    sponsor_b = build.staff(practice_b, "sponsor", name="Bob")

    only_b = build.person("Nia", "Nurse")
    place(only_b, practice_b, "Nurse")
    leaver = build.person("Lee", "Leaver")
    gone = place(leaver, practice_a, "Receptionist", starts_on=dt.date(2025, 1, 6))
    services.update_assignment(SYSTEM, gone, state="ended", reason="left for practice C")
    place(leaver, practice_c, "Receptionist")
    locum = build.person("Lou", "Locum")
    place(locum, practice_a, "Locum GP")
    place(locum, practice_b, "Locum GP")
    unplaced = build.person("Una", "Unplaced")
    only_c = build.person("Cal", "Carer")
    place(only_c, practice_c, "Carer")

    portal = services.create_service(SYSTEM, code="care-portal", name="Care Portal",
                                     roles=[{"code": "care-professional", "name": "Care Professional"}])
    return Region(
        ra_manager=client_for(actor=ra_manager), icb_lead=client_for(actor=icb_lead),
        sponsor_a=client_for(actor=sponsor_a), sponsor_b=client_for(actor=sponsor_b),
        portal=client_for(service=portal),
        sponsor_a_actor=sponsor_a, icb_lead_actor=icb_lead, ra_manager_actor=ra_manager,
        only_b=only_b, leaver=leaver, locum=locum, unplaced=unplaced, only_c=only_c,
    )


def not_found(client: ApiClient, path: str) -> dict:
    response = client.get(path)
    assert response.status_code == 404, response.content
    return response.json()


# --- one person, and their access ---

def test_a_practice_cannot_read_a_person_placed_only_at_another_practice(region):
    # rule SC8: belonging comes only through positions; 404 as for a user id nobody has
    r = region
    for path in (f"/people/{r.only_b.uid}", f"/people/{r.only_b.uid}/access"):
        hidden = not_found(r.sponsor_a, path)
        nobody = not_found(r.sponsor_a, path.replace(r.only_b.uid, "999999999999"))
        assert hidden["detail"] == nobody["detail"].replace("999999999999", r.only_b.uid)
    assert ok(r.sponsor_b.get(f"/people/{r.only_b.uid}"))["uid"] == r.only_b.uid
    assert ok(r.sponsor_b.get(f"/people/{r.only_b.uid}/access"))["organisations"] == ["B22222"]


def test_a_practice_still_reads_a_leaver_who_held_a_position_there(region):
    # rule SC10: the leaver keeps their record; the site they left still finds them
    r = region
    assert ok(r.sponsor_a.get(f"/people/{r.leaver.uid}"))["uid"] == r.leaver.uid
    access = ok(r.sponsor_a.get(f"/people/{r.leaver.uid}/access"))
    assert access["organisations"] == ["C33333"]  # their live access now: the new employer's
    assert r.leaver.uid in uids(r.sponsor_a.get("/people", q="Leaver"))
    not_found(r.sponsor_b, f"/people/{r.leaver.uid}")  # never placed at B


def test_a_locum_is_read_by_each_site_holding_their_position(region):
    # rule DS15: each site adds its own position for the locum
    r = region
    for client in (r.sponsor_a, r.sponsor_b):
        assert ok(client.get(f"/people/{r.locum.uid}"))["uid"] == r.locum.uid
        assert r.locum.uid in uids(client.get("/people", q="Locum"))
        assert ok(client.get(f"/people/{r.locum.uid}/access"))["organisations"] == ["A11111", "B22222"]


def test_an_icb_position_overseeing_its_practices_reads_their_people_but_not_the_unplaced(region):
    r = region
    for person in (r.only_b, r.leaver, r.locum):
        assert ok(r.icb_lead.get(f"/people/{person.uid}"))["uid"] == person.uid
    not_found(r.icb_lead, f"/people/{r.only_c.uid}")  # under the other ICB
    not_found(r.icb_lead, f"/people/{r.unplaced.uid}")  # placed nowhere: not every organisation covered
    listed = uids(r.icb_lead.get("/people", page_size=500))
    assert {r.only_b.uid, r.leaver.uid, r.locum.uid} <= listed
    assert r.only_c.uid not in listed and r.unplaced.uid not in listed


def test_the_ra_manager_covering_everything_reads_people_placed_nowhere(region):
    r = region
    assert ok(r.ra_manager.get(f"/people/{r.unplaced.uid}"))["uid"] == r.unplaced.uid
    assert ok(r.ra_manager.get(f"/people/{r.unplaced.uid}/access"))["positions"] == []
    assert uids(r.ra_manager.get("/people", q="Unplaced")) == {r.unplaced.uid}
    assert uids(r.ra_manager.get("/people", page_size=500)) == set(Person.objects.values_list("uid", flat=True))
    for client in (r.sponsor_a, r.sponsor_b):
        not_found(client, f"/people/{r.unplaced.uid}")
        assert uids(client.get("/people", q="Unplaced")) == set()


# --- lists ---

def test_a_practice_lists_only_its_people_and_q_is_the_indexed_search(region):
    r = region
    listed = uids(r.sponsor_a.get("/people", page_size=500))
    assert {r.leaver.uid, r.locum.uid} <= listed
    assert not listed & {r.only_b.uid, r.only_c.uid, r.unplaced.uid}
    body = ok(r.sponsor_a.get("/people", q="Nurse"))
    assert body["items"] == [] and body["count"] == 0  # absent, not refused
    assert uids(r.sponsor_b.get("/people", q="Nia Nur")) == {r.only_b.uid}  # given-name start, family-name start
    assert uids(r.sponsor_b.get("/people", q=r.only_b.uid)) == {r.only_b.uid}
    assert uids(r.sponsor_a.get("/people", q=r.only_b.uid)) == set()
    assert uids(r.sponsor_b.get("/people", q="NIA.NURSE@example.nhs.uk")) == {r.only_b.uid}
    assert uids(r.sponsor_b.get("/people", q="urse")) == set()  # a prefix, not words anywhere in the name
    for typed, message in (("12345", "12 digits"), ("nia@", "whole email address"), ("Nu%", "letters")):
        response = r.sponsor_b.get("/people", q=typed)
        assert response.status_code == 422 and message in response.json()["errors"]["q"]


def test_list_filters_keep_working_within_the_scope(region):
    r = region
    assert uids(r.sponsor_a.get("/people", organisation="A11111")) >= {r.locum.uid}
    assert r.leaver.uid not in uids(r.sponsor_a.get("/people", organisation="A11111"))  # live there: no longer
    assert r.sponsor_a.get("/people", organisation="B22222").status_code == 403
    assert uids(r.icb_lead.get("/people", organisation="B22222", q="Locum")) == {r.locum.uid}
    services.update_person(SYSTEM, r.locum, status="suspended")
    assert uids(r.sponsor_a.get("/people", status="suspended")) == {r.locum.uid}
    assert uids(r.sponsor_a.get("/people", status="active", q="Locum")) == set()


def test_names_are_listed_in_index_order_a_page_at_a_time(region):
    r = region
    practice_a = build.organisation("A11111")
    for given in ("Cy", "Ann", "Bea"):
        place(build.person(given, "Tailor"), practice_a, f"Nurse {given}")
    first = ok(r.sponsor_a.get("/people", q="Tai", page_size=2))
    second = ok(r.sponsor_a.get("/people", q="Tai", page_size=2, page=2))
    assert [p["given_name"] for p in first["items"] + second["items"]] == ["Ann", "Bea", "Cy"]
    assert first["count"] == second["count"] == 3


def test_a_change_answers_with_the_record_so_the_read_rule_applies_first(region):
    r = region
    agent = client_for(actor=build.staff(build.organisation("A11111"), "ra_agent", name="Ria"))
    response = agent.patch(f"/people/{r.only_b.uid}", {"phone": "0113 496 0000"})
    assert response.status_code == 404 and "999999999999" not in response.json()["detail"]
    assert agent.patch("/people/999999999999", {"phone": "0113 496 0000"}).status_code == 404
    assert Person.objects.get(pk=r.only_b.pk).phone == r.only_b.phone
    assert ok(agent.patch(f"/people/{r.locum.uid}", {"phone": "0113 496 0000"}))["phone"] == "01134960000"
    assert r.sponsor_a.patch(f"/people/{r.locum.uid}", {"phone": "0113 496 0001"}).status_code == 403  # no right
    assert r.sponsor_a.patch(f"/people/{r.only_b.uid}", {"phone": "0113 496 0001"}).status_code == 404
    assert not Entry.objects.filter(action="person.viewed").exists()  # the change is recorded, not a read


# --- relying services: as before ---

def test_a_service_token_still_reads_everyone_without_identifying_numbers(region):
    # permissions.SERVICE_ACTIONS grants person.read and access.read anywhere: unchanged
    r = region
    for person in (r.only_b, r.leaver, r.locum, r.unplaced, r.only_c):
        body = ok(r.portal.get(f"/people/{person.uid}"))
        assert body["uid"] == person.uid and body["ni_number"] is None and body["date_of_birth"] is None
        ok(r.portal.get(f"/people/{person.uid}/access"))
    assert uids(r.portal.get("/people", page_size=500)) == set(Person.objects.values_list("uid", flat=True))
    not_found(r.portal, "/people/999999999999")
    assert not Entry.objects.filter(action__in=["person.viewed", "person.searched"]).exists()


# --- reads are recorded (rules PP9, PP15) ---

def test_each_read_of_one_person_is_an_audit_entry_and_refusals_leave_none(region):
    r = region
    ok(r.sponsor_a.get(f"/people/{r.locum.uid}"))
    entry = Entry.objects.get(action="person.viewed")
    assert (entry.person_uid, entry.organisation_code, entry.actor_uid) == (r.locum.uid, "A11111",
                                                                            r.sponsor_a_actor.person_uid)
    assert entry.actor_position and "A11111" in entry.actor_position
    ok(r.sponsor_a.get(f"/people/{r.locum.uid}/access", at="2026-05-01T09:00:00Z"))
    access = Entry.objects.get(action="person.viewed", after__contains="access")
    assert access.person_uid == r.locum.uid and '"read":"access"' in access.after.replace(" ", "")
    assert "2026-05-01T09:00:00" in access.after
    ok(r.ra_manager.get(f"/people/{r.unplaced.uid}"))
    unplaced = Entry.objects.get(action="person.viewed", person_uid=r.unplaced.uid)
    assert unplaced.organisation_code is None and unplaced.actor_uid == r.ra_manager_actor.person_uid
    not_found(r.sponsor_a, f"/people/{r.only_b.uid}")
    not_found(r.sponsor_a, f"/people/{r.only_b.uid}/access")
    not_found(r.sponsor_a, "/people/999999999999")
    assert Entry.objects.filter(action="person.viewed").count() == 3


def test_each_list_call_is_one_audit_entry_naming_the_people_shown(region):
    r = region
    body = ok(r.icb_lead.get("/people", q="Lo", organisation="B22222"))
    entry = Entry.objects.get(action="person.searched")
    assert entry.actor_uid == r.icb_lead_actor.person_uid and "QAA" in entry.actor_position
    after = entry.after.replace(" ", "")
    assert '"by":"name"' in after and '"query":"Lo"' in after and '"organisation":"B22222"' in after
    assert [p["uid"] for p in body["items"]] == [r.locum.uid] and r.locum.uid in after
    ok(r.sponsor_a.get("/people"))
    assert Entry.objects.filter(action="person.searched").count() == 2
    assert r.sponsor_a.get("/people", q="12345").status_code == 422  # a refused list records nothing
    assert Entry.objects.filter(action="person.searched").count() == 2


# --- one rule, one scope ---

def test_the_api_and_the_pages_share_one_scope(region):
    r = region
    a = r.sponsor_a_actor
    assert set(person_search.matching(a, None).values_list("uid", flat=True)) == uids(
        r.sponsor_a.get("/people", page_size=500))
    assert permissions.covered_organisations(r.ra_manager_actor, "person.read") is None
    assert permissions.covered_organisations(r.ra_manager_actor, "report.read") is None
    assert reports.scope(r.ra_manager_actor) is None  # reports use the same "every organisation" step
    assert reports.scope(r.icb_lead_actor) == permissions.covered_organisations(r.icb_lead_actor, "report.read")
    assert len(reports.scope(r.icb_lead_actor)) == 3  # the ICB and its two practices
    assert permissions.covered_organisations(Actor.system("t"), "person.read") is None


# --- what is held about them: assignments and accounts ---

def test_assignments_and_accounts_are_listed_only_for_people_the_position_may_read(region):
    # rules SC8, SC10, DS15: a person's positions and accounts tell as much as the person does
    r = region
    portal = services.create_service(SYSTEM, code="notes", name="Notes",
                                     roles=[{"code": "reader", "name": "Reader"}])
    hidden = services.create_account(SYSTEM, r.only_b, portal, username="nia", state="active")
    seen = services.create_account(SYSTEM, r.locum, portal, username="lou", state="active")

    listed = {a["person"] for a in ok(r.sponsor_a.get("/assignments"))["items"]}
    assert r.only_b.uid not in listed and r.only_c.uid not in listed
    assert {r.locum.uid, r.leaver.uid} <= listed  # a locum (DS15) and a leaver (SC10) of practice A
    assert ok(r.sponsor_a.get(f"/assignments?person={r.only_b.uid}"))["items"] == []
    # the leaver's new position at practice C comes with them: their record is read whole, as on their page
    assert {a["organisation"] for a in ok(r.sponsor_a.get(f"/assignments?person={r.leaver.uid}"))["items"]} \
        == {"A11111", "C33333"}

    assert [a["username"] for a in ok(r.sponsor_a.get("/accounts?service=notes"))["items"]] == ["lou"]
    assert ok(r.sponsor_a.get(f"/accounts/{seen.pk}"))["username"] == "lou"
    other, nobody = not_found(r.sponsor_a, f"/accounts/{hidden.pk}"), not_found(r.sponsor_a, "/accounts/999999")
    assert other["detail"] == nobody["detail"].replace("999999", str(hidden.pk))
    assert {a["username"] for a in ok(r.ra_manager.get("/accounts?service=notes"))["items"]} == {"lou", "nia"}
    assert ok(r.sponsor_b.get(f"/accounts/{hidden.pk}"))["username"] == "nia"

"""The directory API at /api/v1/: every endpoint's happy path, validation naming the field, 401/403/404,
pagination, the audit trail of changes, effective access and decisions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from careaccess.api.testing import SYSTEM, client_for, ledger_size, world  # noqa: F401
from careaccess.core.audit.models import Entry
from careaccess.directory import services
from careaccess.directory import testing as build
from careaccess.directory.models import Account, Assignment, Organisation, Person, Position
from careaccess.directory.schemas import DecisionOut

pytestmark = pytest.mark.django_db


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def last_entry() -> Entry:
    return Entry.objects.get(index=ledger_size() - 1)


@pytest.fixture
def clinic(world):
    """A GP practice position carrying B0825 (which includes B0820) and the portal's Care Professional role,
    and a doctor in it."""
    position = services.create_position(SYSTEM, world.practice, name="GP", activities=["B0825"],
                                        service_roles=["care-portal:care-professional"])
    doctor = build.person("Dana", "Doctor")
    assignment = services.create_assignment(SYSTEM, doctor, position)
    return position, doctor, assignment


def decide(client, **body):
    return client.post("/decisions", body)


# --- organisations and units ---

def test_organisations_create_get_list_patch(world):
    before = ledger_size()
    body = ok(world.ra_manager.post("/organisations", {"code": "vn123", "name": "Vale Nursing Home", "kind": "care_home",
                                                       "parent": "QWE", "cqc_number": "1-123456789"}), 201)
    assert body["code"] == "VN123" and body["parent"] == "QWE" and body["status"] == "active"
    assert ledger_size() == before + 1
    entry = last_entry()
    assert entry.action == "organisation.created" and entry.organisation_code == "VN123"
    assert entry.actor_position and "QWE" in entry.actor_position  # the acting position is recorded

    assert ok(world.ra_manager.get("/organisations/vn123"))["name"] == "Vale Nursing Home"
    listed = ok(world.ra_manager.get("/organisations", kind="care_home"))
    assert [o["code"] for o in listed["items"]] == ["VN123"]
    assert {o["code"] for o in ok(world.ra_manager.get("/organisations", parent="QWE"))["items"]} == {"Y01234", "FA123", "VN123"}
    assert [o["code"] for o in ok(world.ra_manager.get("/organisations", q="vale"))["items"]] == ["VN123"]
    assert [o["code"] for o in ok(world.ra_manager.get("/organisations", q="fa123"))["items"]] == ["FA123"]

    body = ok(world.ra_manager.patch("/organisations/VN123", {"status": "closing", "closes_on": "2026-07-01"}))
    assert body["status"] == "closing" and body["closes_on"] == "2026-07-01"
    assert [o["code"] for o in ok(world.ra_manager.get("/organisations", status="closing"))["items"]] == ["VN123"]
    assert last_entry().action == "organisation.updated"


def test_organisation_validation_names_the_field(world):
    before = ledger_size()
    body = problem(world.ra_manager.post("/organisations", {"code": "X!", "name": "Bad", "kind": "gp_practice",
                                                            "cqc_number": "123"}), 422)
    assert "3 to 10 letters" in body["errors"]["code"] and "CQC" in body["errors"]["cqc_number"]
    body = problem(world.ra_manager.post("/organisations", {"code": "ABC12", "name": "Orphan", "kind": "gp_practice",
                                                            "parent": "NOPE9"}), 422)
    assert "NOPE9" in body["errors"]["parent"]
    body = problem(world.ra_manager.patch("/organisations/Y01234", {"status": "closing"}), 422)
    assert "closes_on" in body["errors"]
    assert ledger_size() == before


def test_organisation_404_and_403(world):
    problem(world.ra_manager.get("/organisations/ZZZ99"), 404)
    problem(world.ra_manager.patch("/organisations/ZZZ99", {"name": "x"}), 404)
    before = ledger_size()
    problem(world.sponsor.patch("/organisations/Y01234", {"name": "Renamed"}), 403)
    problem(world.clerk.get("/organisations"), 403)  # a position, but no staff activity
    problem(world.portal_client.get("/organisations"), 403)  # relying services do not read the directory
    assert ledger_size() == before
    assert Organisation.objects.get(code="Y01234").name != "Renamed"


def test_units(world):
    body = ok(world.ra_agent.post("/organisations/Y01234/units", {"code": "reception", "name": "Reception"}), 201)
    assert body == {"organisation": "Y01234", "code": "reception", "name": "Reception", "parent": None}
    ok(world.ra_agent.post("/organisations/Y01234/units", {"code": "desk", "name": "Desk", "parent": "reception"}), 201)
    listed = ok(world.sponsor.get("/organisations/Y01234/units"))
    assert {(u["code"], u["parent"]) for u in listed["items"]} == {("reception", None), ("desk", "reception")}
    assert "parent" in problem(world.ra_agent.post("/organisations/Y01234/units",
                                                   {"code": "x", "name": "X", "parent": "nope"}), 422)["errors"]
    problem(world.ra_agent.post("/organisations/Y01234/units", {"code": "reception", "name": "Again"}), 409)
    problem(world.ra_agent.get("/organisations/NOPE1/units"), 404)
    problem(world.sponsor.post("/organisations/Y01234/units", {"code": "y", "name": "Y"}), 403)


# --- people ---

def test_people_create_get_list_patch(world, clinic):
    before = ledger_size()
    body = ok(world.ra_agent.post("/people", {"title": "Dr", "given_name": "Priya", "family_name": "Shah",
                                              "ni_number": "ce 12 34 56 a", "email": "Priya.Shah@example.nhs.uk",
                                              "date_of_birth": "1980-02-03", "phone": "0113 496 0000"}), 201)
    uid = body["uid"]
    assert len(uid) == 12 and body["ni_number"] == "CE123456A" and body["full_name"] == "Dr Priya Shah"
    assert ledger_size() == before + 1
    entry = last_entry()
    assert entry.action == "person.created" and entry.person_uid == uid and entry.actor_position

    assert ok(world.ra_agent.get(f"/people/{uid}"))["email"] == "priya.shah@example.nhs.uk"
    assert [p["uid"] for p in ok(world.ra_agent.get("/people", q="priya sha"))["items"]] == [uid]
    assert [p["uid"] for p in ok(world.ra_agent.get("/people", q=uid))["items"]] == [uid]
    # Placed nowhere yet: only a position covering every organisation reads her (the ICB's RA here),
    # not the practice's sponsor (test_people_scope.py has the whole rule).
    assert ok(world.sponsor.get("/people", q=uid))["items"] == []
    problem(world.sponsor.get(f"/people/{uid}"), 404)
    _, doctor, _ = clinic
    at_practice = {p["uid"] for p in ok(world.sponsor.get("/people", organisation="Y01234"))["items"]}
    assert doctor.uid in at_practice and uid not in at_practice

    body = ok(world.ra_agent.patch(f"/people/{uid}", {"phone": "+44 113 496 0001", "status": "suspended"}))
    assert body["phone"] == "+441134960001" and body["status"] == "suspended"
    assert last_entry().action == "person.updated"
    assert uid in {p["uid"] for p in ok(world.ra_agent.get("/people", status="suspended"))["items"]}
    assert last_entry().action == "person.searched"  # a list read is recorded too (PP9, PP15)


def test_person_validation_names_the_field(world):
    before, count = ledger_size(), Person.objects.count()
    body = problem(world.ra_agent.post("/people", {"given_name": "A", "family_name": "B", "ni_number": "12345",
                                                   "email": "nope", "phone": "12"}), 422)
    assert {"ni_number", "email", "phone"} <= set(body["errors"])
    assert "AB 12 34 56 C" in body["errors"]["ni_number"]
    body = problem(world.ra_agent.patch(f"/people/{Person.objects.first().uid}", {"ni_number": "ZZ123456A"}), 422)
    assert "ni_number" in body["errors"]
    assert ledger_size() == before and Person.objects.count() == count


def test_people_404_409_403(world):
    problem(world.ra_agent.get("/people/999999999999"), 404)
    problem(world.ra_agent.patch("/people/999999999999", {"phone": "01134960000"}), 404)
    ok(world.ra_agent.post("/people", {"given_name": "One", "family_name": "Person", "ni_number": "CE654321B"}), 201)
    problem(world.ra_agent.post("/people", {"given_name": "Two", "family_name": "Person", "ni_number": "CE654321B"}), 409)
    before = ledger_size()
    problem(world.sponsor.post("/people", {"given_name": "Not", "family_name": "Allowed"}), 403)
    problem(world.clerk.get("/people"), 403)
    assert ledger_size() == before


def test_people_list_filter_by_unknown_organisation_is_422(world):
    assert "organisation" in problem(world.sponsor.get("/people", organisation="NOPE1"), 422)["errors"]


# --- relying services' tokens ---

def test_a_service_token_reads_access_and_decisions_but_cannot_create_people(world, clinic):
    _, doctor, _ = clinic
    client = world.portal_client
    body = ok(client.get(f"/people/{doctor.uid}"))
    assert body["uid"] == doctor.uid and body["ni_number"] is None and body["date_of_birth"] is None
    assert ok(client.get(f"/people/{doctor.uid}/access"))["activity_codes"] == ["B0820", "B0825"]
    assert ok(decide(client, uid=doctor.uid, activity="B0820"))["allowed"] is True
    before, count = ledger_size(), Person.objects.count()
    body = problem(client.post("/people", {"given_name": "Sneaky", "family_name": "Service"}), 403)
    assert "service care-portal" in body["detail"]
    problem(client.patch(f"/people/{doctor.uid}", {"phone": "01134960000"}), 403)
    problem(client.get("/assignments"), 403)
    assert ledger_size() == before and Person.objects.count() == count


# --- catalogue ---

def test_job_roles_and_activities_upsert_and_list(world):
    assert ok(world.ra_manager.post("/job-roles", {"code": "s8000:g8000:r8000", "name": "Clinical Practitioner"}), 201) == {
        "code": "S8000:G8000:R8000", "name": "Clinical Practitioner"}
    ok(world.ra_manager.post("/job-roles", {"code": "S8000:G8000:R8000", "name": "Clinical Practitioner Access Role"}), 200)
    assert ok(world.sponsor.get("/job-roles", q="R8000"))["items"][0]["name"] == "Clinical Practitioner Access Role"
    assert "code" in problem(world.ra_manager.post("/job-roles", {"code": "X1", "name": "Bad"}), 422)["errors"]

    body = ok(world.ra_manager.post("/activities", {"code": "B0830", "name": "Amend more", "includes": ["B0825"]}), 201)
    assert body["includes"] == ["B0825"]
    listed = ok(world.sponsor.get("/activities", q="B08"))
    assert {a["code"]: a["includes"] for a in listed["items"]} == {"B0820": [], "B0825": ["B0820"], "B0830": ["B0825"]}
    assert "includes" in problem(world.ra_manager.post("/activities", {"code": "B0831", "name": "X", "includes": ["B9999"]}), 422)["errors"]
    assert "code" in problem(world.ra_manager.post("/activities", {"code": "C123", "name": "X"}), 422)["errors"]
    problem(world.sponsor.post("/activities", {"code": "B0832", "name": "X"}), 403)


# --- services ---

def test_services_create_get_list_patch(world):
    body = ok(world.ra_manager.post("/services", {"code": "provider-portal", "name": "Provider Portal",
                                                  "approver_kind": "lead_correspondent", "inactivity_days": 60,
                                                  "roles": [{"code": "finance", "name": "Finance"}]}), 201)
    assert body["roles"] == [{"code": "finance", "name": "Finance", "description": ""}]
    assert body["approver_kind"] == "lead_correspondent" and body["review_months"] == 3
    assert ok(world.sponsor.get("/services/provider-portal"))["name"] == "Provider Portal"
    listed = ok(world.sponsor.get("/services"))
    assert {s["code"] for s in listed["items"]} >= {"care-portal", "provider-portal"}
    assert {r["code"] for r in next(s for s in listed["items"] if s["code"] == "care-portal")["roles"]} == {
        "care-professional", "administrator"}
    body = ok(world.ra_manager.patch("/services/provider-portal", {"sla_days": 3, "roles": [
        {"code": "finance", "name": "Finance"}, {"code": "care", "name": "Care Planner"}]}))
    assert body["sla_days"] == 3 and [r["code"] for r in body["roles"]] == ["care", "finance"]
    assert last_entry().action == "service.updated"
    assert "sla_days" in problem(world.ra_manager.patch("/services/provider-portal", {"sla_days": 0}), 422)["errors"]
    assert "roles[0]" in problem(world.ra_manager.post("/services", {"code": "x", "name": "X", "roles": [
        {"code": "bad code!", "name": "Bad"}]}), 422)["errors"]
    problem(world.ra_manager.get("/services/nope"), 404)
    problem(world.ra_agent.post("/services", {"code": "y", "name": "Y"}), 403)


# --- positions ---

def test_positions_create_get_list_patch(world):
    ok(world.ra_manager.post("/job-roles", {"code": "R8000", "name": "Clinical Practitioner"}), 201)
    before = ledger_size()
    body = ok(world.ra_agent.post("/positions", {
        "organisation": "y01234", "name": "Practice Nurse", "job_roles": ["R8000"], "activities": ["B0825"],
        "service_roles": ["care-portal:care-professional"], "assignable_by_sponsors": True}), 201)
    position_id = body["id"]
    assert body["organisation"] == "Y01234" and body["job_roles"] == ["R8000"]
    assert body["service_roles"] == ["care-portal:care-professional"] and body["assignable_by_sponsors"] is True
    assert ledger_size() == before + 1 and last_entry().action == "position.created"

    assert ok(world.sponsor.get(f"/positions/{position_id}"))["name"] == "Practice Nurse"
    listed = ok(world.sponsor.get("/positions", organisation="Y01234"))
    assert position_id in {p["id"] for p in listed["items"]}
    assert all(p["organisation"] == "Y01234" for p in listed["items"])

    body = ok(world.ra_agent.patch(f"/positions/{position_id}", {"activities": ["B0820"], "status": "retired"}))
    assert body["activities"] == ["B0820"] and body["status"] == "retired"
    assert [p["id"] for p in ok(world.ra_agent.get("/positions", status="retired"))["items"]] == [position_id]


def test_position_validation_names_the_field(world):
    before = ledger_size()
    body = problem(world.ra_agent.post("/positions", {"organisation": "Y01234", "name": "X", "activities": ["B0999"],
                                                      "service_roles": ["care-portal:janitor"], "job_roles": ["R1"],
                                                      "unit": "nope"}), 422)
    assert "B0999" in body["errors"]["activities"]
    assert "care-portal:janitor" in body["errors"]["service_roles"]
    assert {"job_roles", "unit"} <= set(body["errors"])
    body = problem(world.ra_agent.post("/positions", {"organisation": "NOPE1", "name": "X"}), 422)
    assert "NOPE1" in body["errors"]["organisation"]
    body = problem(world.ra_agent.post("/positions", {"organisation": "Y01234"}), 422)
    assert "name" in body["errors"]
    assert ledger_size() == before


def test_positions_403_404(world):
    before = ledger_size()
    problem(world.sponsor.post("/positions", {"organisation": "Y01234", "name": "Sponsored"}), 403)
    problem(world.ra_agent.get("/positions/0"), 404)
    problem(world.ra_agent.patch("/positions/0", {"name": "x"}), 404)
    assert ledger_size() == before


def test_position_list_is_not_n_plus_one(world):
    for i in range(3):
        services.create_position(SYSTEM, world.pharmacy, name=f"P{i}", activities=["B0820"],
                                 service_roles=["care-portal:administrator"])
    ok(world.ra_manager.get("/positions", organisation="FA123"))  # the token's last use is written once a minute
    with CaptureQueriesContext(connection) as few:
        ok(world.ra_manager.get("/positions", organisation="FA123"))
    for i in range(3, 12):
        services.create_position(SYSTEM, world.pharmacy, name=f"P{i}", activities=["B0825"], job_roles=[],
                                 service_roles=["care-portal:care-professional"])
    with CaptureQueriesContext(connection) as many:
        assert ok(world.ra_manager.get("/positions", organisation="FA123"))["count"] == 12
    assert len(many) == len(few)


# --- assignments ---

def test_assignments_create_get_list_patch(world, clock):
    position = services.create_position(SYSTEM, world.practice, name="Receptionist", activities=["B0820"])
    person = build.person("Rae", "Receptionist")
    body = ok(world.ra_agent.post("/assignments", {"person": person.uid, "position": position.id,
                                                   "ends_on": "2026-12-31"}), 201)
    assert body["person"] == person.uid and body["organisation"] == "Y01234" and body["starts_on"] == "2026-06-01"
    entry = last_entry()
    assert entry.action == "assignment.created" and entry.person_uid == person.uid and entry.actor_position
    assignment_id = body["id"]

    assert ok(world.sponsor.get(f"/assignments/{assignment_id}"))["position_name"] == "Receptionist"
    assert [a["id"] for a in ok(world.sponsor.get("/assignments", person=person.uid))["items"]] == [assignment_id]
    assert [a["id"] for a in ok(world.sponsor.get("/assignments", position=position.id))["items"]] == [assignment_id]
    assert assignment_id in {a["id"] for a in ok(world.sponsor.get("/assignments", organisation="Y01234", live="true"))["items"]}

    body = ok(world.ra_agent.patch(f"/assignments/{assignment_id}", {"state": "ended", "reason": "left the practice"}))
    assert body["state"] == "ended"
    assert last_entry().reason == "left the practice"
    assert assignment_id not in {a["id"] for a in ok(world.sponsor.get("/assignments", live="true"))["items"]}
    assert "state" in problem(world.ra_agent.patch(f"/assignments/{assignment_id}", {"state": "active"}), 422)["errors"]


def test_assignment_validation_and_404(world):
    position = services.create_position(SYSTEM, world.practice, name="Nurse")
    person = build.person("Nat", "Nurse")
    before = ledger_size()
    assert "person" in problem(world.ra_agent.post("/assignments", {"person": "999999999999", "position": position.id}), 422)["errors"]
    assert "position" in problem(world.ra_agent.post("/assignments", {"person": person.uid, "position": 0}), 422)["errors"]
    body = problem(world.ra_agent.post("/assignments", {"person": person.uid, "position": position.id,
                                                        "starts_on": "2026-06-10", "ends_on": "2026-06-01"}), 422)
    assert "ends_on" in body["errors"]
    problem(world.ra_agent.get("/assignments/0"), 404)
    problem(world.ra_agent.patch("/assignments/0", {"state": "ended"}), 404)
    assert ledger_size() == before


def test_a_sponsor_assigns_only_in_their_organisation(world):
    # rule SC5, DS5: sponsors place people in sponsor-assignable positions of their own organisation only
    own = services.create_position(SYSTEM, world.practice, name="Locum GP", assignable_by_sponsors=True)
    elsewhere = services.create_position(SYSTEM, world.pharmacy, name="Locum Pharmacist", assignable_by_sponsors=True)
    not_assignable = services.create_position(SYSTEM, world.practice, name="Practice Manager")
    person = build.person("Lou", "Locum")
    before = ledger_size()
    body = problem(world.sponsor.post("/assignments", {"person": person.uid, "position": elsewhere.id}), 403)
    assert "FA123" in body["detail"]
    problem(world.sponsor.post("/assignments", {"person": person.uid, "position": not_assignable.id}), 403)
    problem(world.sponsor.get("/assignments", organisation="FA123"), 403)
    problem(world.sponsor.get("/people", organisation="FA123"), 403)
    assert ledger_size() == before and not Assignment.objects.filter(person=person).exists()
    ok(world.sponsor.post("/assignments", {"person": person.uid, "position": own.id}), 201)
    entry = last_entry()
    assert entry.actor_uid == world.sponsor_actor.person_uid and "Y01234" in entry.actor_position


# --- accounts ---

def test_accounts_create_get_list_patch(world, clinic):
    _, doctor, _ = clinic
    body = ok(world.ra_agent.post("/accounts", {"person": doctor.uid, "service": "care-portal", "username": "dana.doctor"}), 201)
    assert body["state"] == "pending" and body["service"] == "care-portal"
    account_id = body["id"]
    assert last_entry().action == "account.created"
    assert ok(world.sponsor.get(f"/accounts/{account_id}"))["username"] == "dana.doctor"
    assert [a["id"] for a in ok(world.sponsor.get("/accounts", person=doctor.uid, service="care-portal"))["items"]] == [account_id]
    body = ok(world.ra_agent.patch(f"/accounts/{account_id}", {"state": "suspended", "reason": "inactive 60 days"}))
    assert body["state"] == "suspended"
    assert [a["id"] for a in ok(world.sponsor.get("/accounts", state="suspended"))["items"]] == [account_id]
    problem(world.ra_agent.post("/accounts", {"person": doctor.uid, "service": "care-portal", "username": "other"}), 409)
    assert "service" in problem(world.ra_agent.post("/accounts", {"person": doctor.uid, "service": "nope", "username": "x"}), 422)["errors"]
    assert "state" in problem(world.ra_agent.patch(f"/accounts/{account_id}", {"state": "deleted"}), 422)["errors"]
    problem(world.ra_agent.get("/accounts/0"), 404)
    problem(world.sponsor.patch(f"/accounts/{account_id}", {"state": "active"}), 403)
    assert Account.objects.get(pk=account_id).state == "suspended"


# --- pagination ---

def test_pagination(world):
    for i in range(7):
        build.organisation(f"PG{i:03d}", kind="care_home")
    page = ok(world.ra_manager.get("/organisations", kind="care_home", page_size=3))
    assert page["count"] == 7 and page["page"] == 1 and page["page_size"] == 3 and len(page["items"]) == 3
    seen = [o["code"] for p in (1, 2, 3) for o in ok(world.ra_manager.get("/organisations", kind="care_home",
                                                                            page_size=3, page=p))["items"]]
    assert sorted(seen) == [f"PG{i:03d}" for i in range(7)] and len(set(seen)) == 7
    assert ok(world.ra_manager.get("/organisations", kind="care_home", page_size=3, page=9))["items"] == []
    with override_settings(CAREACCESS_PAGE_SIZE=2, CAREACCESS_PAGE_SIZE_MAX=4):
        assert ok(world.ra_manager.get("/organisations", kind="care_home"))["page_size"] == 2
        assert "page_size" in problem(world.ra_manager.get("/organisations", page_size=5), 422)["errors"]
    assert "page" in problem(world.ra_manager.get("/organisations", page=0), 422)["errors"]


# --- effective access and decisions ---

def test_access_lists_positions_and_included_activities(world, clinic):
    position, doctor, assignment = clinic
    body = ok(world.sponsor.get(f"/people/{doctor.uid}/access"))
    assert body["uid"] == doctor.uid and body["organisations"] == ["Y01234"]
    assert body["activity_codes"] == ["B0820", "B0825"]  # B0825 includes B0820
    assert body["service_roles"] == ["care-portal:care-professional"]
    assert body["positions"][0]["assignment"] == assignment.id and body["positions"][0]["position"] == "GP"
    past = ok(world.sponsor.get(f"/people/{doctor.uid}/access", at="2026-01-01T12:00:00Z"))
    assert past["positions"] == [] and past["activity_codes"] == []
    problem(world.sponsor.get("/people/999999999999/access"), 404)
    assert "at" in problem(world.sponsor.get(f"/people/{doctor.uid}/access", at="yesterday"), 422)["errors"]
    problem(world.clerk.get(f"/people/{doctor.uid}/access"), 403)


def test_decisions_allow_through_included_activities_and_service_roles(world, clinic):
    position, doctor, assignment = clinic
    before = ledger_size()
    body = ok(decide(world.portal_client, uid=doctor.uid, activity="B0820"))
    assert body["allowed"] is True and body["assignment"] == assignment.id
    assert body["position"] == "GP" and body["organisation"] == "Y01234" and "GP" in body["reason"]
    assert body == DecisionOut.model_validate(body).model_dump()  # the documented response, field for field
    body = ok(decide(world.portal_client, uid=doctor.uid, service="care-portal", role="care-professional"))
    assert body["allowed"] is True
    body = ok(decide(world.portal_client, uid=doctor.uid, service="care-portal", role="administrator"))
    assert body["allowed"] is False and body["assignment"] is None and "care-portal:administrator" in body["reason"]
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820", organisation="FA123"))["allowed"] is False
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820", organisation="y01234"))["allowed"] is True
    assert ok(decide(world.sponsor, uid=doctor.uid, activity="B0825"))["allowed"] is True
    assert ledger_size() == before  # decisions are not audited


def test_decision_input_is_checked(world, clinic):
    _, doctor, _ = clinic
    body = problem(decide(world.portal_client, uid=doctor.uid), 422)
    assert {"activity", "service"} <= set(body["errors"])
    body = problem(decide(world.portal_client, uid=doctor.uid, activity="B0820", service="care-portal", role="x"), 422)
    assert {"activity", "service"} <= set(body["errors"])
    assert "role" in problem(decide(world.portal_client, uid=doctor.uid, service="care-portal"), 422)["errors"]
    assert "uid" in problem(decide(world.portal_client, activity="B0820"), 422)["errors"]
    assert "at" in problem(decide(world.portal_client, uid=doctor.uid, activity="B0820", at="soon"), 422)["errors"]
    problem(decide(world.portal_client, uid="999999999999", activity="B0820"), 404)
    problem(decide(world.clerk, uid=doctor.uid, activity="B0820"), 403)


def test_decisions_deny_after_an_assignment_ends(world, clinic, clock):
    position, doctor, assignment = clinic
    services.update_assignment(SYSTEM, assignment, ends_on="2026-06-30")
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820"))["allowed"] is True
    clock.advance(dt.timedelta(days=30))  # 1 July: the day after ends_on
    body = ok(decide(world.portal_client, uid=doctor.uid, activity="B0820"))
    assert body["allowed"] is False and "no live assignment" in body["reason"]
    # and the past is still answerable
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820", at="2026-06-30T12:00:00+01:00"))["allowed"] is True


def test_decisions_deny_once_the_organisation_closes(world, clinic, clock):
    # rule PP10: a planned closure takes effect on its date
    _, doctor, _ = clinic
    ok(world.ra_manager.patch("/organisations/Y01234", {"status": "closing", "closes_on": "2026-06-15"}))
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820"))["allowed"] is True
    clock.advance(dt.timedelta(days=14))
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820"))["allowed"] is False
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820", at="2026-06-14T09:00:00Z"))["allowed"] is True


def test_decisions_deny_through_a_retired_position(world, clinic):
    position, doctor, _ = clinic
    ok(world.ra_agent.patch(f"/positions/{position.id}", {"status": "retired"}))
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820"))["allowed"] is False


def test_a_change_to_a_position_reaches_its_holders_at_once(world, clinic):
    # rule SC8
    position, doctor, _ = clinic
    ok(world.ra_agent.patch(f"/positions/{position.id}", {"activities": ["B0820"]}))
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0825"))["allowed"] is False
    assert ok(decide(world.portal_client, uid=doctor.uid, activity="B0820"))["allowed"] is True


def test_decisions_deny_for_a_suspended_person(world, clinic):
    _, doctor, _ = clinic
    ok(world.ra_agent.patch(f"/people/{doctor.uid}", {"status": "suspended"}))
    body = ok(decide(world.portal_client, uid=doctor.uid, activity="B0820"))
    assert body["allowed"] is False
    assert ok(world.portal_client.get(f"/people/{doctor.uid}/access"))["positions"] == []


def test_the_decision_path_is_lean(world, clinic):
    _, doctor, _ = clinic
    decide(world.portal_client, uid=doctor.uid, activity="B0820")  # last_used_at written this minute
    for body, most in (({"activity": "B0825"}, 2), ({"service": "care-portal", "role": "care-professional"}, 2),
                       ({"activity": "B0820"}, 4)):
        with CaptureQueriesContext(connection) as queries:
            assert ok(decide(world.portal_client, uid=doctor.uid, **body))["allowed"] is True
        # the token, the live assignments joined to the codes asked about; for an activity held only
        # through inclusion, one query per level of inclusion (2 here). No write.
        assert len(queries) <= most, "\n".join(q["sql"] for q in queries)
        assert not any(q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for q in queries)

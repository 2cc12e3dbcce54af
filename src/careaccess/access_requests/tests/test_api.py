"""The access requests API: raise, queues, read with next actions and history, every transition,
evidence, batches; problems for refusals (which change nothing)."""

from __future__ import annotations

import pytest

from careaccess.access_requests.tests.conftest import ledger_size
from careaccess.api.testing import client_for
from careaccess.directory import testing

pytestmark = [pytest.mark.django_db, pytest.mark.urls("careaccess.access_requests.tests.urls")]


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json()


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


@pytest.fixture
def clients(world):
    return {
        "requester": client_for(actor=world.gp.requester),
        "validator": client_for(actor=world.gp.validator),
        "approver": client_for(actor=world.gp.approver),
        "fulfiller": client_for(actor=world.fulfiller),
        "ra_agent": client_for(actor=world.ra_agent),
        "desk": client_for(actor=world.trust.validator),
        "portal": client_for(service=world.service),
    }


def raise_body(world, **extra):
    return {"kind": "new_user", "organisation": "b86001", "service": "connecting-care",
            "details": world.new_user_details(world.gp), **extra}


def test_a_new_user_from_raise_to_fulfilment(world, clients):
    # rules CC6 (authoriser route), CC1, CC9, CC7, CC8
    body = ok(clients["requester"].post("/requests", raise_body(world, submit=True, note="ticket 7")), 201)
    reference = body["reference"]
    assert body["state"] == "submitted" and body["title"].startswith("Connecting Care starter Jane")
    assert body["next_actions"] == ["withdraw"]
    queue = ok(clients["validator"].get("/requests", queue="authoriser"))
    assert [r["reference"] for r in queue["items"]] == [reference] and queue["count"] == 1
    body = ok(clients["validator"].post(f"/requests/{reference}/validate", {"version": body["version"]}))
    assert body["state"] == "validated"
    body = ok(clients["approver"].post(f"/requests/{reference}/approve", {
        "version": body["version"], "least_role": True, "told_not_to_view_own_records": True,
        "ig_training_on": "2026-03-01"}))
    assert body["state"] == "approved" and body["due_on"] == "2026-06-08" and body["approval"]["least_role"]
    back_office = ok(clients["fulfiller"].get("/requests", queue="back_office"))
    assert back_office["items"][0]["reference"] == reference and back_office["items"][0]["overdue"] is False
    body = ok(clients["fulfiller"].post(f"/requests/{reference}/fulfil", {"version": body["version"]}))
    assert body["state"] == "fulfilled" and body["outcome"]["username"] and body["subject"]
    history = ok(clients["requester"].get(f"/requests/{reference}/history"))
    history = [h for h in history if h["action"].startswith("request.")]  # the directory changes are there too
    assert [h["action"] for h in history] == ["request.raised", "request.submitted", "request.validated",
                                              "request.approved", "request.fulfilled"]
    assert history[2]["actor_uid"] == world.gp.validator.person_uid


def test_desk_route_needs_the_ticket(world, clients):
    # rule CC6
    desk_requester = client_for(actor=world.trust.requester)
    body = ok(desk_requester.post("/requests", {**raise_body(world), "organisation": "RR8", "submit": True,
                                                "details": world.new_user_details(world.trust)}), 201)
    error = problem(clients["desk"].post(f"/requests/{body['reference']}/validate", {"version": body["version"]}), 422)
    assert "ticket_reference" in error["errors"]
    body = ok(clients["desk"].post(f"/requests/{body['reference']}/validate",
                                   {"version": body["version"], "ticket_reference": "TD-9"}))
    assert body["ticket_reference"] == "TD-9"


def test_bad_input_is_a_problem_naming_each_field_and_changes_nothing(world, clients):
    size = ledger_size()
    error = problem(clients["requester"].post("/requests", {
        "kind": "new_user", "organisation": "B86001", "service": "connecting-care",
        "details": {"given_name": "", "email": "info@x.org"}}), 422)
    assert {"given_name", "family_name", "email", "position"} <= set(error["errors"])
    error = problem(clients["requester"].post("/requests", {"kind": "teleport", "organisation": "B86001"}), 422)
    assert "kind" in error["errors"]
    error = problem(clients["requester"].post("/requests", {**raise_body(world), "service": "nope"}), 422)
    assert "service" in error["errors"]
    assert ledger_size() == size


def test_refusals_are_403_and_409_and_change_nothing(world, clients):
    body = ok(clients["requester"].post("/requests", raise_body(world, submit=True)), 201)
    reference, version = body["reference"], body["version"]
    size = ledger_size()
    # DS5: the requester may not validate their own request
    problem(clients["requester"].post(f"/requests/{reference}/validate", {"version": version}), 403)
    # the state machine: a submitted request is not approved yet
    assert "cannot be approved" in problem(clients["approver"].post(f"/requests/{reference}/approve",
                                                                     {"version": version}), 409)["detail"]
    # a stale version
    ok(clients["validator"].post(f"/requests/{reference}/validate", {"version": version}))
    size = ledger_size()
    assert "changed by someone else" in problem(clients["validator"].post(
        f"/requests/{reference}/reject", {"version": version, "reason": "x"}), 409)["detail"]
    # relying services read nothing here
    problem(clients["portal"].get(f"/requests/{reference}"), 403)
    problem(clients["portal"].get("/requests"), 403)
    assert ledger_size() == size
    problem(clients["requester"].get("/requests/REQ-NOTHERE"), 404)
    problem(client_for(actor=world.trust.approver).get(f"/requests/{reference}"), 403)


def test_unauthenticated_is_401(world):
    from careaccess.api.testing import ApiClient

    problem(ApiClient().get("/requests"), 401)


def test_reject_refer_and_more_information(world, clients):
    # rules CC10, CC2
    body = ok(clients["requester"].post("/requests", raise_body(world, submit=True)), 201)
    ref = body["reference"]
    body = ok(clients["validator"].post(f"/requests/{ref}/request-information",
                                        {"version": body["version"], "reason": "which team?"}))
    assert body["state"] == "information_requested"
    body = ok(clients["requester"].post(f"/requests/{ref}/provide-information",
                                        {"version": body["version"], "information": "frailty"}))
    assert body["state"] == "submitted"
    assert "reason" in problem(clients["validator"].post(f"/requests/{ref}/reject", {"version": body["version"]}),
                               422)["errors"]
    body = ok(clients["validator"].post(f"/requests/{ref}/refer", {"version": body["version"],
                                                                   "reason": "asks for audit access"}))
    assert body["state"] == "referred" and body["next_actions"] == []


def test_evidence_for_a_change_of_name(world, clients):
    # rules SC7, DS5
    person = testing.person(given_name="Eve", family_name="Old")
    body = ok(clients["requester"].post("/requests", {"kind": "change_of_name", "organisation": "B86001",
                                                      "details": {"person": person.uid, "given_name": "Eve",
                                                                  "family_name": "New"}, "submit": True}), 201)
    ref = body["reference"]
    body = ok(clients["validator"].post(f"/requests/{ref}/validate", {"version": body["version"]}))
    body = ok(clients["approver"].post(f"/requests/{ref}/approve", {"version": body["version"]}))
    assert body["missing"] == {"face_to_face": body["missing"]["face_to_face"]}
    problem(clients["approver"].post(f"/requests/{ref}/evidence", {"kind": "face_to_face", "details": "seen"}), 403)
    ok(clients["ra_agent"].post(f"/requests/{ref}/evidence", {"kind": "face_to_face",
                                                               "details": "passport and deed poll seen"}), 201)
    assert ok(clients["requester"].get(f"/requests/{ref}/evidence"))[0]["kind"] == "face_to_face"
    body = ok(clients["fulfiller"].post(f"/requests/{ref}/fulfil", {"version": body["version"]}))
    assert body["state"] == "fulfilled" and body["title"] == "Change of name: Eve New"  # no service: its kind


def test_batches(world, clients):
    # rules SC11, CC7
    header = "given_name,family_name,date_of_birth,ni_number,email,phone,position,service_role\n"
    good = "".join(f"Al{c},Bee,1990-01-0{i},JL00000{i}A,al{c}.bee@example.nhs.uk,0113 496 000{i},Clinician,"
                   f"care-professional\n" for i, c in ((1, "a"), (2, "b")))
    size = ledger_size()
    error = problem(clients["requester"].post("/requests/batches", {
        "organisation": "B86001", "service": "connecting-care", "csv": header + good + "X,,bad,,,,,\n"}), 422)
    assert any(k.startswith("row 3:") for k in error["errors"]) and ledger_size() == size
    body = ok(clients["requester"].post("/requests/batches", {"organisation": "B86001", "service": "connecting-care",
                                                              "csv": header + good}), 201)
    ref = body["reference"]
    assert body["states"] == {"submitted": 2}
    ok(clients["validator"].post(f"/requests/batches/{ref}/validate", {}))
    body = ok(clients["approver"].post(f"/requests/batches/{ref}/approve", {
        "least_role": True, "told_not_to_view_own_records": True, "ig_training_on": "2026-05-01"}))
    assert body["states"] == {"approved": 2}
    listed = ok(clients["fulfiller"].get("/requests", queue="back_office", batch=ref))
    assert listed["count"] == 2
    assert ok(clients["fulfiller"].post(f"/requests/batches/{ref}/fulfil", {}))["states"] == {"fulfilled": 2}
    assert problem(clients["validator"].post(f"/requests/batches/{ref}/explode", {}), 422)["errors"]["action"]


def test_pagination_and_filters(world, clients):
    for _ in range(3):
        ok(clients["requester"].post("/requests", raise_body(world)), 201)
    page = ok(clients["requester"].get("/requests", queue="mine", page_size=2))
    assert page["count"] == 3 and len(page["items"]) == 2
    assert ok(clients["requester"].get("/requests", queue="mine", state="submitted"))["count"] == 0
    assert "queue" in problem(clients["requester"].get("/requests", queue="nope"), 422)["errors"]


def test_the_openapi_document_lists_the_operations():
    from careaccess.access_requests.tests.urls import api

    paths = api.get_openapi_schema(path_prefix="/api/v1")["paths"]
    assert "/api/v1/requests/{reference}/approve" in paths and "/api/v1/requests/batches" in paths

"""Every error is an RFC 9457 problem; a refused request changes nothing and writes no audit
entry; the OpenAPI document describes every operation, the bearer scheme and the errors."""

from __future__ import annotations

import pytest

from careaccess.api.testing import ApiClient, ledger_size, world  # noqa: F401
from careaccess.directory.models import Organisation, Person

pytestmark = pytest.mark.django_db

PROBLEM_FIELDS = {"type", "title", "status", "detail"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert PROBLEM_FIELDS <= set(body) and body["status"] == status
    assert body["detail"]
    return body


def test_ninja_validation_names_the_field_and_the_fix(world):
    before = ledger_size()
    body = assert_problem(world.ra_manager.post("/people", {"family_name": "X", "shoe_size": 9}), 422)
    assert body["errors"]["given_name"] == "this field is required; give a value"
    assert "remove it" in body["errors"]["shoe_size"]
    body = assert_problem(world.ra_manager.post("/people", {"given_name": "A", "family_name": "B",
                                                            "date_of_birth": "31/12/1990"}), 422)
    assert "YYYY-MM-DD" in body["errors"]["date_of_birth"]
    body = assert_problem(world.ra_manager.post("/organisations", {"code": "X12", "name": "X", "kind": "spaceport"}), 422)
    assert "icb" in body["errors"]["kind"]
    body = assert_problem(world.ra_manager.get("/organisations", page="two"), 422)
    assert body["errors"] == {"page": "enter a whole number"}
    assert ledger_size() == before


def test_service_validation_is_a_problem_with_errors(world):
    before, count = ledger_size(), Person.objects.count()
    body = assert_problem(world.ra_manager.post("/people", {"given_name": "A", "family_name": "B", "ni_number": "QQ12"}), 422)
    assert body["title"] == "Invalid input" and "National Insurance" in body["errors"]["ni_number"]
    assert body["type"] == "urn:careaccess:problem:invalid-input"
    assert ledger_size() == before and Person.objects.count() == count


def test_bad_json_is_a_400_problem(world):
    before = ledger_size()
    assert_problem(world.ra_manager.post("/people", raw="{not json"), 400)
    assert ledger_size() == before


def test_forbidden_and_conflict_are_problems(world):
    before, count = ledger_size(), Organisation.objects.count()
    body = assert_problem(world.sponsor.post("/organisations", {"code": "ABC12", "name": "New", "kind": "care_home"}), 403)
    assert body["title"] == "Forbidden" and "organisation create" in body["detail"]
    body = assert_problem(world.ra_manager.post("/organisations", {"code": "Y01234", "name": "Dup", "kind": "gp_practice"}), 409)
    assert "already exists" in body["detail"]
    assert ledger_size() == before and Organisation.objects.count() == count


def test_not_found_is_a_problem(world):
    assert_problem(world.ra_manager.get("/organisations/NOPE1"), 404)
    assert_problem(world.ra_manager.get("/people/123456789012"), 404)
    assert_problem(world.ra_manager.get("/people/not-a-uid"), 404)
    assert_problem(world.ra_manager.get("/positions/999999"), 404)
    assert_problem(world.ra_manager.get("/positions/abc"), 422)


def test_unknown_addresses_are_problems_too(world):
    assert_problem(world.ra_manager.get("/no/such/thing"), 404)
    assert_problem(ApiClient().client.delete("/api/v1/organisations/Y01234/nothing"), 404)


def test_docs_page_is_served():
    assert ApiClient().client.get("/api/v1/docs").status_code == 200


def test_problem_carries_the_request_id(world):
    response = world.ra_manager.get("/organisations/NOPE1")
    assert response.json()["request_id"] == response["X-Request-ID"]


def test_openapi_documents_everything():
    response = ApiClient().client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["BearerToken"]["scheme"] == "bearer"
    expected = {
        "/api/v1/organisations": {"get", "post"}, "/api/v1/organisations/{code}": {"get", "patch"},
        "/api/v1/organisations/{code}/units": {"get", "post"}, "/api/v1/people": {"get", "post"},
        "/api/v1/people/{uid}": {"get", "patch"}, "/api/v1/people/{uid}/access": {"get"},
        "/api/v1/decisions": {"post"}, "/api/v1/services": {"get", "post"}, "/api/v1/services/{code}": {"get", "patch"},
        "/api/v1/positions": {"get", "post"}, "/api/v1/positions/{position_id}": {"get", "patch"},
        "/api/v1/assignments": {"get", "post"}, "/api/v1/assignments/{assignment_id}": {"get", "patch"},
        "/api/v1/accounts": {"get", "post"}, "/api/v1/accounts/{account_id}": {"get", "patch"},
        "/api/v1/job-roles": {"get", "post"}, "/api/v1/activities": {"get", "post"},
    }
    for path, methods in expected.items():
        assert set(schema["paths"][path]) == methods, path
        for method in methods:
            operation = schema["paths"][path][method]
            assert operation["summary"] and operation["security"] == [{"BearerToken": []}]
            assert "401" in operation["responses"] and "422" in operation["responses"]
            problem = operation["responses"]["401"]["content"]
            assert list(problem) == ["application/problem+json"]
    assert "errors" in schema["components"]["schemas"]["ValidationProblem"]["properties"]

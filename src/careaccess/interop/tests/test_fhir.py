"""The FHIR R4 read API: resources validate with fhir.resources, identifier searches give Bundles,
errors are OperationOutcomes, scopes and rights are enforced, reads of people are logged.

fhir.resources ships R5 as its default and R4B (4.3) beside it; R4B's Practitioner,
PractitionerRole, Organization, Bundle, OperationOutcome and CapabilityStatement are R4's.
"""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from careaccess.directory import services, testing
from careaccess.directory.models import Assignment
from careaccess.interop.fhir.views import ODS_CODE, SDS_ROLE_PROFILE_ID, SDS_USER_ID
from careaccess.interop.models import ReadLog

from .conftest import auth, token_for

pytestmark = pytest.mark.django_db

FHIR = "application/fhir+json"


def get(client, path, secret, **params):
    response = client.get(f"/fhir/R4{path}", params, **(auth(secret) if secret else {}))
    assert response["Content-Type"] == FHIR
    return response


def valid(body: dict):
    """Validate with fhir.resources (raises on any deviation) and return the body."""
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def outcome(response, status):
    assert response.status_code == status, response.content
    body = valid(response.json())
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] == "error"
    return body


def test_capability_statement(client, world):
    body = valid(get(client, "/metadata", None).json())
    assert body["fhirVersion"] == "4.0.1"
    assert {r["type"] for r in body["rest"][0]["resource"]} == {"Practitioner", "PractitionerRole", "Organization"}


def test_practitioner_read_and_search(client, world):
    uid = world.holder.uid
    body = valid(get(client, f"/Practitioner/{uid}", world.reader_token).json())
    assert body["identifier"] == [{"system": SDS_USER_ID, "value": uid}]
    assert body["name"][0]["family"] == "Doctor"
    bundle = valid(get(client, "/Practitioner", world.reader_token, identifier=f"{SDS_USER_ID}|{uid}").json())
    assert bundle["type"] == "searchset" and bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["id"] == uid
    empty = valid(get(client, "/Practitioner", world.reader_token, identifier=f"{SDS_USER_ID}|999999999999").json())
    assert empty["total"] == 0 and empty["entry"] == []
    assert ReadLog.objects.filter(protocol="fhir", person_uids=uid).count() == 2


def test_practitioner_role_per_live_assignment(client, world):
    assignment = Assignment.objects.get(person=world.holder, position=world.position)
    role = valid(get(client, f"/PractitionerRole/{assignment.pk}", world.reader_token).json())
    assert role["identifier"] == [{"system": SDS_ROLE_PROFILE_ID, "value": str(assignment.pk)}]
    assert role["practitioner"]["reference"] == f"Practitioner/{world.holder.uid}"
    assert role["organization"]["identifier"] == {"system": ODS_CODE, "value": "B86001"}
    assert role["code"][0]["coding"][0]["code"] == "S8000:G8000:R8000"
    by_identifier = valid(get(client, "/PractitionerRole", world.reader_token,
                              identifier=f"{SDS_ROLE_PROFILE_ID}|{assignment.pk}").json())
    assert [e["resource"]["id"] for e in by_identifier["entry"]] == [str(assignment.pk)]
    by_person = valid(get(client, "/PractitionerRole", world.reader_token, practitioner=f"Practitioner/{world.holder.uid}").json())
    assert by_person["total"] == 1
    # an ended assignment is no longer a role
    services.update_assignment(testing.SYSTEM, assignment, state="ended")
    outcome(get(client, f"/PractitionerRole/{assignment.pk}", world.reader_token), 404)
    assert valid(get(client, "/PractitionerRole", world.reader_token, practitioner=world.holder.uid).json())["total"] == 0


def test_organization_read_and_search(client, world):
    org = valid(get(client, "/Organization/B86001", world.reader_token).json())
    assert org["identifier"] == [{"system": ODS_CODE, "value": "B86001"}]
    assert org["partOf"]["reference"] == "Organization/QWO"
    bundle = valid(get(client, "/Organization", world.reader_token, identifier=f"{ODS_CODE}|b86001").json())
    assert bundle["total"] == 1


def test_errors_are_operation_outcomes(client, world):
    outcome(get(client, "/Practitioner/000", world.reader_token), 404)
    outcome(get(client, "/Organization/NOPE", world.reader_token), 404)
    outcome(get(client, "/Practitioner", world.reader_token), 400)  # no search parameter
    outcome(get(client, "/Practitioner", world.reader_token, identifier="https://example.org|1"), 400)
    outcome(get(client, "/Practitioner", world.reader_token, name="Doctor"), 400)
    outcome(get(client, "/Patient/1", world.reader_token), 404)
    response = client.post("/fhir/R4/Practitioner", {}, **auth(world.reader_token))
    outcome(response, 405)


def test_scopes_and_rights(client, world):
    outcome(get(client, f"/Practitioner/{world.holder.uid}", None), 401)
    scim_only = token_for(person=world.manager, scopes=("scim.read",))
    outcome(get(client, f"/Practitioner/{world.holder.uid}", scim_only), 403)
    # a person with no staff rights may not read people even with the scope
    nobody = token_for(person=world.holder, scopes=("fhir.read",))
    outcome(get(client, f"/Practitioner/{world.holder.uid}", nobody), 403)
    assert get(client, "/Organization/QWO", nobody).status_code == 200  # organisations reveal nobody
    # a relying service with the scope may read people (its SERVICE_ACTIONS include person.read)
    service = services.create_service(testing.SYSTEM, code="portal", name="Care portal")
    assert get(client, f"/Practitioner/{world.holder.uid}", token_for(service=service)).status_code == 200
    assert not ReadLog.objects.filter(token_id__isnull=True).exists()

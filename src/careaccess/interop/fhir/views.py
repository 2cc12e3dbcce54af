"""A FHIR R4 read API at /fhir/R4: Practitioner (a person), PractitionerRole (one per live
assignment), Organization; read by id, search by identifier (`?identifier=system|value`) giving a
searchset Bundle; CapabilityStatement at /metadata; every error an OperationOutcome.

Needs a bearer token with the `fhir.read` scope; Practitioner and PractitionerRole reveal people, so
they also need the actor's `person.read` right, and every answer that shows people is logged.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from careaccess.core import clock, permissions
from careaccess.core.errors import CareAccessError
from careaccess.directory import rules
from careaccess.directory.models import Assignment, Organisation, Person
from careaccess.directory.selectors import live_assignment_filter

from .. import access

logger = logging.getLogger(__name__)
CONTENT_TYPE = "application/fhir+json"
SDS_USER_ID = "https://fhir.nhs.uk/Id/sds-user-id"
SDS_ROLE_PROFILE_ID = "https://fhir.nhs.uk/Id/sds-role-profile-id"
ODS_CODE = "https://fhir.nhs.uk/Id/ods-organization-code"
JOB_ROLE_CODE = "https://fhir.nhs.uk/CodeSystem/NHSDigital-SDS-JobRoleCode"
MAX_COUNT = 100


class FhirError(Exception):
    def __init__(self, status: int, code: str, diagnostics: str):
        super().__init__(diagnostics)
        self.status, self.code, self.diagnostics = status, code, diagnostics


def _json(status: int, body: dict) -> HttpResponse:
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def outcome(status: int, code: str, diagnostics: str) -> HttpResponse:
    response = _json(status, {"resourceType": "OperationOutcome",
                              "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}]})
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="careaccess"'
    return response


_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 409: "conflict", 422: "invalid"}


def endpoint(view):
    @csrf_exempt
    def wrapped(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            return outcome(405, "not-supported", "this FHIR API is read-only: use GET")
        try:
            return view(request, *args, **kwargs)
        except FhirError as exc:
            return outcome(exc.status, exc.code, exc.diagnostics)
        except CareAccessError as exc:
            return outcome(exc.status, _CODES.get(exc.status, "processing"), exc.message)
        except Exception:
            logger.exception("FHIR request failed: %s %s", request.method, request.path)
            return outcome(500, "exception", "the server failed to answer this request; it has been logged")

    wrapped.__name__ = view.__name__
    return wrapped


def _base(request) -> str:
    return request.build_absolute_uri(reverse("fhir-metadata")).rsplit("/", 1)[0]


def _instant(value) -> str:
    return value.astimezone(clock.now().tzinfo).isoformat().replace("+00:00", "Z")


def _actor(request, reveals_people: bool):
    actor = access.authenticate_with_scope(request, "fhir.read")
    if reveals_people:
        permissions.authorise(actor, "person.read")
    return actor


# --- resources ---

def practitioner(person: Person) -> dict:
    resource = {
        "resourceType": "Practitioner",
        "id": person.uid,
        "meta": {"lastUpdated": _instant(person.updated_at)},
        "identifier": [{"system": SDS_USER_ID, "value": person.uid}],
        "active": person.status == Person.Status.ACTIVE,
        "name": [{"use": "official", "family": person.family_name, "given": [person.given_name],
                  **({"prefix": [person.title]} if person.title else {})}],
    }
    telecom = []
    if person.email:
        telecom.append({"system": "email", "value": person.email, "use": "work"})
    if person.phone:
        telecom.append({"system": "phone", "value": person.phone, "use": "work"})
    if telecom:
        resource["telecom"] = telecom
    return resource


def role_profile_id(assignment: Assignment) -> str:
    """The assignment's stable role-profile id: its primary key, which never changes or is reused."""
    return str(assignment.pk)


def practitioner_role(assignment: Assignment) -> dict:
    person, position, organisation = assignment.person, assignment.position, assignment.position.organisation
    period = {"start": assignment.starts_on.isoformat()}
    if assignment.ends_on:
        period["end"] = assignment.ends_on.isoformat()
    resource = {
        "resourceType": "PractitionerRole",
        "id": role_profile_id(assignment),
        "meta": {"lastUpdated": _instant(assignment.updated_at)},
        "identifier": [{"system": SDS_ROLE_PROFILE_ID, "value": role_profile_id(assignment)}],
        "active": True,
        "period": period,
        "practitioner": {"reference": f"Practitioner/{person.uid}",
                         "identifier": {"system": SDS_USER_ID, "value": person.uid},
                         "display": f"{person.given_name} {person.family_name}"},
        "organization": {"reference": f"Organization/{organisation.code}",
                         "identifier": {"system": ODS_CODE, "value": organisation.code},
                         "display": organisation.name},
    }
    codes = [{"coding": [{"system": JOB_ROLE_CODE, "code": role.code, "display": role.name}], "text": position.name}
             for role in position.job_roles.all()]
    resource["code"] = codes or [{"text": position.name}]
    return resource


def organization(org: Organisation) -> dict:
    resource = {
        "resourceType": "Organization",
        "id": org.code,
        "meta": {"lastUpdated": _instant(org.updated_at)},
        "identifier": [{"system": ODS_CODE, "value": org.code}],
        "active": org.status != Organisation.Status.CLOSED,
        "type": [{"coding": [{"system": "https://careaccess.nhs.uk/CodeSystem/organisation-kind", "code": org.kind,
                              "display": org.get_kind_display()}]}],
        "name": org.name,
    }
    if org.short_name:
        resource["alias"] = [org.short_name]
    if org.parent_id:
        resource["partOf"] = {"reference": f"Organization/{org.parent.code}",
                              "identifier": {"system": ODS_CODE, "value": org.parent.code}}
    return resource


# --- queries ---

def _people():
    return Person.objects.exclude(status=Person.Status.LEFT)


def _roles():
    return (Assignment.objects.filter(live_assignment_filter(clock.today()))
            .select_related("person", "position__organisation").prefetch_related("position__job_roles"))


def _organisations():
    return Organisation.objects.select_related("parent")


def _identifier(request, system: str) -> str | None:
    raw = request.GET.get("identifier")
    if raw is None:
        return None
    wanted_system, bar, value = raw.partition("|")
    if not bar:
        value, wanted_system = raw, system
    if wanted_system and wanted_system != system:
        raise FhirError(400, "invalid", f"search by identifier with the system {system}, like ?identifier={system}|VALUE")
    if not value:
        raise FhirError(400, "invalid", "give the identifier's value after the |")
    return value


def _bundle(request, resource_type: str, resources: list[dict], total: int) -> dict:
    base = _base(request)
    query = urlencode(sorted(request.GET.items()))
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": f"{base}/{resource_type}" + (f"?{query}" if query else "")}],
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in resources],
    }


ALLOWED_PARAMS = {
    "Practitioner": {"identifier", "_count"},
    "PractitionerRole": {"identifier", "practitioner", "organization", "_count"},
    "Organization": {"identifier", "_count"},
}


def _check_params(request, resource_type: str) -> int:
    unknown = sorted(set(request.GET) - ALLOWED_PARAMS[resource_type])
    if unknown:
        raise FhirError(400, "not-supported", f"unsupported search parameters {', '.join(unknown)}; "
                        f"{resource_type} is searched by {', '.join(sorted(ALLOWED_PARAMS[resource_type]))}")
    if not set(request.GET) - {"_count"}:
        raise FhirError(400, "invalid", f"search {resource_type} by identifier, like ?identifier=SYSTEM|VALUE")
    raw = request.GET.get("_count", str(MAX_COUNT))
    if not raw.isdigit():
        raise FhirError(400, "invalid", "_count is a whole number")
    return min(int(raw), MAX_COUNT)


def _reference(request, name: str, resource_type: str, system: str) -> str | None:
    raw = request.GET.get(name)
    if raw is None:
        return None
    if raw.startswith(f"{resource_type}/"):
        return raw.split("/", 1)[1]
    if "|" in raw:
        given_system, _, value = raw.partition("|")
        if given_system in ("", system):
            return value
    if "/" not in raw:
        return raw
    raise FhirError(400, "invalid", f"{name} is a reference like {resource_type}/ID")


@endpoint
def metadata(request):
    base = _base(request)
    def resource(kind, params):
        return {"type": kind, "interaction": [{"code": "read"}, {"code": "search-type"}],
                "searchParam": [{"name": name, "type": kind_of} for name, kind_of in params]}
    return _json(200, {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": _instant(clock.now()),
        "publisher": "careaccess",
        "kind": "instance",
        "software": {"name": "careaccess"},
        "implementation": {"description": "careaccess FHIR R4 read API", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {"description": "Authorization: Bearer ca_... with the fhir.read scope"},
            "resource": [
                resource("Practitioner", [("identifier", "token")]),
                resource("PractitionerRole", [("identifier", "token"), ("practitioner", "reference"),
                                              ("organization", "reference")]),
                resource("Organization", [("identifier", "token")]),
            ],
        }],
    })


@endpoint
def practitioner_search(request):
    actor = _actor(request, True)
    count = _check_params(request, "Practitioner")
    uid = _identifier(request, SDS_USER_ID)
    people = list(_people().filter(uid=uid)[:count]) if rules.is_user_id(uid or "") else []
    access.log_read(request, actor, "fhir", [p.uid for p in people])
    return _json(200, _bundle(request, "Practitioner", [practitioner(p) for p in people], len(people)))


@endpoint
def practitioner_read(request, resource_id):
    actor = _actor(request, True)
    person = _people().filter(uid=resource_id).first() if rules.is_user_id(resource_id) else None
    if person is None:
        raise FhirError(404, "not-found", f"no Practitioner has the id {resource_id}")
    access.log_read(request, actor, "fhir", [person.uid])
    return _json(200, practitioner(person))


@endpoint
def role_search(request):
    actor = _actor(request, True)
    count = _check_params(request, "PractitionerRole")
    queryset = _roles()
    role_id = _identifier(request, SDS_ROLE_PROFILE_ID)
    if role_id is not None:
        queryset = queryset.filter(pk=int(role_id)) if role_id.isdigit() and len(role_id) <= 18 else queryset.none()
    uid = _reference(request, "practitioner", "Practitioner", SDS_USER_ID)
    if uid is not None:
        queryset = queryset.filter(person__uid=uid)
    code = _reference(request, "organization", "Organization", ODS_CODE)
    if code is not None:
        queryset = queryset.filter(position__organisation__code=code.upper())
    total = queryset.count()
    roles = list(queryset.order_by("id")[:count])
    access.log_read(request, actor, "fhir", [a.person.uid for a in roles])
    return _json(200, _bundle(request, "PractitionerRole", [practitioner_role(a) for a in roles], total))


@endpoint
def role_read(request, resource_id):
    actor = _actor(request, True)
    assignment = _roles().filter(pk=int(resource_id)).first() if resource_id.isdigit() and len(resource_id) <= 18 else None
    if assignment is None:
        raise FhirError(404, "not-found", f"no PractitionerRole has the id {resource_id} (only live assignments are roles)")
    access.log_read(request, actor, "fhir", [assignment.person.uid])
    return _json(200, practitioner_role(assignment))


@endpoint
def organization_search(request):
    _actor(request, False)
    count = _check_params(request, "Organization")
    code = _identifier(request, ODS_CODE)
    orgs = list(_organisations().filter(code=code.upper())[:count])
    return _json(200, _bundle(request, "Organization", [organization(o) for o in orgs], len(orgs)))


@endpoint
def organization_read(request, resource_id):
    _actor(request, False)
    org = _organisations().filter(code=resource_id).first()
    if org is None:
        raise FhirError(404, "not-found", f"no Organization has the id {resource_id}")
    return _json(200, organization(org))


@endpoint
def unknown(request, rest=""):
    raise FhirError(404, "not-supported", f"{request.path}: this server serves Practitioner, PractitionerRole and "
                    "Organization (and /metadata)")

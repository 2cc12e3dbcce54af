"""The directory's API router: organisations, units, people, the code catalogue, services,
positions, assignments, accounts, and the access and decision questions relying services ask.

Thin by design: writes go through `services` (which check permission, validate and audit), reads
through querysets and `selectors`, each first asking `permissions.authorise(actor, "<thing>.read")`.
"""

from __future__ import annotations

import datetime as dt
import json

from django.db.models import Exists, OuterRef, Prefetch, Q
from django.http import HttpResponse
from ninja import Query, Router, Status

from careaccess.api.pagination import page_of, paginate
from careaccess.api.problems import errors_for
from careaccess.core import clock, permissions
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput, NotFound

from . import person_search, selectors, services
from .decisions import decide_lean
from .models import (
    Account,
    Activity,
    Assignment,
    JobRole,
    Organisation,
    OrganisationalUnit,
    Person,
    Position,
    Service,
    ServiceRole,
)
from .schemas import (
    AccessOut,
    AccessQuery,
    AccountFilters,
    AccountIn,
    AccountOut,
    AccountPatch,
    ActivityIn,
    ActivityOut,
    AssignmentFilters,
    AssignmentIn,
    AssignmentOut,
    AssignmentPatch,
    CatalogueFilters,
    DecisionIn,
    DecisionOut,
    JobRoleIn,
    JobRoleOut,
    OrganisationFilters,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    PersonFilters,
    PersonIn,
    PersonOut,
    PersonPatch,
    PositionFilters,
    PositionIn,
    PositionOut,
    PositionPatch,
    ServiceFilters,
    ServiceIn,
    ServiceOut,
    ServicePatch,
    UnitIn,
    UnitOut,
)

router = Router()

READ = errors_for(401, 403, 422)
READ_ONE = errors_for(401, 403, 404, 422)
WRITE = errors_for(401, 403, 409, 422)
WRITE_ONE = errors_for(401, 403, 404, 409, 422)


def _actor(request) -> Actor:
    return request.auth


def _read(request, thing: str, organisation: Organisation | None = None) -> Actor:
    return permissions.authorise(_actor(request), f"{thing}.read", organisation)


def _changes(payload) -> dict:
    return payload.model_dump(exclude_unset=True)


# --- lookups: a path id that names nothing is 404; a body or filter value that does is 422 ---

def _organisation(code: str) -> Organisation:
    organisation = Organisation.objects.select_related("parent").filter(code=str(code).strip().upper()).first()
    if organisation is None:
        raise NotFound(f"no organisation has the code {code}")
    return organisation


def _organisation_field(code: str, field: str = "organisation") -> Organisation:
    organisation = Organisation.objects.filter(code=str(code).strip().upper()).first()
    if organisation is None:
        raise InvalidInput({field: f"no organisation has the code {code}; check the code"})
    return organisation


def _person(actor: Actor, uid: str, action: str = person_search.READ, *, record: bool = True,
            about: dict | None = None) -> Person:
    """The person with this user id, when the actor may take `action` about them (directory.person_search:
    the read recorded unless `record` is false). Forbidden for a token that may take it about nobody;
    NotFound alike for a user id nobody has and for a person outside the actor's scope."""
    permissions.authorise(actor, action)
    if record:
        found = person_search.read_person(actor, uid, action, about=about)
    else:
        found = person_search.find(actor, uid, action)
    if found is None:
        raise NotFound(f"no person you may read has the user id {uid}")
    return found.person


def _person_field(uid: str, field: str = "person") -> Person:
    person = Person.objects.filter(uid=str(uid).strip()).first()
    if person is None:
        raise InvalidInput({field: f"no person has the user id {uid}; check the 12-digit id"})
    return person


def _service(code: str) -> Service:
    service = Service.objects.prefetch_related("roles").filter(code=code).first()
    if service is None:
        raise NotFound(f"no service has the code {code}")
    return service


# --- rendering ---

def organisation_out(o: Organisation) -> dict:
    return {
        "code": o.code, "name": o.name, "short_name": o.short_name, "kind": o.kind,
        "parent": o.parent.code if o.parent_id else None, "oversees_descendants": o.oversees_descendants,
        "cqc_number": o.cqc_number, "has_service_desk": o.has_service_desk, "status": o.status,
        "closes_on": o.closes_on, "created_at": o.created_at, "updated_at": o.updated_at,
    }


def unit_out(u: OrganisationalUnit) -> dict:
    return {"organisation": u.organisation.code, "code": u.code, "name": u.name,
            "parent": u.parent.code if u.parent_id else None}


def person_out(p: Person, actor: Actor) -> dict:
    staff = actor.kind != "service"  # relying services get no NI number or date of birth
    return {
        "uid": p.uid, "title": p.title, "given_name": p.given_name, "family_name": p.family_name,
        "full_name": p.full_name, "date_of_birth": p.date_of_birth if staff else None,
        "ni_number": p.ni_number if staff else None, "email": p.email, "phone": p.phone, "status": p.status,
        "created_at": p.created_at, "updated_at": p.updated_at,
    }


def service_out(s: Service) -> dict:
    return {
        "code": s.code, "name": s.name, "allowed_purposes": s.allowed_purposes, "approver_kind": s.approver_kind,
        "sla_days": s.sla_days, "inactivity_days": s.inactivity_days, "review_months": s.review_months,
        "card_only": s.card_only, "status": s.status,
        "roles": [{"code": r.code, "name": r.name, "description": r.description}
                  for r in sorted(s.roles.all(), key=lambda r: r.code)],
        "created_at": s.created_at, "updated_at": s.updated_at,
    }


POSITION_PREFETCH = ("job_roles", "activities", Prefetch("service_roles", ServiceRole.objects.select_related("service")))


def _positions():
    return Position.objects.select_related("organisation", "unit").prefetch_related(*POSITION_PREFETCH)


def position_out(p: Position) -> dict:
    return {
        "id": p.id, "organisation": p.organisation.code, "organisation_name": p.organisation.name,
        "unit": p.unit.code if p.unit_id else None, "name": p.name,
        "job_roles": sorted(r.code for r in p.job_roles.all()),
        "activities": sorted(a.code for a in p.activities.all()),
        "service_roles": sorted(f"{r.service.code}:{r.code}" for r in p.service_roles.all()),
        "assignable_by_sponsors": p.assignable_by_sponsors, "status": p.status,
        "created_at": p.created_at, "updated_at": p.updated_at,
    }


def _position(position_id: int) -> Position:
    position = _positions().filter(pk=position_id).first()
    if position is None:
        raise NotFound(f"no position has the id {position_id}")
    return position


def _assignments():
    return Assignment.objects.select_related("person", "position__organisation")


def assignment_out(a: Assignment) -> dict:
    return {
        "id": a.id, "person": a.person.uid, "person_name": f"{a.person.given_name} {a.person.family_name}",
        "position": a.position_id, "position_name": a.position.name, "organisation": a.position.organisation.code,
        "starts_on": a.starts_on, "ends_on": a.ends_on, "state": a.state,
        "created_at": a.created_at, "updated_at": a.updated_at,
    }


def _assignment(assignment_id: int) -> Assignment:
    assignment = _assignments().filter(pk=assignment_id).first()
    if assignment is None:
        raise NotFound(f"no assignment has the id {assignment_id}")
    return assignment


def _accounts():
    return Account.objects.select_related("person", "service")


def account_out(a: Account) -> dict:
    return {
        "id": a.id, "person": a.person.uid, "service": a.service.code, "username": a.username, "state": a.state,
        "last_used_at": a.last_used_at, "created_at": a.created_at, "updated_at": a.updated_at,
    }


def _account(account_id: int) -> Account:
    account = _accounts().filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"no account has the id {account_id}")
    return account


def activity_out(a: Activity) -> dict:
    return {"code": a.code, "name": a.name, "includes": sorted(i.code for i in a.includes.all())}


# --- organisations ---

@router.get("/organisations", response={200: page_of(OrganisationOut), **READ}, tags=["organisations"],
            summary="List organisations", description="Filter by kind, status, parent (code) and q (name or code).")
def list_organisations(request, filters: Query[OrganisationFilters]):
    _read(request, "organisation")
    queryset = Organisation.objects.select_related("parent")
    if filters.kind:
        queryset = queryset.filter(kind=filters.kind)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.parent:
        queryset = queryset.filter(parent__code=filters.parent.strip().upper())
    if filters.q:
        q = filters.q.strip()
        queryset = queryset.filter(Q(name__icontains=q) | Q(short_name__icontains=q) | Q(code__iexact=q))
    return paginate(queryset, filters, organisation_out)


@router.post("/organisations", response={201: OrganisationOut, **WRITE}, tags=["organisations"],
             summary="Create an organisation", description="Needs the RA manager activity.")
def create_organisation(request, payload: OrganisationIn):
    organisation = services.create_organisation(_actor(request), **_changes(payload))
    return Status(201, organisation_out(organisation))


@router.get("/organisations/{code}", response={200: OrganisationOut, **READ_ONE}, tags=["organisations"],
            summary="Get an organisation by code")
def get_organisation(request, code: str):
    organisation = _organisation(code)
    _read(request, "organisation", organisation)
    return organisation_out(organisation)


@router.patch("/organisations/{code}", response={200: OrganisationOut, **WRITE_ONE}, tags=["organisations"],
              summary="Change an organisation", description="Send only the fields to change. Closing: status "
              "`closing` with `closes_on`.")
def update_organisation(request, code: str, payload: OrganisationPatch):
    organisation = services.update_organisation(_actor(request), _organisation(code), **_changes(payload))
    return organisation_out(Organisation.objects.select_related("parent").get(pk=organisation.pk))


@router.get("/organisations/{code}/units", response={200: page_of(UnitOut), **READ_ONE}, tags=["organisations"],
            summary="List an organisation's units")
def list_units(request, code: str, filters: Query[CatalogueFilters]):
    organisation = _organisation(code)
    _read(request, "organisation", organisation)
    queryset = OrganisationalUnit.objects.filter(organisation=organisation).select_related("organisation", "parent")
    if filters.q:
        queryset = queryset.filter(Q(name__icontains=filters.q) | Q(code__iexact=filters.q))
    return paginate(queryset, filters, unit_out)


@router.post("/organisations/{code}/units", response={201: UnitOut, **WRITE_ONE}, tags=["organisations"],
             summary="Create an organisational unit", description="e.g. a care home under its sponsoring organisation (NM7).")
def create_unit(request, code: str, payload: UnitIn):
    unit = services.create_unit(_actor(request), _organisation(code), **_changes(payload))
    return Status(201, unit_out(unit))


# --- people ---

WHOM = ("A member of staff's token reads the people who hold or held a position at an organisation the acting "
        "position covers: its own, and its descendants where it oversees others (rules SC8, SC10: a leaver stays "
        "readable by the sites they left; DS15: a locum by each site holding their position); people placed "
        "nowhere only when it covers every organisation. A relying service's token reads everyone. ")


@router.get("/people", response={200: page_of(PersonOut), **READ}, tags=["people"], summary="List people",
            description=WHOM + "People outside that scope are never listed. In name order (family name, then "
            "given names, compared in upper case; then user id). `q` finds people as the staff search page does, "
            "by one of: a 12-digit user ID; a whole email address (any case); or the start of a name, that is the "
            "start of the family name after the start of the given names (`Tay` finds Taylor, `Alex Tay` finds "
            "Alex Taylor and Alexandra Tay). It is one range of an index, not a search for words anywhere in a "
            "name: `lor` finds no Taylor. A `q` that is none of these is 422, naming `q`. `status` narrows to a "
            "state; `organisation` (a code) to people with a live assignment there, and is 403 when the token "
            "may not read people there. Each call by staff is one audit entry (`person.searched`) naming the "
            "user ids it showed (rules PP9, PP15).")
def list_people(request, filters: Query[PersonFilters]):
    organisation = _organisation_field(filters.organisation) if filters.organisation else None
    actor = _actor(request)
    _read(request, "person", organisation)
    typed = " ".join((filters.q or "").split())
    query = person_search.parse(typed) if typed else None
    queryset = person_search.matching(actor, query)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if organisation is not None:
        live = Assignment.objects.filter(selectors.live_assignment_filter(clock.today()), person=OuterRef("pk"),
                                         position__organisation=organisation)
        queryset = queryset.filter(Exists(live))
    page = paginate(queryset, filters, lambda p: person_out(p, actor))
    asked = {"status": filters.status, "organisation": organisation.code if organisation is not None else None}
    person_search.record_search(actor, query, [p["uid"] for p in page["items"]],
                                filters={k: v for k, v in asked.items() if v} or None)
    return page


@router.post("/people", response={201: PersonOut, **WRITE}, tags=["people"], summary="Register a person",
             description="Pre-registration (SC4). Needs the RA agent or RA manager activity.")
def create_person(request, payload: PersonIn):
    person = services.create_person(_actor(request), **_changes(payload))
    return Status(201, person_out(person, _actor(request)))


@router.get("/people/{uid}", response={200: PersonOut, **READ_ONE}, tags=["people"], summary="Get a person by user id",
            description=WHOM + "Anyone else is 404, as for a user id nobody has. A read by staff is an audit entry "
            "(`person.viewed`; rules PP9, PP15).")
def get_person(request, uid: str):
    actor = _actor(request)
    return person_out(_person(actor, uid), actor)


@router.patch("/people/{uid}", response={200: PersonOut, **WRITE_ONE}, tags=["people"], summary="Change a person",
              description="Send only the fields to change. A person the token may not read (see Get a person) is 404.")
def update_person(request, uid: str, payload: PersonPatch):
    actor = _actor(request)
    # The answer is their record, so the read rule applies first; the change is recorded, the read not.
    person = services.update_person(actor, _person(actor, uid, record=False), **_changes(payload))
    return person_out(person, actor)


@router.get("/people/{uid}/access", response={200: AccessOut, **READ_ONE}, tags=["access"],
            summary="A person's effective access",
            description="The union of their live assignments' positions (SC8) at `at` (default now): "
                        "positions, organisations, job role codes, activity codes (with included ones) and service roles. "
                        + WHOM + "Anyone else is 404, as for a user id nobody has. A read by staff is an audit "
                        "entry (`person.viewed`, about their access; rules PP9, PP15).")
def get_access(request, uid: str, query: Query[AccessQuery]):
    at = _aware(query.at)
    person = _person(_actor(request), uid, "access.read",
                     about={"read": "access", **({"at": at.isoformat()} if at is not None else {})})
    access = selectors.effective_access(person, at)
    return {
        "uid": access.uid, "at": access.at, "organisations": access.organisations, "role_codes": access.role_codes,
        "activity_codes": access.activity_codes, "service_roles": access.service_roles,
        "positions": [
            {"assignment": a.assignment_id, "position_id": a.position_id, "position": a.position,
             "organisation": a.organisation_code, "organisation_name": a.organisation, "starts_on": a.starts_on,
             "ends_on": a.ends_on, "role_codes": a.role_codes, "activity_codes": a.activity_codes,
             "service_roles": a.service_roles}
            for a in access.assignments
        ],
    }


def _aware(at: dt.datetime | None) -> dt.datetime | None:
    if at is not None and at.tzinfo is None:
        return at.replace(tzinfo=clock.local_zone())
    return at


@router.post("/decisions", response={200: DecisionOut, **READ_ONE}, tags=["access"], summary="Decide one access question",
             description="May this person do this activity (`activity`), or hold this role of a service (`service` and "
                         "`role`), optionally only through positions at `organisation`, at `at` (default now)? "
                         "Answers allowed or not, with the reason and the assignment that allows it. Not audited.")
def decide(request, payload: DecisionIn):
    # A well-formed call is answered by careaccess.api.decisions before it gets here; this
    # operation documents the endpoint and answers the others (see that module).
    return answer_decision(_actor(request), payload)


def answer_decision(actor: Actor, payload: DecisionIn) -> HttpResponse:
    """The decision asked in `payload`, as the endpoint's response."""
    errors = {}
    if payload.activity and (payload.service or payload.role):
        errors["activity"] = "ask about an activity, or about a service role, not both"
        errors["service"] = errors["activity"]
    elif not payload.activity and not payload.service:
        errors["activity"] = "give an activity code, or a service and role"
        errors["service"] = "give a service code and role, or an activity code"
    elif payload.service and not payload.role:
        errors["role"] = "give the role's code on the service too"
    elif payload.role and not payload.service:
        errors["service"] = "give the service's code for the role"
    if errors:
        raise InvalidInput(errors)
    permissions.authorise(actor, "decision.ask")
    decision = decide_lean(
        payload.uid.strip(),
        activity=payload.activity.strip().upper() if payload.activity else None,
        service_role=f"{payload.service.strip()}:{payload.role.strip()}" if payload.service else None,
        organisation_code=payload.organisation.strip().upper() if payload.organisation else None,
        at=_aware(payload.at),
    )
    # Written out here rather than validated against DecisionOut and encoded by ninja: a tenth of the
    # endpoint's time, for five fields of known types (the same document; tests compare it).
    return HttpResponse(json.dumps({
        "allowed": decision.allowed, "reason": decision.reason, "assignment": decision.assignment_id,
        "position": decision.position, "organisation": decision.organisation_code,
    }), content_type="application/json")


# --- catalogue ---

@router.get("/job-roles", response={200: page_of(JobRoleOut), **READ}, tags=["catalogue"], summary="List job role codes")
def list_job_roles(request, filters: Query[CatalogueFilters]):
    _read(request, "position")
    queryset = JobRole.objects.all()
    if filters.q:
        queryset = queryset.filter(Q(code__icontains=filters.q) | Q(name__icontains=filters.q))
    return paginate(queryset, filters, lambda r: {"code": r.code, "name": r.name})


@router.post("/job-roles", response={200: JobRoleOut, 201: JobRoleOut, **WRITE}, tags=["catalogue"],
             summary="Add or rename a job role code", description="201 when added, 200 when it existed.")
def upsert_job_role(request, payload: JobRoleIn):
    existed = JobRole.objects.filter(code=payload.code.strip().upper()).exists()
    role = services.upsert_job_role(_actor(request), **_changes(payload))
    return Status(200 if existed else 201, {"code": role.code, "name": role.name})


@router.get("/activities", response={200: page_of(ActivityOut), **READ}, tags=["catalogue"], summary="List activity codes")
def list_activities(request, filters: Query[CatalogueFilters]):
    _read(request, "position")
    queryset = Activity.objects.prefetch_related("includes")
    if filters.q:
        queryset = queryset.filter(Q(code__icontains=filters.q) | Q(name__icontains=filters.q))
    return paginate(queryset, filters, activity_out)


@router.post("/activities", response={200: ActivityOut, 201: ActivityOut, **WRITE}, tags=["catalogue"],
             summary="Add or change an activity code", description="`includes` lists the activities it includes. "
             "201 when added, 200 when it existed.")
def upsert_activity(request, payload: ActivityIn):
    existed = Activity.objects.filter(code=payload.code.strip().upper()).exists()
    activity = services.upsert_activity(_actor(request), **_changes(payload))
    activity = Activity.objects.prefetch_related("includes").get(pk=activity.pk)
    return Status(200 if existed else 201, activity_out(activity))


# --- services ---

@router.get("/services", response={200: page_of(ServiceOut), **READ}, tags=["services"], summary="List relying services")
def list_services(request, filters: Query[ServiceFilters]):
    _read(request, "service")
    queryset = Service.objects.prefetch_related("roles")
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.q:
        queryset = queryset.filter(Q(code__icontains=filters.q) | Q(name__icontains=filters.q))
    return paginate(queryset, filters, service_out)


@router.post("/services", response={201: ServiceOut, **WRITE}, tags=["services"], summary="Create a relying service",
             description="Its policy (roles, purposes, approver, SLA, inactivity limit, review cadence) is data.")
def create_service(request, payload: ServiceIn):
    data = _changes(payload)
    service = services.create_service(_actor(request), **data)
    return Status(201, service_out(_service(service.code)))


@router.get("/services/{code}", response={200: ServiceOut, **READ_ONE}, tags=["services"], summary="Get a service by code")
def get_service(request, code: str):
    service = _service(code)
    _read(request, "service")
    return service_out(service)


@router.patch("/services/{code}", response={200: ServiceOut, **WRITE_ONE}, tags=["services"], summary="Change a service",
              description="Send only the fields to change; `roles`, when sent, is the full new list.")
def update_service(request, code: str, payload: ServicePatch):
    service = services.update_service(_actor(request), _service(code), **_changes(payload))
    return service_out(_service(service.code))


# --- positions ---

@router.get("/positions", response={200: page_of(PositionOut), **READ}, tags=["positions"], summary="List positions")
def list_positions(request, filters: Query[PositionFilters]):
    organisation = _organisation_field(filters.organisation) if filters.organisation else None
    _read(request, "position", organisation)
    queryset = _positions()
    if organisation is not None:
        queryset = queryset.filter(organisation=organisation)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    return paginate(queryset, filters, position_out)


@router.post("/positions", response={201: PositionOut, **WRITE}, tags=["positions"], summary="Create a position",
             description="A job type in one organisation carrying job role, activity and service role codes (SC8).")
def create_position(request, payload: PositionIn):
    data = _changes(payload)
    organisation = _organisation_field(data.pop("organisation"))
    position = services.create_position(_actor(request), organisation, **data)
    return Status(201, position_out(_position(position.pk)))


@router.get("/positions/{position_id}", response={200: PositionOut, **READ_ONE}, tags=["positions"], summary="Get a position")
def get_position(request, position_id: int):
    position = _position(position_id)
    _read(request, "position", position.organisation)
    return position_out(position)


@router.patch("/positions/{position_id}", response={200: PositionOut, **WRITE_ONE}, tags=["positions"],
              summary="Change a position", description="A change reaches everyone in the position (SC8). "
              "Code lists, when sent, replace the current ones.")
def update_position(request, position_id: int, payload: PositionPatch):
    position = services.update_position(_actor(request), _position(position_id), **_changes(payload))
    return position_out(_position(position.pk))


# --- assignments ---

@router.get("/assignments", response={200: page_of(AssignmentOut), **READ}, tags=["assignments"], summary="List assignments",
            description="Filter by person (user id), position (id), organisation (code), state, live=true (live today). "
                        "Only the assignments of people the token's position may read (as GET /people).")
def list_assignments(request, filters: Query[AssignmentFilters]):
    organisation = _organisation_field(filters.organisation) if filters.organisation else None
    actor = _read(request, "assignment", organisation)
    queryset = person_search.about_readable(actor, _assignments(), "assignment.read")
    if filters.person:
        queryset = queryset.filter(person__uid=filters.person.strip())
    if filters.position:
        queryset = queryset.filter(position_id=filters.position)
    if organisation is not None:
        queryset = queryset.filter(position__organisation=organisation)
    if filters.state:
        queryset = queryset.filter(state=filters.state)
    if filters.live is True:
        queryset = queryset.filter(selectors.live_assignment_filter(clock.today()))
    elif filters.live is False:
        queryset = queryset.exclude(selectors.live_assignment_filter(clock.today()))
    return paginate(queryset, filters, assignment_out)


@router.post("/assignments", response={201: AssignmentOut, **WRITE}, tags=["assignments"],
             summary="Place a person in a position", description="RA agents; sponsors only for positions assignable by sponsors.")
def create_assignment(request, payload: AssignmentIn):
    data = _changes(payload)
    person = _person_field(data.pop("person"))
    position = Position.objects.select_related("organisation").filter(pk=data.pop("position")).first()
    if position is None:
        raise InvalidInput({"position": f"no position has the id {payload.position}"})
    assignment = services.create_assignment(_actor(request), person, position, **data)
    return Status(201, assignment_out(_assignment(assignment.pk)))


@router.get("/assignments/{assignment_id}", response={200: AssignmentOut, **READ_ONE}, tags=["assignments"],
            summary="Get an assignment")
def get_assignment(request, assignment_id: int):
    assignment = _assignment(assignment_id)
    _read(request, "assignment", assignment.position.organisation)
    return assignment_out(assignment)


@router.patch("/assignments/{assignment_id}", response={200: AssignmentOut, **WRITE_ONE}, tags=["assignments"],
              summary="Change or end an assignment", description="Set ends_on, or state suspended/ended; give a reason.")
def update_assignment(request, assignment_id: int, payload: AssignmentPatch):
    assignment = services.update_assignment(_actor(request), _assignment(assignment_id), **_changes(payload))
    return assignment_out(_assignment(assignment.pk))


# --- accounts ---

@router.get("/accounts", response={200: page_of(AccountOut), **READ}, tags=["accounts"], summary="List accounts",
            description="Filter by person (user id), service (code) and state. Only the accounts of people the "
                        "token's position may read (as GET /people); another's is 404 as one nobody has.")
def list_accounts(request, filters: Query[AccountFilters]):
    actor = _read(request, "account")
    queryset = person_search.about_readable(actor, _accounts(), "account.read")
    if filters.person:
        queryset = queryset.filter(person__uid=filters.person.strip())
    if filters.service:
        queryset = queryset.filter(service__code=filters.service.strip())
    if filters.state:
        queryset = queryset.filter(state=filters.state)
    return paginate(queryset, filters, account_out)


@router.post("/accounts", response={201: AccountOut, **WRITE}, tags=["accounts"], summary="Create an account on a service")
def create_account(request, payload: AccountIn):
    data = _changes(payload)
    person = _person_field(data.pop("person"))
    service = Service.objects.filter(code=data.pop("service").strip()).first()
    if service is None:
        raise InvalidInput({"service": f"no service has the code {payload.service}"})
    account = services.create_account(_actor(request), person, service, **data)
    return Status(201, account_out(_account(account.pk)))


@router.get("/accounts/{account_id}", response={200: AccountOut, **READ_ONE}, tags=["accounts"], summary="Get an account")
def get_account(request, account_id: int):
    actor = _read(request, "account")
    account = person_search.about_readable(actor, _accounts(), "account.read").filter(pk=account_id).first()
    if account is None:
        raise NotFound(f"no account has the id {account_id}")  # also one about a person beyond reach: nothing told
    return account_out(account)


@router.patch("/accounts/{account_id}", response={200: AccountOut, **WRITE_ONE}, tags=["accounts"],
              summary="Change, suspend or reinstate an account", description="Accounts are never deleted (PP8).")
def update_account(request, account_id: int, payload: AccountPatch):
    account = services.update_account(_actor(request), _account(account_id), **_changes(payload))
    return account_out(_account(account.pk))

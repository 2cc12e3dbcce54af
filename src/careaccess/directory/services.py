"""The only code that writes the directory. Each function checks permission, validates, writes and
records the audit entry in one transaction; a refusal raises before anything is written."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, InvalidInput, NotFound

from . import rules
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
from .validation import (
    boolean,
    choice,
    clean,
    date,
    email,
    optional,
    past_date,
    positive_int,
    string_list,
    text,
    wrap,
)


def snapshot(instance, fields) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in fields}


def _apply(instance, cleaned: dict[str, Any]) -> dict[str, Any]:
    """Set the changed fields; return {field: (old, new)} of what really changed."""
    changed = {}
    for name, value in cleaned.items():
        old = getattr(instance, name)
        if old != value:
            changed[name] = (old, value)
            setattr(instance, name, value)
    return changed


def _record(action: str, actor: Actor, instance, *, before=None, after=None, person_uid=None,
            organisation_code=None, reason: str = ""):
    ledger.record(
        action,
        actor=actor,
        target_type=instance._meta.model_name,
        target_id=instance.pk,
        before=before,
        after=after,
        person_uid=person_uid,
        organisation_code=organisation_code,
        reason=reason,
    )


def _save_unique(instance, message: str, **save_kwargs):
    """Save, turning a unique-constraint race into a clear conflict (the transaction is unusable after)."""
    try:
        with transaction.atomic():
            instance.save(**save_kwargs)
    except IntegrityError:
        raise Conflict(message) from None


# --- organisations ---

ORGANISATION_FIELDS = {
    "code": wrap(rules.normalise_org_code),
    "name": text(200),
    "short_name": text(40, required=False),
    "kind": choice(Organisation.Kind),
    "parent": optional(str, None),
    "oversees_descendants": boolean,
    "cqc_number": optional(wrap(rules.normalise_cqc_number)),
    "has_service_desk": boolean,
    "status": choice(Organisation.Status),
    "closes_on": optional(date, None),
}
ORGANISATION_DEFAULTS = {"short_name": "", "oversees_descendants": False, "cqc_number": "", "has_service_desk": False,
                         "status": Organisation.Status.ACTIVE, "closes_on": None, "parent": None}
ORGANISATION_AUDITED = ("code", "name", "short_name", "kind", "parent_id", "oversees_descendants", "cqc_number",
                        "has_service_desk", "status", "closes_on")


def _organisation_by_code(code: str, field: str) -> Organisation:
    try:
        return Organisation.objects.get(code=str(code).strip().upper())
    except Organisation.DoesNotExist:
        raise InvalidInput({field: f"no organisation has the code {code}; check the code or create it first"}) from None


def _check_organisation_status(values: dict[str, Any]) -> None:
    if values.get("status") == Organisation.Status.CLOSING and not values.get("closes_on"):
        raise InvalidInput({"closes_on": "give the date the organisation closes when its status is closing"})
    if values.get("status") == Organisation.Status.ACTIVE and values.get("closes_on"):
        raise InvalidInput({"closes_on": "an active organisation has no closing date; set status to closing"})


@transaction.atomic
def create_organisation(actor: Actor, **data) -> Organisation:
    cleaned = clean(ORGANISATION_FIELDS, {**ORGANISATION_DEFAULTS, **data}, partial=False)
    parent_code = cleaned.pop("parent")
    parent = _organisation_by_code(parent_code, "parent") if parent_code else None
    _check_organisation_status(cleaned)
    actor = permissions.authorise(actor, "organisation.create", parent)
    if Organisation.objects.filter(code=cleaned["code"]).exists():
        raise Conflict(f"an organisation with the code {cleaned['code']} already exists")
    now = clock.now()
    organisation = Organisation(**cleaned, parent=parent, created_at=now, updated_at=now)
    _save_unique(organisation, f"an organisation with the code {cleaned['code']} already exists")
    _record("organisation.created", actor, organisation, after=snapshot(organisation, ORGANISATION_AUDITED),
            organisation_code=organisation.code)
    return organisation


@transaction.atomic
def update_organisation(actor: Actor, organisation: Organisation, **data) -> Organisation:
    organisation = Organisation.objects.select_for_update().get(pk=organisation.pk)
    cleaned = clean({k: v for k, v in ORGANISATION_FIELDS.items() if k != "code"}, data, partial=True)
    actor = permissions.authorise(actor, "organisation.update", organisation)
    if "parent" in cleaned:
        parent = _organisation_by_code(cleaned.pop("parent"), "parent") if cleaned["parent"] else None
        if parent is not None and (parent.id == organisation.id or organisation.id in {a.id for a in _ancestors(parent)}):
            raise InvalidInput({"parent": "an organisation cannot be placed under itself or its own descendant"})
        cleaned["parent_id"] = parent.id if parent else None
    merged = {"status": organisation.status, "closes_on": organisation.closes_on, **cleaned}
    _check_organisation_status(merged)
    before = snapshot(organisation, ORGANISATION_AUDITED)
    if _apply(organisation, cleaned):
        organisation.updated_at = clock.now()
        organisation.save()
        _record("organisation.updated", actor, organisation, before=before,
                after=snapshot(organisation, ORGANISATION_AUDITED), organisation_code=organisation.code)
    return organisation


def _ancestors(organisation):
    from .selectors import ancestors

    return ancestors(organisation)


# --- organisational units ---

@transaction.atomic
def create_unit(actor: Actor, organisation: Organisation, *, code: str, name: str, parent: str | None = None) -> OrganisationalUnit:
    cleaned = clean({"code": text(30), "name": text(200)}, {"code": code, "name": name}, partial=False)
    actor = permissions.authorise(actor, "unit.create", organisation)
    parent_unit = None
    if parent:
        parent_unit = OrganisationalUnit.objects.filter(organisation=organisation, code=parent).first()
        if parent_unit is None:
            raise InvalidInput({"parent": f"{organisation.code} has no unit with the code {parent}"})
    if OrganisationalUnit.objects.filter(organisation=organisation, code=cleaned["code"]).exists():
        raise Conflict(f"{organisation.code} already has a unit with the code {cleaned['code']}")
    unit = OrganisationalUnit.objects.create(organisation=organisation, parent=parent_unit, created_at=clock.now(), **cleaned)
    _record("unit.created", actor, unit, after={**cleaned, "parent": parent}, organisation_code=organisation.code)
    return unit


# --- people ---

PERSON_FIELDS = {
    "title": text(20, required=False),
    "given_name": text(100),
    "family_name": text(100),
    "date_of_birth": optional(past_date, None),
    "ni_number": optional(wrap(rules.normalise_ni_number)),
    "email": optional(email),
    "phone": optional(wrap(rules.normalise_phone)),
}
PERSON_AUDITED = ("uid", *PERSON_FIELDS, "status")


@transaction.atomic
def create_person(actor: Actor, **data) -> Person:
    cleaned = clean(PERSON_FIELDS, data, partial=False)
    actor = permissions.authorise(actor, "person.create")
    if cleaned["ni_number"] and Person.objects.filter(ni_number=cleaned["ni_number"]).exists():
        raise Conflict("a person with this National Insurance number is already registered; search for them instead")
    uid = rules.new_user_id()
    while Person.objects.filter(uid=uid).exists():
        uid = rules.new_user_id()
    now = clock.now()
    person = Person.objects.create(uid=uid, created_at=now, updated_at=now, **cleaned)
    _record("person.created", actor, person, after=snapshot(person, PERSON_AUDITED), person_uid=person.uid)
    return person


@transaction.atomic
def update_person(actor: Actor, person: Person, **data) -> Person:
    person = Person.objects.select_for_update().get(pk=person.pk)
    fields = {**PERSON_FIELDS, "status": choice(Person.Status)}
    cleaned = clean(fields, data, partial=True)
    actor = permissions.authorise(actor, "person.update")
    if cleaned.get("ni_number") and Person.objects.filter(ni_number=cleaned["ni_number"]).exclude(pk=person.pk).exists():
        raise Conflict("another person is registered with this National Insurance number")
    before = snapshot(person, PERSON_AUDITED)
    if _apply(person, cleaned):
        person.updated_at = clock.now()
        person.save()
        _record("person.updated", actor, person, before=before, after=snapshot(person, PERSON_AUDITED), person_uid=person.uid)
    return person


# --- catalogue ---

@transaction.atomic
def upsert_job_role(actor: Actor, *, code: str, name: str) -> JobRole:
    cleaned = clean({"code": wrap(rules.check_job_role_code), "name": text(200)}, {"code": code, "name": name}, partial=False)
    actor = permissions.authorise(actor, "service.update")
    role, created = JobRole.objects.get_or_create(code=cleaned["code"], defaults={"name": cleaned["name"]})
    if created or role.name != cleaned["name"]:
        before = None if created else {"code": role.code, "name": role.name}
        role.name = cleaned["name"]
        role.save()
        _record("job_role.created" if created else "job_role.updated", actor, role, before=before, after=cleaned)
    return role


@transaction.atomic
def upsert_activity(actor: Actor, *, code: str, name: str, includes: list[str] = ()) -> Activity:
    cleaned = clean({"code": wrap(rules.check_activity_code), "name": text(200)}, {"code": code, "name": name}, partial=False)
    actor = permissions.authorise(actor, "service.update")
    included = list(Activity.objects.filter(code__in=includes))
    missing = set(includes) - {a.code for a in included}
    if missing:
        raise InvalidInput({"includes": f"unknown activity codes {', '.join(sorted(missing))}; add them first"})
    activity, created = Activity.objects.get_or_create(code=cleaned["code"], defaults={"name": cleaned["name"]})
    before = None if created else {"name": activity.name, "includes": sorted(a.code for a in activity.includes.all())}
    after = {"name": cleaned["name"], "includes": sorted(includes)}
    if before != after:
        activity.name = cleaned["name"]
        activity.save()
        activity.includes.set(included)
        _record("activity.created" if created else "activity.updated", actor, activity, before=before, after=after)
    return activity


# --- services ---

SERVICE_FIELDS = {
    "code": text(50),
    "name": text(200),
    "allowed_purposes": string_list,
    "approver_kind": choice(Service.ApproverKind),
    "sla_days": positive_int,
    "inactivity_days": positive_int,
    "review_months": positive_int,
    "card_only": boolean,
    "status": choice(Service.Status),
}
SERVICE_DEFAULTS = {"allowed_purposes": ["direct care"], "approver_kind": Service.ApproverKind.AUTHORISER,
                    "sla_days": 5, "inactivity_days": 60, "review_months": 3, "card_only": False,
                    "status": Service.Status.ACTIVE}
SERVICE_AUDITED = tuple(SERVICE_FIELDS)


def _clean_roles(roles) -> list[dict[str, str]]:
    if not isinstance(roles, (list, tuple)):
        raise InvalidInput({"roles": "give a list of roles, each with a code and a name"})
    errors, cleaned, seen = {}, [], set()
    for i, role in enumerate(roles):
        code = str((role or {}).get("code", "")).strip()
        name = str((role or {}).get("name", "")).strip()
        if not code or not name or not code.replace("-", "").replace("_", "").isalnum():
            errors[f"roles[{i}]"] = "each role needs a code (letters, digits, - or _) and a name"
        elif code in seen:
            errors[f"roles[{i}]"] = f"the role code {code} is given twice"
        seen.add(code)
        cleaned.append({"code": code, "name": name, "description": str((role or {}).get("description", ""))})
    if errors:
        raise InvalidInput(errors)
    return cleaned


@transaction.atomic
def create_service(actor: Actor, *, roles=(), **data) -> Service:
    cleaned = clean(SERVICE_FIELDS, {**SERVICE_DEFAULTS, **data}, partial=False)
    role_rows = _clean_roles(roles)
    actor = permissions.authorise(actor, "service.create")
    if Service.objects.filter(code=cleaned["code"]).exists():
        raise Conflict(f"a service with the code {cleaned['code']} already exists")
    now = clock.now()
    service = Service.objects.create(created_at=now, updated_at=now, **cleaned)
    ServiceRole.objects.bulk_create([ServiceRole(service=service, **r) for r in role_rows])
    _record("service.created", actor, service, after={**snapshot(service, SERVICE_AUDITED), "roles": role_rows})
    return service


@transaction.atomic
def update_service(actor: Actor, service: Service, *, roles=None, **data) -> Service:
    service = Service.objects.select_for_update().get(pk=service.pk)
    cleaned = clean({k: v for k, v in SERVICE_FIELDS.items() if k != "code"}, data, partial=True)
    actor = permissions.authorise(actor, "service.update")
    before = {**snapshot(service, SERVICE_AUDITED), "roles": _roles_of(service)}
    changed = _apply(service, cleaned)
    if roles is not None:
        wanted = {r["code"]: r for r in _clean_roles(roles)}
        existing = {r.code: r for r in service.roles.all()}
        dropped = set(existing) - set(wanted)
        in_use = [c for c in dropped if existing[c].positions.exists()]
        if in_use:
            raise InvalidInput({"roles": f"roles {', '.join(sorted(in_use))} are carried by positions; take them off the positions first"})
        ServiceRole.objects.filter(service=service, code__in=dropped).delete()
        for code, row in wanted.items():
            ServiceRole.objects.update_or_create(service=service, code=code, defaults={"name": row["name"], "description": row["description"]})
    after = {**snapshot(service, SERVICE_AUDITED), "roles": _roles_of(service)}
    if changed or after != before:
        service.updated_at = clock.now()
        service.save()
        _record("service.updated", actor, service, before=before, after=after)
    return service


def _roles_of(service: Service) -> list[dict[str, str]]:
    return [{"code": r.code, "name": r.name, "description": r.description} for r in service.roles.order_by("code")]


# --- positions ---

def _resolve_codes(data: dict[str, Any]) -> tuple[list[JobRole], list[Activity], list[ServiceRole], dict[str, str]]:
    errors = {}
    role_codes = data.get("job_roles") or []
    activity_codes = data.get("activities") or []
    service_role_keys = data.get("service_roles") or []
    job_roles = list(JobRole.objects.filter(code__in=role_codes))
    if missing := set(role_codes) - {r.code for r in job_roles}:
        errors["job_roles"] = f"unknown job role codes {', '.join(sorted(missing))}"
    activities = list(Activity.objects.filter(code__in=activity_codes))
    if missing := set(activity_codes) - {a.code for a in activities}:
        errors["activities"] = f"unknown activity codes {', '.join(sorted(missing))}"
    service_roles = []
    for key in service_role_keys:
        service_code, _, role_code = str(key).partition(":")
        role = ServiceRole.objects.filter(service__code=service_code, code=role_code).select_related("service").first()
        if role is None:
            errors["service_roles"] = f"{key} is not a role of a service; write it as service-code:role-code"
        else:
            service_roles.append(role)
    return job_roles, activities, service_roles, errors


POSITION_FIELDS = {"name": text(200), "assignable_by_sponsors": boolean, "status": choice(Position.Status)}
CODE_FIELDS = ("job_roles", "activities", "service_roles")


def position_snapshot(position: Position) -> dict[str, Any]:
    return {
        "organisation": position.organisation.code,
        "unit": position.unit.code if position.unit_id else None,
        "name": position.name,
        "assignable_by_sponsors": position.assignable_by_sponsors,
        "status": position.status,
        "job_roles": sorted(r.code for r in position.job_roles.all()),
        "activities": sorted(a.code for a in position.activities.all()),
        "service_roles": sorted(f"{r.service.code}:{r.code}" for r in position.service_roles.select_related("service")),
    }


def _split_codes(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    codes = {k: data.pop(k) for k in CODE_FIELDS if k in data}
    for key, value in codes.items():
        if not isinstance(value, (list, tuple)):
            raise InvalidInput({key: "give a list of codes"})
    return data, codes


@transaction.atomic
def create_position(actor: Actor, organisation: Organisation, *, unit: str | None = None, **data) -> Position:
    data, codes = _split_codes(dict(data))
    cleaned = clean(POSITION_FIELDS, {"assignable_by_sponsors": False, "status": Position.Status.ACTIVE, **data}, partial=False)
    job_roles, activities, service_roles, errors = _resolve_codes(codes)
    unit_obj = None
    if unit:
        unit_obj = OrganisationalUnit.objects.filter(organisation=organisation, code=unit).first()
        if unit_obj is None:
            errors["unit"] = f"{organisation.code} has no unit with the code {unit}"
    if errors:
        raise InvalidInput(errors)
    actor = permissions.authorise(actor, "position.create", organisation)
    if Position.objects.filter(organisation=organisation, name=cleaned["name"]).exists():
        raise Conflict(f"{organisation.code} already has a position named {cleaned['name']}")
    now = clock.now()
    position = Position.objects.create(organisation=organisation, unit=unit_obj, created_at=now, updated_at=now, **cleaned)
    position.job_roles.set(job_roles)
    position.activities.set(activities)
    position.service_roles.set(service_roles)
    _record("position.created", actor, position, after=position_snapshot(position), organisation_code=organisation.code)
    return position


@transaction.atomic
def update_position(actor: Actor, position: Position, **data) -> Position:
    """Changing a position's codes reaches everyone in it (rule SC8): there is nothing per person."""
    position = Position.objects.select_for_update().select_related("organisation").get(pk=position.pk)
    data, codes = _split_codes(dict(data))
    cleaned = clean(POSITION_FIELDS, data, partial=True)
    job_roles, activities, service_roles, errors = _resolve_codes(codes)
    if errors:
        raise InvalidInput(errors)
    actor = permissions.authorise(actor, "position.update", position.organisation)
    if "name" in cleaned and Position.objects.filter(organisation=position.organisation, name=cleaned["name"]).exclude(pk=position.pk).exists():
        raise Conflict(f"{position.organisation.code} already has a position named {cleaned['name']}")
    before = position_snapshot(position)
    _apply(position, cleaned)
    if "job_roles" in codes:
        position.job_roles.set(job_roles)
    if "activities" in codes:
        position.activities.set(activities)
    if "service_roles" in codes:
        position.service_roles.set(service_roles)
    after = position_snapshot(position)
    if after != before:
        position.updated_at = clock.now()
        position.save()
        _record("position.updated", actor, position, before=before, after=after, organisation_code=position.organisation.code)
    return position


# --- assignments ---

ASSIGNMENT_AUDITED = ("person_id", "position_id", "starts_on", "ends_on", "state")


def _assignment_action(position: Position, verb: str) -> str:
    return f"assignment.{verb}_assignable" if position.assignable_by_sponsors else f"assignment.{verb}"


@transaction.atomic
def create_assignment(actor: Actor, person: Person, position: Position, *, starts_on=None, ends_on=None) -> Assignment:
    cleaned = clean({"starts_on": date, "ends_on": optional(date, None)},
                     {"starts_on": starts_on or clock.today(), "ends_on": ends_on}, partial=False)
    if cleaned["ends_on"] and cleaned["ends_on"] < cleaned["starts_on"]:
        raise InvalidInput({"ends_on": "the end date must be on or after the start date"})
    position = Position.objects.select_related("organisation").get(pk=position.pk)
    if position.status != Position.Status.ACTIVE:
        raise InvalidInput({"position": f"position {position.name} is retired; choose an active position"})
    if position.organisation.status == Organisation.Status.CLOSED:
        raise InvalidInput({"position": f"{position.organisation.name} is closed; nobody can be placed in its positions"})
    actor = permissions.authorise(actor, _assignment_action(position, "create"), position.organisation)
    overlapping = Assignment.objects.filter(person=person, position=position, state=Assignment.State.ACTIVE).exclude(
        ends_on__lt=cleaned["starts_on"]
    )
    if overlapping.exists():
        raise Conflict(f"{person.uid} already holds position {position.name} for those dates")
    now = clock.now()
    assignment = Assignment.objects.create(person=person, position=position, created_at=now, updated_at=now, **cleaned)
    _record("assignment.created", actor, assignment, after=snapshot(assignment, ASSIGNMENT_AUDITED),
            person_uid=person.uid, organisation_code=position.organisation.code)
    return assignment


@transaction.atomic
def update_assignment(actor: Actor, assignment: Assignment, *, reason: str = "", **data) -> Assignment:
    assignment = Assignment.objects.select_for_update().select_related("person", "position__organisation").get(pk=assignment.pk)
    cleaned = clean({"ends_on": optional(date, None), "state": choice(Assignment.State)}, data, partial=True)
    ends_on = cleaned.get("ends_on", assignment.ends_on)
    if ends_on and ends_on < assignment.starts_on:
        raise InvalidInput({"ends_on": "the end date must be on or after the start date"})
    if assignment.state == Assignment.State.ENDED and cleaned.get("state", "ended") != "ended":
        raise InvalidInput({"state": "an ended assignment stays ended; create a new assignment instead"})
    actor = permissions.authorise(actor, _assignment_action(assignment.position, "update"), assignment.position.organisation)
    before = snapshot(assignment, ASSIGNMENT_AUDITED)
    if _apply(assignment, cleaned):
        assignment.updated_at = clock.now()
        assignment.save()
        _record("assignment.updated", actor, assignment, before=before, after=snapshot(assignment, ASSIGNMENT_AUDITED),
                person_uid=assignment.person.uid, organisation_code=assignment.position.organisation.code, reason=reason)
    return assignment


# --- accounts ---

ACCOUNT_AUDITED = ("person_id", "service_id", "username", "state", "last_used_at")


@transaction.atomic
def create_account(actor: Actor, person: Person, service: Service, *, username: str, state: str = Account.State.PENDING) -> Account:
    cleaned = clean({"username": text(150), "state": choice(Account.State)}, {"username": username, "state": state}, partial=False)
    if service.status != Service.Status.ACTIVE:
        raise InvalidInput({"service": f"{service.name} is retired; no new accounts can be made on it"})
    actor = permissions.authorise(actor, "account.create")
    if Account.objects.filter(service=service, username=cleaned["username"]).exists():
        raise Conflict(f"the username {cleaned['username']} is taken on {service.name}; choose another")
    if Account.objects.filter(service=service, person=person).exists():
        raise Conflict(f"{person.uid} already has an account on {service.name}; amend that account instead")
    now = clock.now()
    account = Account.objects.create(person=person, service=service, created_at=now, updated_at=now, **cleaned)
    _record("account.created", actor, account, after=snapshot(account, ACCOUNT_AUDITED), person_uid=person.uid)
    return account


@transaction.atomic
def update_account(actor: Actor, account: Account, *, reason: str = "", **data) -> Account:
    account = Account.objects.select_for_update().select_related("person").get(pk=account.pk)
    cleaned = clean({"username": text(150), "state": choice(Account.State)}, data, partial=True)
    actor = permissions.authorise(actor, "account.update")
    if "username" in cleaned and Account.objects.filter(service_id=account.service_id, username=cleaned["username"]).exclude(pk=account.pk).exists():
        raise Conflict(f"the username {cleaned['username']} is taken on this service; choose another")
    before = snapshot(account, ACCOUNT_AUDITED)
    if _apply(account, cleaned):
        account.updated_at = clock.now()
        account.save()
        _record("account.updated", actor, account, before=before, after=snapshot(account, ACCOUNT_AUDITED),
                person_uid=account.person.uid, reason=reason)
    return account


@transaction.atomic
def create_signin(actor: Actor, person: Person, *, password: str) -> Person:
    """Give a person a web sign-in (a Django user named by their user id), audited.

    Called inside the caller's transaction (demo load, a new user's fulfilment)."""
    actor = permissions.authorise(actor, "person.update")
    person = Person.objects.select_for_update().get(pk=person.pk)
    if person.user_id is not None:
        raise Conflict(f"{person.uid} already has a sign-in")
    User = get_user_model()
    if User.objects.filter(username=person.uid).exists():
        raise Conflict(f"a sign-in named {person.uid} already exists")
    user = User.objects.create_user(username=person.uid, password=password, email=person.email,
                                    first_name=person.given_name[:150], last_name=person.family_name[:150])
    person.user = user
    person.updated_at = clock.now()
    person.save(update_fields=["user", "updated_at"])
    _record("person.signin_created", actor, person, person_uid=person.uid, after={"username": user.username})
    return person


def get_or_404(model, **lookup):
    try:
        return model.objects.get(**lookup)
    except (model.DoesNotExist, ValueError, ValidationError):
        label = ", ".join(f"{k.replace('__', ' ')} {v}" for k, v in lookup.items())
        raise NotFound(f"no {model._meta.verbose_name} with {label}") from None

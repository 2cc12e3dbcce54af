"""The only code that writes access requests. Each function, in one transaction: locks the request
and checks its version (a stale copy gets Conflict), checks the state machine (rules.py),
permission for the request's route, separation of duties (DS5), the domain rules, then writes,
records the audit entry (linked to the request by its reference) and queues the notifications.
A refusal raises before anything is written.

Fulfilment changes the directory only through `careaccess.directory.services`, as the fulfilling
member of staff, so the directory's own permission checks and audit entries apply too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Callable, Iterable

from django.conf import settings
from django.db import transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from careaccess.core.outbox.services import enqueue
from careaccess.directory import rules as directory_rules
from careaccess.directory import selectors as directory_selectors
from careaccess.directory import services as directory
from careaccess.directory import validation
from careaccess.directory.models import Account, Assignment, Organisation, Person, Position, Service

from . import rules
from .models import AccessRequest, Batch, Evidence, OrganisationSettings, ServicePolicy
from .rules import Action, Kind, State


# --- settings (each a CAREACCESS_* setting; the defaults are the sources' values) ---

def sla_working_days() -> bool:
    """CC7's "5 days" are counted in working days (Monday to Friday) unless set to calendar days."""
    return bool(getattr(settings, "CAREACCESS_REQUEST_SLA_WORKING_DAYS", True))


def ig_training_valid_days() -> int:
    """CC9: IG training is "current" when completed within this many days (annual training)."""
    return int(getattr(settings, "CAREACCESS_IG_TRAINING_VALID_DAYS", 365))


def central_team_email() -> str:
    """CC2: where secondary-purpose requests are referred."""
    return getattr(settings, "CAREACCESS_REQUEST_CENTRAL_TEAM_EMAIL", "connectingcare.info@careaccess.localhost")


# --- who may act: a live position at (or overseeing) the organisation carrying a capability ---

def acting_as(actor: Actor, action: str, organisation: Organisation, capabilities: Iterable[str] | None = None,
              *, doing: str = "") -> Actor:
    """`permissions.authorise` narrowed to `capabilities` (the route's, the service policy's), its
    refusal worded for requests ("may not validate requests for ...")."""
    doing = doing or action.removeprefix("request.").replace("_", " ")
    return permissions.authorise(actor, action, organisation, capabilities=capabilities, doing=f"{doing} requests")


def _staff_code(capability: str) -> str:
    return settings.CAREACCESS_STAFF_ACTIVITIES[capability]


def has_live_capability(organisation: Organisation, capabilities: Iterable[str]) -> bool:
    """Does anyone hold a live position at the organisation itself carrying one of `capabilities`?"""
    codes = [_staff_code(c) for c in capabilities]
    return Assignment.objects.filter(
        directory_selectors.live_assignment_filter(clock.today()),
        position__organisation=organisation, position__activities__code__in=codes,
    ).exists()


def sponsoring_capabilities(organisation: Organisation) -> tuple[str, ...]:
    """DS4: an organisation's sponsorship is its sponsors; a care provider's is its lead
    correspondent (its designated requester, PP3)."""
    if organisation.kind == Organisation.Kind.CARE_PROVIDER:
        return ("sponsor", "lead_correspondent")
    return ("sponsor",)


def policy_capabilities(service: Service | None, step: str) -> tuple[str, ...] | None:
    """The service policy's capabilities for `step` ("raise" or "fulfil"), or None for the defaults."""
    if service is None:
        return None
    policy = ServicePolicy.objects.filter(service=service).first()
    chosen = getattr(policy, f"{step}_capabilities", None) if policy else None
    return tuple(chosen) if chosen else None


@transaction.atomic
def set_service_policy(actor: Actor, service: Service, *, raise_capabilities: list[str] | None = None,
                       fulfil_capabilities: list[str] | None = None) -> ServicePolicy:
    """Set who may raise and who may fulfil the service's requests (an empty list: the defaults)."""
    wanted = {"raise_capabilities": (raise_capabilities, "request.raise"),
              "fulfil_capabilities": (fulfil_capabilities, "request.fulfil")}
    errors = {}
    for field, (value, action) in wanted.items():
        if value is None:
            continue
        allowed = permissions.ACTIONS[action]
        if not isinstance(value, (list, tuple)) or any(c not in allowed for c in value):
            errors[field] = f"give a list drawn from: {', '.join(allowed)}"
    if errors:
        raise InvalidInput(errors)
    acting = permissions.authorise(actor, "service.update")
    policy = ServicePolicy.objects.select_for_update().filter(service=service).first() or ServicePolicy(
        service=service, updated_at=clock.now())
    before = {"raise_capabilities": list(policy.raise_capabilities), "fulfil_capabilities": list(policy.fulfil_capabilities)}
    for field, (value, _) in wanted.items():
        if value is not None:
            setattr(policy, field, sorted(set(value)))
    policy.updated_at = clock.now()
    policy.save()
    ledger.record("request.service_policy_set", actor=acting, target_type="service", target_id=service.pk,
                  before=before, after={"raise_capabilities": policy.raise_capabilities,
                                        "fulfil_capabilities": policy.fulfil_capabilities})
    return policy


# --- cleaning a request's fields: every problem at once, nothing written ---

def _person_by_uid(value, field: str = "person") -> Person:
    uid = str(value or "").strip()
    if not uid:
        raise InvalidInput({field: "enter the person's 12-digit user ID"})
    person = Person.objects.filter(uid=uid).first() if directory_rules.is_user_id(uid) else None
    if person is None:
        raise InvalidInput({field: f"no person has the user ID {uid}; enter their 12-digit user ID"})
    return person


def _position_at(organisation: Organisation, value, field: str = "position") -> Position:
    text = str(value or "").strip()
    if not text:
        raise InvalidInput({field: f"select the position the person will have at {organisation.name}"})
    positions = Position.objects.filter(organisation=organisation)
    position = positions.filter(pk=int(text)).first() if text.isdigit() else positions.filter(name=text).first()
    if position is None:
        raise InvalidInput({field: f"{organisation.code} has no position {text}; choose one of its positions"})
    if position.status != Position.Status.ACTIVE:
        raise InvalidInput({field: f"position {position.name} is retired; choose an active position"})
    return position


def _carries(position: Position, capability: str) -> bool:
    return position.activities.filter(code=_staff_code(capability)).exists()


def _check_email(email: str, *, field: str = "email", exclude_person: Person | None = None) -> None:
    """Rule PP2: a named individual's address, not generic, not already someone else's."""
    problem = validation.generic_email_problem(email)
    if problem:
        raise InvalidInput({field: problem})
    others = Person.objects.filter(email__iexact=email)
    if exclude_person is not None:
        others = others.exclude(pk=exclude_person.pk)
    if others.exists():
        raise InvalidInput({field: f"the address {email} is already someone else's; each person needs their own "
                                   f"address, used by them alone"})


def _names_missing(names: dict) -> dict[str, str]:
    """A missing given or family name, each said by name (the directory's own word is "enter a value")."""
    words = {"given_name": "enter the person's given name (first name)",
             "family_name": "enter the person's family name (surname)"}
    return {k: fix for k, fix in words.items() if k in names and not str(names.get(k) or "").strip()}


def _in_words(days: int) -> str:
    """365 days: "year"; other limits as days."""
    return "year" if days in (365, 366) else f"{days} days"


def _date_or_none(value, field: str):
    if value in (None, ""):
        return None
    try:
        return validation.date(value)
    except ValueError as exc:
        raise InvalidInput({field: str(exc)}) from None


def _bool(value, field: str) -> bool:
    if value in (None, ""):
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "y", "true", "1"):
        return True
    if text in ("no", "n", "false", "0"):
        return False
    raise InvalidInput({field: "answer yes or no"})


@dataclasses.dataclass
class Cleaned:
    """A request's fields after cleaning, ready to be written."""

    details: dict[str, Any]
    subject: Person | None = None
    position: Position | None = None
    assignment: Assignment | None = None
    full_name: str = ""


def _collect(checks: dict[str, Callable[[], Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    values, errors = {}, {}
    for name, check in checks.items():
        try:
            values[name] = check()
        except InvalidInput as exc:
            errors.update(exc.errors)
        except ValueError as exc:
            errors[name] = str(exc)
    return values, errors


KIND_FIELDS: dict[str, tuple[str, ...]] = {
    Kind.NEW_USER: ("title", "given_name", "family_name", "date_of_birth", "ni_number", "email", "phone",
                    "position", "service_role", "temporary", "ends_on", "professional_registration"),
    Kind.AMENDMENT: ("person", "email", "phone", "title", "position", "service_role", "replaces_assignment"),
    Kind.REACTIVATION: ("person", "requested_from"),
    Kind.DELETION: ("person", "leaving_on", "cause"),
    Kind.POSITION_ASSIGNMENT: ("person", "position", "starts_on", "ends_on"),
    Kind.POSITION_REMOVAL: ("assignment", "ends_on"),
    Kind.CHANGE_OF_NAME: ("person", "title", "given_name", "family_name"),
    Kind.CHANGE_OF_LEAD_CORRESPONDENT: ("person", "position", "replaces_assignment"),
    Kind.SECONDARY_PURPOSE: ("person", "given_name", "family_name", "email", "description"),
}


def clean_request(kind: str, organisation: Organisation, service: Service | None, data: dict[str, Any],
                  *, purpose: str = "direct care") -> Cleaned:
    """Check a request's fields for its kind; InvalidInput names every problem. No writes."""
    if kind not in rules.KINDS:
        raise InvalidInput({"kind": f"choose one of: {', '.join(rules.KINDS)}"})
    data = {k: v for k, v in (data or {}).items() if v not in (None, "")}
    allowed = KIND_FIELDS[kind]
    errors = {k: f"is not a field of a {rules.KIND_LABELS[kind].lower()} request (allowed: {', '.join(allowed)})"
              for k in sorted(set(data) - set(allowed))}
    if organisation.status == Organisation.Status.CLOSED:
        errors["organisation"] = f"{organisation.name} is closed; no requests can be raised for it"
    if kind in rules.SERVICE_KINDS and service is None:
        errors["service"] = "choose the service the request is for"
    if service is not None and service.status != Service.Status.ACTIVE:
        errors["service"] = f"{service.name} is retired; choose an active service"
    if kind != Kind.SECONDARY_PURPOSE and service is not None and purpose not in service.allowed_purposes:
        errors["purpose"] = (f"{service.name} allows only {', '.join(service.allowed_purposes) or 'no purpose'}; "
                             f"for {purpose} raise a secondary-purpose request, which is referred to the central "
                             f"team (rule CC2)")
    try:
        cleaned = _CLEANERS[kind](organisation, service, data)
    except InvalidInput as exc:
        errors.update(exc.errors)
        cleaned = None
    if errors:
        raise InvalidInput(errors)
    return cleaned


def _clean_service_role(service: Service | None, position: Position | None, code) -> str:
    if service is None:
        raise InvalidInput({"service_role": "choose the service first"})
    code = str(code or "").strip()
    offered = dict(service.roles.order_by("name").values_list("code", "name"))
    if not code:
        raise InvalidInput({"service_role": f"select the role on {service.name} the person needs"})
    if code not in offered:
        names = ", ".join(f"{name} ({role})" for role, name in offered.items()) or "(none)"
        raise InvalidInput({"service_role": f"{service.name} offers the roles {names}; choose one of them"})
    if position is not None and not position.service_roles.filter(service=service, code=code).exists():
        raise InvalidInput({"service_role": f"the position {position.name} does not give the {offered[code]} role on "
                                            f"{service.name}: choose a position that gives it, or ask your RA to set "
                                            f"one up (access comes only through positions, rule SC8)"})
    return code


def _clean_new_user(organisation, service, data) -> Cleaned:
    person_fields = {k: data.get(k) for k in ("title", "given_name", "family_name", "date_of_birth", "ni_number",
                                                "email", "phone")}
    errors = {}
    try:
        person = validation.clean(directory.PERSON_FIELDS, person_fields, partial=False)
    except InvalidInput as exc:
        errors.update(exc.errors)
        person = {}
    errors.update(_names_missing(person_fields))
    for required, fix in (("date_of_birth", "enter the person's date of birth"),
                          ("ni_number", "enter the National Insurance number"),
                          ("email", "enter the email address of the person, used by them alone"),
                          ("phone", "enter a contact telephone number")):
        if not data.get(required):
            errors[required] = fix  # rule SC4: what a sponsor pre-registers
    if person.get("ni_number") and Person.objects.filter(ni_number=person["ni_number"]).exists():
        errors["ni_number"] = ("a person with this National Insurance number is already registered; raise a position "
                               "assignment or amendment for them instead")
    extra, more = _collect({
        "email": lambda: data.get("email") and "email" not in errors and _check_email(validation.email(data["email"])),
        "position": lambda: _position_at(organisation, data.get("position")),
        "temporary": lambda: _bool(data.get("temporary"), "temporary"),
        "ends_on": lambda: _date_or_none(data.get("ends_on"), "ends_on"),
    })
    errors.update(more)
    position = extra.get("position")
    if service is not None:
        try:
            extra["service_role"] = _clean_service_role(service, position, data.get("service_role"))
        except InvalidInput as exc:
            errors.update(exc.errors)
    if extra.get("temporary") and not extra.get("ends_on") and "ends_on" not in errors:
        errors["ends_on"] = "give the finishing date of temporary staff (rule CC9); it can be amended later"
    if extra.get("ends_on") and extra["ends_on"] < clock.today():
        errors["ends_on"] = "the end date is in the past; give a date from today"
    if errors:
        raise InvalidInput(errors)
    details = {**person, "date_of_birth": person["date_of_birth"].isoformat(),
               "position": position.pk, "position_name": position.name,
               "service_role": extra.get("service_role", ""), "temporary": extra["temporary"],
               "ends_on": extra["ends_on"].isoformat() if extra["ends_on"] else None,
               "professional_registration": str(data.get("professional_registration") or "").strip()[:100]}
    full_name = " ".join(p for p in (person["given_name"], person["family_name"]) if p)
    return Cleaned(details=details, position=position, full_name=full_name)


def _account_on(person: Person, service: Service | None) -> Account | None:
    return Account.objects.filter(person=person, service=service).first() if service else None


def _clean_amendment(organisation, service, data) -> Cleaned:
    values, errors = _collect({"person": lambda: _person_by_uid(data.get("person"))})
    person = values.get("person")
    changes = {}
    if person is not None:
        fields = {k: data[k] for k in ("email", "phone", "title") if k in data}
        try:
            changes = validation.clean(directory.PERSON_FIELDS, fields, partial=True)
        except InvalidInput as exc:
            errors.update(exc.errors)
        if changes.get("email"):
            try:
                _check_email(changes["email"], exclude_person=person)
            except InvalidInput as exc:
                errors.update(exc.errors)
    position = old = None
    if data.get("position"):
        try:
            position = _position_at(organisation, data["position"])
            if data.get("service_role"):
                _clean_service_role(service, position, data["service_role"])
        except InvalidInput as exc:
            errors.update(exc.errors)
    if data.get("replaces_assignment"):
        try:
            old = _live_assignment_at(organisation, data["replaces_assignment"], person, "replaces_assignment")
        except InvalidInput as exc:
            errors.update(exc.errors)
    if not errors and not changes and position is None:
        errors["__all__"] = "say what to change: the email, phone or title, or a new position (with the one it replaces)"
    if errors:
        raise InvalidInput(errors)
    return Cleaned(details={"person": person.uid, "changes": changes, "position": position.pk if position else None,
                            "replaces_assignment": old.pk if old else None},
                   subject=person, position=position, assignment=old, full_name=_name(person))


def _live_assignment_at(organisation, value, person: Person | None, field: str) -> Assignment:
    text = str(value or "").strip()
    assignment = (Assignment.objects.select_related("person", "position").filter(pk=int(text)).first()
                  if text.isdigit() else None)
    if assignment is None or assignment.position.organisation_id != organisation.id:
        raise InvalidInput({field: f"{organisation.code} has no assignment {text}; give the id of a person's "
                                   f"assignment there"})
    if person is not None and assignment.person_id != person.id:
        raise InvalidInput({field: f"assignment {text} is not {person.uid}'s"})
    if assignment.state == Assignment.State.ENDED:
        raise InvalidInput({field: f"assignment {text} has already ended"})
    return assignment


def _name(person: Person) -> str:
    return f"{person.given_name} {person.family_name}"


def _clean_reactivation(organisation, service, data) -> Cleaned:
    person = _person_by_uid(data.get("person"))
    account = _account_on(person, service)
    if account is None:
        raise InvalidInput({"person": f"{person.uid} has no account on {service.name}; raise a new user request"})
    if account.state != Account.State.SUSPENDED:
        raise InvalidInput({"person": f"{person.uid}'s account on {service.name} is {account.state}, not suspended; "
                                      f"only a suspended account is reactivated (PP8)"})
    requested_from = str(data.get("requested_from") or "").strip().lower()
    if requested_from and requested_from != (person.email or "").lower():
        # PP13: the user asks from the address on the account; staff check name and address match.
        raise InvalidInput({"requested_from": f"the request came from {requested_from}, not from the address on "
                                              f"{person.uid}'s record; ask them to write from that address (rule PP13)"})
    return Cleaned(details={"person": person.uid, "account": account.pk, "requested_from": requested_from},
                   subject=person, full_name=_name(person))


def _clean_deletion(organisation, service, data) -> Cleaned:
    person = _person_by_uid(data.get("person"))
    leaving_on = _date_or_none(data.get("leaving_on"), "leaving_on")
    cause = str(data.get("cause") or "leaver").strip()
    if cause not in ("leaver", "inactivity", "no longer needed"):
        raise InvalidInput({"cause": "choose leaver, inactivity or no longer needed"})
    held = Assignment.objects.filter(person=person, position__organisation=organisation).exclude(
        state=Assignment.State.ENDED)
    account = _account_on(person, service)
    if not held.exists() and account is None:
        raise InvalidInput({"person": f"{person.uid} holds no position at {organisation.code}"
                                      f"{' and no account on ' + service.name if service else ''}; nothing to remove"})
    return Cleaned(details={"person": person.uid, "cause": cause,
                            "leaving_on": leaving_on.isoformat() if leaving_on else None},
                   subject=person, full_name=_name(person))


def _clean_position_assignment(organisation, service, data) -> Cleaned:
    values, errors = _collect({
        "person": lambda: _person_by_uid(data.get("person")),
        "position": lambda: _position_at(organisation, data.get("position")),
        "starts_on": lambda: _date_or_none(data.get("starts_on"), "starts_on"),
        "ends_on": lambda: _date_or_none(data.get("ends_on"), "ends_on"),
    })
    starts_on = values.get("starts_on") or clock.today()
    if values.get("ends_on") and values["ends_on"] < starts_on:
        errors["ends_on"] = "the end date must be on or after the start date"
    if errors:
        raise InvalidInput(errors)
    person, position = values["person"], values["position"]
    return Cleaned(details={"person": person.uid, "position": position.pk, "position_name": position.name,
                            "starts_on": starts_on.isoformat(),
                            "ends_on": values["ends_on"].isoformat() if values["ends_on"] else None},
                   subject=person, position=position, full_name=_name(person))


def _clean_position_removal(organisation, service, data) -> Cleaned:
    assignment = _live_assignment_at(organisation, data.get("assignment"), None, "assignment")
    ends_on = _date_or_none(data.get("ends_on"), "ends_on")
    return Cleaned(details={"assignment": assignment.pk, "position_name": assignment.position.name,
                            "ends_on": ends_on.isoformat() if ends_on else None},
                   subject=assignment.person, assignment=assignment, position=assignment.position,
                   full_name=_name(assignment.person))


def _clean_change_of_name(organisation, service, data) -> Cleaned:
    values, errors = _collect({"person": lambda: _person_by_uid(data.get("person"))})
    try:
        names = validation.clean({k: directory.PERSON_FIELDS[k] for k in ("title", "given_name", "family_name")},
                                  {k: data.get(k) for k in ("title", "given_name", "family_name")}, partial=False)
    except InvalidInput as exc:
        errors.update(exc.errors)
        names = {}
    errors.update(_names_missing({k: data.get(k) for k in ("given_name", "family_name")}))
    if errors:
        raise InvalidInput(errors)
    person = values["person"]
    return Cleaned(details={"person": person.uid, "new": names,
                            "old": {"title": person.title, "given_name": person.given_name,
                                    "family_name": person.family_name}},
                   subject=person, full_name=f"{names['given_name']} {names['family_name']}")


def _clean_change_of_lead(organisation, service, data) -> Cleaned:
    values, errors = _collect({
        "person": lambda: _person_by_uid(data.get("person")),
        "position": lambda: _position_at(organisation, data.get("position")),
    })
    if "position" in values and not _carries(values["position"], "lead_correspondent"):
        errors["position"] = f"position {values['position'].name} does not carry the lead correspondent activity"
    old = None
    if data.get("replaces_assignment"):
        try:
            old = _live_assignment_at(organisation, data["replaces_assignment"], None, "replaces_assignment")
        except InvalidInput as exc:
            errors.update(exc.errors)
    if errors:
        raise InvalidInput(errors)
    person, position = values["person"], values["position"]
    return Cleaned(details={"person": person.uid, "position": position.pk, "position_name": position.name,
                            "replaces_assignment": old.pk if old else None},
                   subject=person, position=position, assignment=old, full_name=_name(person))


def _clean_secondary_purpose(organisation, service, data) -> Cleaned:
    description = str(data.get("description") or "").strip()
    errors = {}
    if not description:
        errors["description"] = "say what the access is for (the research or audit, and why)"
    person = None
    if data.get("person"):
        try:
            person = _person_by_uid(data["person"])
        except InvalidInput as exc:
            errors.update(exc.errors)
    elif not (data.get("given_name") and data.get("family_name")):
        errors["person"] = "give the user id of the person, or their given and family names"
    if errors:
        raise InvalidInput(errors)
    full_name = _name(person) if person else f"{data['given_name']} {data['family_name']}"
    return Cleaned(details={"person": person.uid if person else None, "full_name": full_name,
                            "email": str(data.get("email") or ""), "description": description},
                   subject=person, full_name=full_name)


_CLEANERS = {
    Kind.NEW_USER: _clean_new_user,
    Kind.AMENDMENT: _clean_amendment,
    Kind.REACTIVATION: _clean_reactivation,
    Kind.DELETION: _clean_deletion,
    Kind.POSITION_ASSIGNMENT: _clean_position_assignment,
    Kind.POSITION_REMOVAL: _clean_position_removal,
    Kind.CHANGE_OF_NAME: _clean_change_of_name,
    Kind.CHANGE_OF_LEAD_CORRESPONDENT: _clean_change_of_lead,
    Kind.SECONDARY_PURPOSE: _clean_secondary_purpose,
}


# --- audit and notifications ---

AUDITED = ("state", "version", "ticket_reference", "due_on", "reason")


def _snapshot(req: AccessRequest) -> dict[str, Any]:
    return {name: getattr(req, name) for name in AUDITED}


def _audit(action: str, actor: Actor, req: AccessRequest, *, before=None, after=None, reason: str = "") -> None:
    ledger.record(
        f"request.{action}", actor=actor, target_type="access_request", target_id=req.pk,
        before=before, after=after, person_uid=req.subject.uid if req.subject_id else None,
        organisation_code=req.organisation.code, access_request=req.reference, reason=reason,
    )


def _notify(to: Iterable[str], subject: str, body: str, req: AccessRequest, kind: str = "request") -> None:
    recipients = sorted({t for t in to if t})
    if recipients:
        enqueue(to=recipients, subject=subject, body=body, kind=kind, cause=f"request:{req.reference}")


def _requester_emails(req: AccessRequest) -> list[str]:
    return [req.raised_by_email]


def _timescale(service: Service | None) -> str:
    days = service.sla_days if service else 5
    unit = "working days" if sla_working_days() else "days"
    return f"within {days} {unit} of reaching the back office"


# --- raising ---

def _central_staff(actor: Actor, organisation: Organisation) -> bool:
    return permissions.holds(actor, ("ra_agent", "ra_manager", "local_administrator"), organisation)


@transaction.atomic
def raise_request(actor: Actor, *, kind: str, organisation: Organisation, service: Service | None = None,
                  details: dict[str, Any] | None = None, note: str = "", purpose: str = "direct care",
                  special_circumstances: str = "", submit: bool = False, batch: Batch | None = None) -> AccessRequest:
    """Raise a request (a draft, or submitted at once with `submit=True`)."""
    purpose = (purpose or "direct care").strip().lower()
    cleaned = clean_request(kind, organisation, service, details or {}, purpose=purpose)
    acting = acting_as(actor, "request.raise", organisation, policy_capabilities(service, "raise"), doing="raise")

    # PP11: a care provider with no lead correspondent is onboarded by creating the lead's account first.
    onboards = False
    centrally = False
    if organisation.kind == Organisation.Kind.CARE_PROVIDER:
        has_lead = has_live_capability(organisation, ("lead_correspondent",))
        if not has_lead:
            if not (kind == Kind.NEW_USER and _carries(cleaned.position, "lead_correspondent")):
                raise Conflict(f"{organisation.name} has no lead correspondent yet: onboard the provider by raising "
                               f"a new user request for its lead correspondent first (rule PP11)")
            if not _central_staff(actor, organisation):
                raise Forbidden("a new provider's lead correspondent is confirmed and requested by trained central "
                                "staff (rule PP11)")
            onboards = True
        elif actor.kind != "system" and not permissions.holds(actor, ("lead_correspondent",), organisation):
            # PP3: only the provider's lead correspondent requests accounts and permission changes.
            raise Forbidden(f"only {organisation.name}'s lead correspondent raises requests for it (rule PP3)")
    # DS4 / DS6: without sponsorship from the organisation nothing is created or changed for it.
    if not onboards and not has_live_capability(organisation, sponsoring_capabilities(organisation)):
        registered = kind == Kind.NEW_USER and cleaned.details.get("professional_registration")
        if not registered:
            raise Conflict(f"{organisation.name} has no sponsor: nothing can be created or changed for it until it "
                           f"appoints one (rule DS4); only applicants on a professional register can be sponsored "
                           f"centrally (rule DS6)")
        if not (actor.kind == "system" or permissions.holds(actor, ("ra_agent", "ra_manager"), organisation)):
            raise Forbidden("central sponsorship of a registered professional is requested by the registration "
                            "authority (rule DS6)")
        centrally = True
    special = (special_circumstances or "").strip()
    now = clock.now()
    raiser = Person.objects.filter(pk=acting.person_id).first() if acting.person_id else None
    service_name = service.name if service else None
    req = AccessRequest(
        reference=_unique_reference(), kind=kind, state=State.DRAFT,
        title=rules.title(service_name, kind, cleaned.full_name),
        organisation=organisation, service=service, subject=cleaned.subject, position=cleaned.position,
        assignment=cleaned.assignment, purpose=purpose, route=rules.route(organisation.has_service_desk),
        details=cleaned.details, note=(note or "").strip(), special_circumstances=special,
        centrally_sponsored=centrally, onboards_provider=onboards, batch=batch,
        raised_by=raiser, raised_by_label=acting.label, raised_by_email=raiser.email if raiser else "",
        created_at=now, updated_at=now,
    )
    req.save()
    _audit("raised", acting, req, after={"kind": kind, "details": cleaned.details, "note": req.note,
                                         "purpose": purpose, "route": req.route, "title": req.title,
                                         "special_circumstances": special, "centrally_sponsored": centrally,
                                         "onboards_provider": onboards})
    if submit:
        return _submit(acting, req)
    return req


def _unique_reference() -> str:
    reference = rules.new_reference()
    while AccessRequest.objects.filter(reference=reference).exists():
        reference = rules.new_reference()
    return reference


# --- transitions ---

def _locked(request: AccessRequest | str | int, version: int | None) -> AccessRequest:
    lookup = {"reference": request} if isinstance(request, str) else {"pk": getattr(request, "pk", request)}
    req = AccessRequest.objects.select_for_update().filter(**lookup).first()
    if req is None:
        raise NotFound(f"no access request {lookup.popitem()[1]}")
    if version is not None and req.version != version:
        raise Conflict(f"request {req.reference} was changed by someone else meanwhile (it is now "
                       f"{rules.STATE_LABELS[req.state].lower()}, version {req.version}); reload it and try again")
    return req


def _next(req: AccessRequest, action: str) -> str:
    try:
        return rules.next_state(req.state, action, req.paused_in)
    except rules.IllegalTransition as exc:
        raise Conflict(f"request {req.reference}: {exc}") from None


def _reason(reason: str, action: str) -> str:
    reason = (reason or "").strip()
    if action in rules.REASON_REQUIRED and not reason:
        what = {Action.REJECT: "say why the request is rejected; the requester is told the reasons",
                Action.REFER: "say why the request is referred to the central team",
                Action.REQUEST_INFORMATION: "say what information is needed",
                Action.WITHDRAW: "say why the request is withdrawn"}[action]
        raise InvalidInput({"reason": what})
    return reason


def _separation(acting: Actor, req: AccessRequest, doing: str) -> None:
    """Rule DS5: the requester never validates, checks identity for, approves or fulfils their own
    request; nobody acts on a request about themselves."""
    if acting.kind != "person":
        return
    if req.raised_by_id and acting.person_id == req.raised_by_id:
        raise Forbidden(f"{acting.label} raised request {req.reference} and so may not {doing} it: another member "
                        f"of staff must (separation of duties, rule DS5)")
    if req.subject_id and acting.person_id == req.subject_id:
        raise Forbidden(f"request {req.reference} is about {acting.label}; nobody may {doing} a request about "
                        f"themselves (rule DS5)")


def _move(acting: Actor, req: AccessRequest, action: str, target: str, *, reason: str = "", after: dict | None = None,
          **changes) -> AccessRequest:
    before = _snapshot(req)
    for name, value in changes.items():
        setattr(req, name, value)
    req.state = target
    req.version += 1
    req.updated_at = clock.now()
    if target in rules.FINAL_STATES:
        req.closed_at = req.updated_at
    if reason:
        req.reason = reason
    req.save()
    _audit(action, acting, req, before=before, after={**_snapshot(req), **(after or {})}, reason=reason)
    return req


def _validators(req: AccessRequest) -> frozenset[str]:
    approver_kind = req.service.approver_kind if req.service_id else Service.ApproverKind.AUTHORISER
    return rules.validator_capabilities(req.organisation.has_service_desk,
                                        req.organisation.kind == Organisation.Kind.GP_PRACTICE, approver_kind)


def _approvers(req: AccessRequest) -> frozenset[str]:
    approver_kind = req.service.approver_kind if req.service_id else Service.ApproverKind.AUTHORISER
    return rules.approver_capabilities(approver_kind, req.organisation.kind == Organisation.Kind.GP_PRACTICE)


def _raiser_or_raising_staff(actor: Actor, req: AccessRequest, doing: str) -> Actor:
    """The requester, or staff who may raise requests for the organisation."""
    return acting_as(actor, "request.raise", req.organisation, doing=doing)


def _submit(acting: Actor, req: AccessRequest) -> AccessRequest:
    target = _next(req, Action.SUBMIT)
    req = _move(acting, req, "submitted", target, submitted_at=clock.now())
    _notify(_requester_emails(req), f"Received: {req.title} ({req.reference})",
            f"Your {rules.KIND_LABELS[req.kind].lower()} request {req.reference}, \"{req.title}\", was received "
            f"on {clock.today().isoformat()}.\n\nIt is checked by "
            f"{'your organisation service desk' if req.route == rules.DESK else 'your authoriser'} and then "
            f"actioned by the back office, usually {_timescale(req.service)}.\n", req)
    if req.kind == Kind.SECONDARY_PURPOSE:
        # Rule CC2: never approved in the normal flow; referred to the central team.
        message = (f"Access to {req.service.name} is for direct care only. A request for a secondary purpose "
                   f"({req.purpose}) is never approved in the normal flow: it has been referred to the central "
                   f"team ({central_team_email()}), who will contact you.")
        req = _move(Actor.system("secondary-purpose rule CC2"), req, "referred", State.REFERRED, reason=message)
        _notify([*_requester_emails(req), central_team_email()], f"Referred: {req.title} ({req.reference})",
                f"{message}\n\nWhat was asked: {req.details.get('description', '')}\n", req)
    return req


@transaction.atomic
def submit(actor: Actor, request, *, version: int | None = None) -> AccessRequest:
    req = _locked(request, version)
    _next(req, Action.SUBMIT)
    acting = _raiser_or_raising_staff(actor, req, "submit")
    return _submit(acting, req)


@transaction.atomic
def validate(actor: Actor, request, *, version: int | None = None, ticket_reference: str = "") -> AccessRequest:
    """CC6: the desk validates and forwards with its ticket reference; else the authoriser validates."""
    req = _locked(request, version)
    target = _next(req, Action.VALIDATE)
    acting = acting_as(actor, "request.validate", req.organisation, _validators(req), doing="validate")
    _separation(acting, req, "validate")
    ticket = (ticket_reference or "").strip()
    if req.route == rules.DESK and not ticket:
        raise InvalidInput({"ticket_reference": "give the service desk ticket reference the request is forwarded "
                                                "under (rule CC6)"})
    if len(ticket) > 60:
        raise InvalidInput({"ticket_reference": "use 60 characters or fewer"})
    validator = Person.objects.filter(pk=acting.person_id).first() if acting.person_id else None
    return _move(acting, req, "validated", target, ticket_reference=ticket, validated_by=validator)


@dataclasses.dataclass
class Confirmations:
    """Rule CC9: what the approving authoriser confirms for a request that gives access."""

    least_role: bool = False
    told_not_to_view_own_records: bool = False
    ig_training_on: dt.date | None = None
    ends_on: dt.date | None = None  # temporary staff

    def check(self, req: AccessRequest) -> dict[str, Any]:
        errors = {}
        if not self.least_role:
            errors["least_role"] = ("confirm the role asked for is the smallest one that lets them do their job "
                                    "(rules CC9, PP1)")
        if not self.told_not_to_view_own_records:
            errors["told_not_to_view_own_records"] = ("confirm the user was told not to look at their own, colleagues' "
                                                      "or family's records (CC9)")
        ig = self.ig_training_on
        if isinstance(ig, str):
            ig = _date_or_none(ig, "ig_training_on")
        if ig is None:
            errors["ig_training_on"] = "give the date the user completed information governance (IG) training (rule CC9)"
        elif ig > clock.today():
            errors["ig_training_on"] = "the IG training date is in the future"
        elif (clock.today() - ig).days > ig_training_valid_days():
            errors["ig_training_on"] = (f"the user's IG training, completed on {ig.day} {ig:%B %Y}, is out of date: it "
                                        f"must have been completed in the last {_in_words(ig_training_valid_days())}. "
                                        f"Ask them to complete it again, then approve (rule CC9)")
        ends_on = self.ends_on
        if isinstance(ends_on, str):
            ends_on = _date_or_none(ends_on, "ends_on")
        if req.details.get("temporary") and not (ends_on or req.details.get("ends_on")):
            errors["ends_on"] = "give the finishing date of this temporary member of staff (CC9)"
        if ends_on and ends_on < clock.today():
            errors["ends_on"] = "the end date is in the past"
        if errors:
            raise InvalidInput(errors)
        return {"least_role": True, "told_not_to_view_own_records": True, "ig_training_on": ig.isoformat(),
                "ends_on": (ends_on.isoformat() if ends_on else req.details.get("ends_on"))}


@transaction.atomic
def approve(actor: Actor, request, *, version: int | None = None,
            confirmations: Confirmations | None = None) -> AccessRequest:
    """The authorising decision; the request then reaches the back office and its SLA starts (CC7)."""
    req = _locked(request, version)
    if req.kind == Kind.SECONDARY_PURPOSE:
        raise Conflict("a secondary-purpose request is never approved in the normal flow; it is referred to the "
                       "central team (rule CC2)")
    target = _next(req, Action.APPROVE)
    acting = acting_as(actor, "request.approve", req.organisation, _approvers(req), doing="approve")
    _separation(acting, req, "approve")
    approval = {}
    if req.kind in rules.GRANTING_KINDS:
        approval = (confirmations or Confirmations()).check(req)
    now = clock.now()
    days = req.service.sla_days if req.service_id else 5
    due_on = rules.add_days(clock.today(), days, working_days=sla_working_days())
    approver = Person.objects.filter(pk=acting.person_id).first() if acting.person_id else None
    req = _move(acting, req, "approved", target, approval=approval, approved_by=approver, forwarded_at=now,
                due_on=due_on, after={"approval": approval})
    _notify([*_requester_emails(req)], f"Approved: {req.title} ({req.reference})",
            f"Request {req.reference}, \"{req.title}\", was approved on {clock.today().isoformat()} and has reached the "
            f"back office, which actions it by {due_on.isoformat()}.\n", req)
    return req


def _deciders(req: AccessRequest) -> tuple[str, frozenset[str] | None]:
    """Who may reject, refer or question a request in its current state: the step's own staff."""
    if req.state == State.SUBMITTED:
        return "request.validate", _validators(req)
    if req.state == State.VALIDATED:
        return "request.approve", _approvers(req)
    return "request.fulfil", None


def _decide(actor, request, version, action: str, event: str, reason: str):
    req = _locked(request, version)
    target = _next(req, action)
    reason = _reason(reason, action)
    permission, capabilities = _deciders(req)
    acting = acting_as(actor, permission, req.organisation, capabilities, doing=action.replace("_", " "))
    _separation(acting, req, action.replace("_", " "))
    changes = {"paused_in": req.state} if action == Action.REQUEST_INFORMATION else {}
    return _move(acting, req, event, target, reason=reason, **changes)


@transaction.atomic
def reject(actor: Actor, request, *, version: int | None = None, reason: str = "") -> AccessRequest:
    req = _decide(actor, request, version, Action.REJECT, "rejected", reason)
    _notify([*_requester_emails(req)], f"Rejected: {req.title} ({req.reference})",
            f"Request {req.reference}, \"{req.title}\", was rejected.\n\nThe reasons:\n{req.reason}\n", req)
    return req


@transaction.atomic
def refer(actor: Actor, request, *, version: int | None = None, reason: str = "") -> AccessRequest:
    req = _decide(actor, request, version, Action.REFER, "referred", reason)
    _notify([*_requester_emails(req), central_team_email()], f"Referred: {req.title} ({req.reference})",
            f"Request {req.reference} was referred to the central team ({central_team_email()}).\n\n{req.reason}\n", req)
    return req


@transaction.atomic
def request_information(actor: Actor, request, *, version: int | None = None, reason: str = "") -> AccessRequest:
    """Rule CC10: the requester (or authoriser) is asked for more information; the request waits."""
    req = _decide(actor, request, version, Action.REQUEST_INFORMATION, "information_requested", reason)
    asked = [*_requester_emails(req), req.approved_by.email if req.approved_by_id else ""]
    _notify(asked, f"More information needed: {req.title} ({req.reference})",
            f"Request {req.reference}, \"{req.title}\", needs more information before it can go on:\n\n{req.reason}\n\n"
            f"Answer on the request's page; it then returns to where it was.\n", req)
    return req


@transaction.atomic
def provide_information(actor: Actor, request, *, version: int | None = None, information: str = "") -> AccessRequest:
    req = _locked(request, version)
    target = _next(req, Action.PROVIDE_INFORMATION)
    information = (information or "").strip()
    if not information:
        raise InvalidInput({"information": "give the information that was asked for"})
    acting = _raiser_or_raising_staff(actor, req, "answer")
    return _move(acting, req, "information_provided", target, reason=information, paused_in="")


@transaction.atomic
def withdraw(actor: Actor, request, *, version: int | None = None, reason: str = "") -> AccessRequest:
    req = _locked(request, version)
    target = _next(req, Action.WITHDRAW)
    reason = _reason(reason, Action.WITHDRAW)
    acting = _raiser_or_raising_staff(actor, req, "withdraw")
    return _move(acting, req, "withdrawn", target, reason=reason)


# --- evidence recorded before fulfilment ---

@transaction.atomic
def record_evidence(actor: Actor, request, *, kind: str, details: str, confirmed_by_name: str = "",
                    confirmed_by_role: str = "") -> Evidence:
    """SC7 face-to-face check (RA agents only, DS5), PP12 telephone/email confirmations, PP14 written
    confirmation from someone with authority."""
    req = _locked(request, None)
    errors = {}
    if kind not in Evidence.Kind.values:
        errors["kind"] = f"choose one of: {', '.join(Evidence.Kind.values)}"
    details = (details or "").strip()
    if not details:
        errors["details"] = "describe what was checked or confirmed, and how"
    if kind == Evidence.Kind.WRITTEN and not (confirmed_by_name.strip() and confirmed_by_role.strip()):
        errors["confirmed_by_name"] = ("give the name and role of the person with authority who confirmed in writing "
                                       "(a registered manager, an appointed administrator: rule PP14)")
    if errors:
        raise InvalidInput(errors)
    if req.state in rules.FINAL_STATES:
        raise Conflict(f"request {req.reference} is {rules.STATE_LABELS[req.state].lower()}; nothing more is recorded")
    permission = "request.check_identity" if kind == Evidence.Kind.FACE_TO_FACE else "request.confirm"
    acting = acting_as(actor, permission, req.organisation, doing="record checks on")
    _separation(acting, req, "record checks on")
    recorder = Person.objects.filter(pk=acting.person_id).first() if acting.person_id else None
    evidence = Evidence.objects.create(request=req, kind=kind, details=details,
                                       confirmed_by_name=confirmed_by_name.strip(),
                                       confirmed_by_role=confirmed_by_role.strip(), recorded_by=recorder,
                                       recorded_by_label=acting.label, recorded_at=clock.now())
    _audit("evidence_recorded", acting, req, after={"kind": kind, "details": details,
                                                     "confirmed_by_name": evidence.confirmed_by_name,
                                                     "confirmed_by_role": evidence.confirmed_by_role})
    return evidence


def missing_evidence(req: AccessRequest) -> dict[str, str]:
    """What must still be recorded before the request may be fulfilled (SC7, PP12, PP14)."""
    have = set(req.evidence.values_list("kind", flat=True))
    missing = {}
    if req.kind == Kind.CHANGE_OF_NAME and Evidence.Kind.FACE_TO_FACE not in have:
        missing["face_to_face"] = "a change of name needs a face-to-face check with proof, recorded first (rule SC7)"
    if req.kind == Kind.CHANGE_OF_LEAD_CORRESPONDENT:
        if Evidence.Kind.TELEPHONE not in have:
            missing["telephone"] = "confirm the change of lead correspondent by telephone and record it (rule PP12)"
        if Evidence.Kind.EMAIL not in have:
            missing["email"] = "confirm the change of lead correspondent by email and record it (rule PP12)"
    if req.special_circumstances and Evidence.Kind.WRITTEN not in have:
        missing["written"] = ("a change in special circumstances needs written confirmation from someone with authority, "
                              "recorded first (rule PP14)")
    return missing


# --- training (PP5) ---

def record_training(actor: Actor, person: Person, *, completed_on, service: Service | None = None,
                    valid_until=None):
    """Record the person's training to action requests (PP5) for the service, or every service: the
    identity app's one training record, of kind "actioning"."""
    from careaccess.identity import services as identity_services

    return identity_services.record_training(actor, person, kind="actioning", completed_on=completed_on,
                                             service=service, valid_until=valid_until)


# What fulfilling each kind of request changes in the directory (its services check these too).
_CHANGES_WORDS = {
    "person.create": "registers the person", "person.update": "changes the person's details",
    "assignment.create": "places the person in a position", "assignment.update": "ends a position assignment",
    "account.create": "creates the account", "account.update": "suspends or reactivates the account",
}


def directory_changes(req: AccessRequest) -> list[str]:
    """The directory actions fulfilling the request takes (core.permissions action names)."""
    d = req.details
    return {
        Kind.NEW_USER: ["person.create", "assignment.create", "account.create"],
        Kind.AMENDMENT: ((["person.update"] if d.get("changes") else []) + (["assignment.create"] if d.get("position")
                         else []) + (["assignment.update"] if d.get("replaces_assignment") else [])),
        Kind.REACTIVATION: ["account.update"],
        Kind.DELETION: ["assignment.update", "account.update"],
        Kind.POSITION_ASSIGNMENT: ["assignment.create"],
        Kind.POSITION_REMOVAL: ["assignment.update"],
        Kind.CHANGE_OF_NAME: ["person.update"],
        Kind.CHANGE_OF_LEAD_CORRESPONDENT: ["assignment.create"] + (
            ["assignment.update"] if d.get("replaces_assignment") else []),
    }.get(req.kind, [])


def fulfil_refusal(actor: Actor, acting: Actor, req: AccessRequest) -> str:
    """Why someone allowed to fulfil the request's kind of requests may not fulfil this one, or "":
    they lack training to action it (PP5), or a position that may make the directory changes it needs
    (an RA agent registers people and places them in positions, DS5)."""
    untrained = untrained_refusal(acting, req)
    if untrained or actor.kind != "person":
        return untrained
    for action in directory_changes(req):
        if not permissions.can(actor, action, req.organisation):
            holders = " or ".join(c.replace("_", " ") for c in permissions.ACTIONS[action])
            return (f"fulfilling this {rules.KIND_LABELS[req.kind].lower()} request {_CHANGES_WORDS[action]}, which "
                    f"needs a live position as {holders}: {actor.label} holds none covering "
                    f"{req.organisation.name} ({req.organisation.code})")
    return ""


def untrained_refusal(acting: Actor, req: AccessRequest) -> str:
    """Rule PP5, worded for the person refused: which record is missing and where it is recorded."""
    from careaccess.identity import selectors as identity_selectors

    if acting.kind != "person" or identity_selectors.trained_to_action(acting.person_id, req.service):
        return ""
    service = req.service.name if req.service_id else "this kind of request"
    return (f"{acting.label} has no current training to action {service} requests recorded (rule PP5). "
            f"An RA manager records it on the person's page, under 'Record training to action requests'; "
            f"IG training does not count for this")


# --- fulfilment ---

@transaction.atomic
def fulfil(actor: Actor, request, *, version: int | None = None) -> AccessRequest:
    """The back office actions an approved request: the directory changes, through its services."""
    req = _locked(request, version)
    target = _next(req, Action.FULFIL)
    acting = acting_as(actor, "request.fulfil", req.organisation, policy_capabilities(req.service, "fulfil"),
                       doing="fulfil")
    _separation(acting, req, "fulfil")
    refusal = fulfil_refusal(actor, acting, req)
    if refusal:
        raise Forbidden(refusal)
    missing = missing_evidence(req)
    if missing:
        raise Conflict(" ".join(missing.values()))
    if not (req.onboards_provider or req.centrally_sponsored) and not has_live_capability(
            req.organisation, sponsoring_capabilities(req.organisation)):
        raise Conflict(f"{req.organisation.name} no longer has a sponsor: nothing is created or changed for it until "
                       f"it appoints one (rule DS4)")
    # The directory checks its own permissions for each change: give it the actor unpinned, so any
    # of their live positions (an RA agent's, a local administrator's) may carry what it needs.
    with ledger.for_access_request(req.reference):  # the directory's own entries link to this request too
        outcome, messages = _FULFILMENT[req.kind](actor, req)
    fulfiller = Person.objects.filter(pk=acting.person_id).first() if acting.person_id else None
    subject = outcome.pop("_subject", None)
    changes = {"outcome": outcome, "fulfilled_by": fulfiller}
    if subject is not None:
        changes["subject"] = subject
    req = _move(acting, req, "fulfilled", target, after={"outcome": outcome}, **changes)
    for to, subject_line, body, kind in messages:
        _notify(to, subject_line, body, req, kind)
    # CC8: other outcomes by email; the requester and authoriser get the resolution message.
    _notify([*_requester_emails(req), req.approved_by.email if req.approved_by_id else ""],
            f"Resolved: {req.title} ({req.reference})",
            f"Request {req.reference}, \"{req.title}\", was actioned on {clock.today().isoformat()}.\n", req)
    return req


Message = tuple[list[str], str, str, str]


def _ends_on(req: AccessRequest):
    value = req.approval.get("ends_on") or req.details.get("ends_on")
    return dt.date.fromisoformat(value) if value else None


def _fulfil_new_user(acting: Actor, req: AccessRequest) -> tuple[dict, list[Message]]:
    d = req.details
    if Person.objects.filter(email__iexact=d["email"]).exists():
        raise Conflict(f"{d['email']} became someone else's address meanwhile; ask for the person's own address (PP2)")
    person = directory.create_person(acting, **{k: d[k] for k in ("title", "given_name", "family_name",
                                                                   "date_of_birth", "ni_number", "email", "phone")})
    position = Position.objects.get(pk=d["position"])
    assignment = directory.create_assignment(acting, person, position, ends_on=_ends_on(req))
    taken = set(Account.objects.filter(service=req.service).values_list("username", flat=True))
    username = rules.username_for(person.given_name, person.family_name, taken)
    account = directory.create_account(acting, person, req.service, username=username, state=Account.State.ACTIVE)
    password = rules.temporary_password()
    # The temporary password is the person's careaccess sign-in, through which they reach the service.
    directory.create_signin(acting, person, password=password)
    # CC8: username and password in two separate messages, to the user or to the nominated person.
    nominee = OrganisationSettings.objects.filter(organisation=req.organisation).first()
    to_nominee = bool(nominee and nominee.credentials_nominee_email)
    to = [nominee.credentials_nominee_email] if to_nominee else [person.email]
    onward = (f"You are receiving this as the person nominated by {req.organisation.name} to hand it on, "
              f"securely and in person, to {person.full_name}.\n\n" if to_nominee else "")
    messages = [
        (to, f"Your {req.service.name} username", f"{onward}The {req.service.name} account of {person.full_name} "
         f"is ready.\n\nUsername: {username}\n\nThe temporary password follows in a separate message.\n",
         "credentials.username"),
        (to, f"Your {req.service.name} temporary password", f"{onward}Temporary password for the {req.service.name} "
         f"account of {person.full_name}: {password}\n\nIt must be changed at first sign-in. The username came in a "
         f"separate message.\n", "credentials.password"),
    ]
    outcome = {"person": person.uid, "assignment": assignment.pk, "account": account.pk, "username": username,
               "credentials_to": "nominee" if to_nominee else "user", "_subject": person}
    return outcome, messages


def _fulfil_amendment(acting, req) -> tuple[dict, list[Message]]:
    d = req.details
    person = req.subject
    outcome: dict[str, Any] = {}
    if d.get("changes"):
        directory.update_person(acting, person, **d["changes"])
        outcome["changed"] = sorted(d["changes"])
    if d.get("position"):
        new = directory.create_assignment(acting, person, Position.objects.get(pk=d["position"]))
        outcome["assignment"] = new.pk
    if d.get("replaces_assignment"):
        _end_assignment(acting, req, Assignment.objects.get(pk=d["replaces_assignment"]))
        outcome["ended_assignment"] = d["replaces_assignment"]
    return outcome, [([person.email], f"{req.title}", f"Your access was changed (request {req.reference}).\n",
                      "request")]


def _end_assignment(acting: Actor, req: AccessRequest, assignment: Assignment, on: dt.date | None = None):
    ends_on = max(on or clock.today(), assignment.starts_on)
    return directory.update_assignment(acting, assignment, state=Assignment.State.ENDED, ends_on=ends_on,
                                       reason=f"request {req.reference}")


def _fulfil_reactivation(acting, req) -> tuple[dict, list[Message]]:
    account = Account.objects.get(pk=req.details["account"])
    directory.update_account(acting, account, state=Account.State.ACTIVE, reason=f"request {req.reference}")
    return {"account": account.pk, "state": "active"}, [
        ([req.subject.email], f"{req.title}", f"Your {req.service.name} account was reactivated "
                                              f"(request {req.reference}).\n", "request")]


def _fulfil_deletion(acting, req) -> tuple[dict, list[Message]]:
    """SC10: a leaver loses only this organisation's positions; PP8: the account is suspended, never deleted."""
    person = req.subject
    on = dt.date.fromisoformat(req.details["leaving_on"]) if req.details.get("leaving_on") else None
    ended = []
    for assignment in Assignment.objects.filter(person=person, position__organisation=req.organisation).exclude(
            state=Assignment.State.ENDED):
        _end_assignment(acting, req, assignment, on)
        ended.append(assignment.pk)
    outcome: dict[str, Any] = {"ended_assignments": ended}
    account = _account_on(person, req.service)
    if account is not None and account.state != Account.State.CLOSED:
        directory.update_account(acting, account, state=Account.State.SUSPENDED, reason=f"request {req.reference}")
        outcome["suspended_account"] = account.pk
    return outcome, []


def _fulfil_position_assignment(acting, req) -> tuple[dict, list[Message]]:
    d = req.details
    assignment = directory.create_assignment(
        acting, req.subject, Position.objects.get(pk=d["position"]), starts_on=d["starts_on"],
        ends_on=_ends_on(req))
    return {"assignment": assignment.pk}, [
        ([req.subject.email], req.title, f"You were placed in the position {d['position_name']} at "
                                         f"{req.organisation.name} (request {req.reference}).\n", "request")]


def _fulfil_position_removal(acting, req) -> tuple[dict, list[Message]]:
    assignment = Assignment.objects.get(pk=req.details["assignment"])
    on = dt.date.fromisoformat(req.details["ends_on"]) if req.details.get("ends_on") else None
    _end_assignment(acting, req, assignment, on)
    return {"ended_assignment": assignment.pk}, []


def _fulfil_change_of_name(acting, req) -> tuple[dict, list[Message]]:
    directory.update_person(acting, req.subject, **req.details["new"])
    return {"person": req.subject.uid, "name": req.details["new"]}, [
        ([req.subject.email], req.title, f"Your name was changed on your record (request {req.reference}).\n",
         "request")]


def _fulfil_change_of_lead(acting, req) -> tuple[dict, list[Message]]:
    d = req.details
    assignment = directory.create_assignment(acting, req.subject, Position.objects.get(pk=d["position"]))
    outcome = {"assignment": assignment.pk}
    if d.get("replaces_assignment"):
        _end_assignment(acting, req, Assignment.objects.get(pk=d["replaces_assignment"]))
        outcome["ended_assignment"] = d["replaces_assignment"]
    return outcome, [([req.subject.email], req.title, f"You are now the lead correspondent of "
                                                      f"{req.organisation.name} (request {req.reference}).\n",
                      "request")]


def _never(acting, req):
    raise Conflict("a secondary-purpose request is never fulfilled in the normal flow (rule CC2)")


_FULFILMENT = {
    Kind.NEW_USER: _fulfil_new_user,
    Kind.AMENDMENT: _fulfil_amendment,
    Kind.REACTIVATION: _fulfil_reactivation,
    Kind.DELETION: _fulfil_deletion,
    Kind.POSITION_ASSIGNMENT: _fulfil_position_assignment,
    Kind.POSITION_REMOVAL: _fulfil_position_removal,
    Kind.CHANGE_OF_NAME: _fulfil_change_of_name,
    Kind.CHANGE_OF_LEAD_CORRESPONDENT: _fulfil_change_of_lead,
    Kind.SECONDARY_PURPOSE: _never,
}


# --- organisation settings (CC8 nominee) ---

@transaction.atomic
def set_credentials_nominee(actor: Actor, organisation: Organisation, *, name: str, email: str) -> OrganisationSettings:
    acting = acting_as(actor, "request.confirm", organisation, doing="set the credentials nominee of")
    name = (name or "").strip()
    errors = {}
    try:
        email = validation.optional(validation.email)(email)
    except ValueError as exc:
        errors["email"] = str(exc)
    if email and not name:
        errors["name"] = "give the nominated person's name"
    if errors:
        raise InvalidInput(errors)
    row, _ = OrganisationSettings.objects.select_for_update().get_or_create(
        organisation=organisation, defaults={"updated_at": clock.now()})
    before = {"name": row.credentials_nominee_name, "email": row.credentials_nominee_email}
    row.credentials_nominee_name, row.credentials_nominee_email, row.updated_at = name, email, clock.now()
    row.save()
    ledger.record("request.credentials_nominee_set", actor=acting, target_type="organisation", target_id=organisation.pk,
                  before=before, after={"name": name, "email": email}, organisation_code=organisation.code)
    return row


# --- transitions by name (the API, the pages and batches call these) ---

TRANSITION_FUNCTIONS: dict[str, Callable[..., AccessRequest]] = {
    Action.SUBMIT: submit,
    Action.VALIDATE: validate,
    Action.APPROVE: approve,
    Action.FULFIL: fulfil,
    Action.REJECT: reject,
    Action.WITHDRAW: withdraw,
    Action.REFER: refer,
    Action.REQUEST_INFORMATION: request_information,
    Action.PROVIDE_INFORMATION: provide_information,
}


# --- batches (SC11, CC7) ---

class BatchInvalid(InvalidInput):
    """A batch with bad rows: `rows` maps each bad row number to its {field: problem}."""

    def __init__(self, rows: dict[int, dict[str, str]]):
        self.rows = rows
        errors = {f"row {n}: {field}": message for n, fields in sorted(rows.items())
                  for field, message in fields.items()}
        super().__init__(errors)


def check_batch(organisation: Organisation, service: Service | None, rows: list[dict[str, Any]],
                progress: Callable[[int], None] | None = None) -> list[tuple[str, Cleaned]]:
    """Every row checked; BatchInvalid reports every bad row (row 1 is the first after the header)."""
    bad: dict[int, dict[str, str]] = {}
    good = []
    seen: dict[str, dict[str, int]] = {"ni_number": {}, "email": {}}
    if not rows:
        raise InvalidInput({"file": "the file has no rows after its header"})
    for number, row in enumerate(rows, start=1):
        if progress:
            progress(1)
        row = {k: v for k, v in row.items() if k is not None}
        if "__all__" in row:
            bad[number] = {"__all__": row["__all__"]}
            continue
        kind = (row.pop("kind", "") or Kind.NEW_USER).strip()
        row.pop("note", None)
        try:
            cleaned = clean_request(kind, organisation, service, row)
        except InvalidInput as exc:
            bad[number] = dict(exc.errors)
            continue
        for field in ("ni_number", "email"):
            value = str(cleaned.details.get(field) or "").lower()
            if value and value in seen[field]:
                bad.setdefault(number, {})[field] = f"the same as row {seen[field][value]}; each person once"
            elif value:
                seen[field][value] = number
        good.append((kind, cleaned))
    if bad:
        raise BatchInvalid(bad)
    return good


@transaction.atomic
def import_batch(actor: Actor, organisation: Organisation, service: Service | None, rows: list[dict[str, Any]], *,
                 filename: str = "", submit: bool = True, progress: Callable[[int], None] | None = None,
                 checked: Callable[[int], None] | None = None) -> Batch:
    """Check every row first (nothing is created when one is bad), then raise them all in one
    transaction as one batch that moves together. `checked` and `progress` are called once per
    row checked and per request raised (for a progress bar)."""
    check_batch(organisation, service, rows, checked)
    acting = acting_as(actor, "request.raise", organisation, doing="raise")
    raiser = Person.objects.filter(pk=acting.person_id).first() if acting.person_id else None
    batch = Batch.objects.create(reference=rules.new_reference("BAT"), organisation=organisation, service=service,
                                 filename=filename[:200], raised_by=raiser, raised_by_label=acting.label,
                                 created_at=clock.now())
    ledger.record("request.batch_imported", actor=acting, target_type="request_batch", target_id=batch.pk,
                  after={"reference": batch.reference, "rows": len(rows), "filename": batch.filename},
                  organisation_code=organisation.code, access_request=batch.reference)
    for row in rows:
        row = {k: v for k, v in row.items() if k is not None}
        kind = (row.pop("kind", "") or Kind.NEW_USER).strip()
        note = row.pop("note", "") or ""
        raise_request(actor, kind=kind, organisation=organisation, service=service, details=row, note=note,
                      submit=submit, batch=batch)
        if progress:
            progress(1)
    return batch


@transaction.atomic
def transition_batch(actor: Actor, batch: Batch, action: str, **kwargs) -> list[AccessRequest]:
    """Move every open request of the batch by `action`, all or none (one transaction)."""
    function = TRANSITION_FUNCTIONS.get(action)
    if function is None:
        raise InvalidInput({"action": f"choose one of: {', '.join(TRANSITION_FUNCTIONS)}"})
    requests = list(batch.requests.exclude(state__in=rules.FINAL_STATES).order_by("id"))
    if not requests:
        raise Conflict(f"batch {batch.reference} has no open requests")
    return [function(actor, req, **kwargs) for req in requests]

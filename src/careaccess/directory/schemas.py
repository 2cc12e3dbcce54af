"""Request and response bodies of the directory API (django-ninja / pydantic).

Input schemas forbid unknown fields and carry the types; the domain checks (code formats, NI
numbers, known codes, permissions) are the service functions', so a message is written once.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from careaccess.api.pagination import PageQuery

from .models import Account, Assignment, Organisation, Person, Position, Service


def _choices(choices) -> type:
    return Literal[tuple(choices.values)]  # type: ignore[valid-type]


OrganisationKind = _choices(Organisation.Kind)
OrganisationStatus = _choices(Organisation.Status)
PersonStatus = _choices(Person.Status)
ApproverKind = _choices(Service.ApproverKind)
ServiceStatus = _choices(Service.Status)
PositionStatus = _choices(Position.Status)
AssignmentState = _choices(Assignment.State)
AccountState = _choices(Account.State)


class In(Schema):
    model_config = ConfigDict(extra="forbid")


# --- organisations and units ---

class OrganisationIn(In):
    code: str = Field(..., description="ODS-style code, 3 to 10 letters and digits", examples=["Y01234"])
    name: str
    kind: OrganisationKind
    short_name: str = ""
    parent: str | None = Field(None, description="the parent organisation's code")
    oversees_descendants: bool = Field(False, description="its staff act for its descendants too (e.g. an ICB's RA)")
    cqc_number: str = Field("", description="CQC registration number, like 1-123456789")
    has_service_desk: bool = False
    status: OrganisationStatus = "active"
    closes_on: dt.date | None = Field(None, description="required when status is closing")


class OrganisationPatch(In):
    name: str | None = None
    kind: OrganisationKind | None = None
    short_name: str | None = None
    parent: str | None = None
    oversees_descendants: bool | None = None
    cqc_number: str | None = None
    has_service_desk: bool | None = None
    status: OrganisationStatus | None = None
    closes_on: dt.date | None = None


class OrganisationOut(Schema):
    code: str
    name: str
    short_name: str
    kind: str
    parent: str | None
    oversees_descendants: bool
    cqc_number: str
    has_service_desk: bool
    status: str
    closes_on: dt.date | None
    created_at: dt.datetime
    updated_at: dt.datetime


class OrganisationFilters(PageQuery):
    kind: OrganisationKind | None = None
    status: OrganisationStatus | None = None
    parent: str | None = Field(None, description="children of the organisation with this code")
    q: str | None = Field(None, description="part of the name, short name or code")


class UnitIn(In):
    code: str
    name: str
    parent: str | None = Field(None, description="the parent unit's code in the same organisation")


class UnitOut(Schema):
    organisation: str
    code: str
    name: str
    parent: str | None


# --- people ---

class PersonIn(In):
    title: str = ""
    given_name: str
    family_name: str
    date_of_birth: dt.date | None = None
    ni_number: str = Field("", description="National Insurance number, like AB 12 34 56 C")
    email: str = ""
    phone: str = Field("", description="UK telephone number")


class PersonPatch(In):
    title: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: dt.date | None = None
    ni_number: str | None = None
    email: str | None = None
    phone: str | None = None
    status: PersonStatus | None = None


class PersonOut(Schema):
    uid: str = Field(..., description="the unique 12-digit user id")
    title: str
    given_name: str
    family_name: str
    full_name: str
    date_of_birth: dt.date | None = Field(None, description="staff only; omitted for relying services")
    ni_number: str | None = Field(None, description="staff only; omitted for relying services")
    email: str
    phone: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PersonFilters(PageQuery):
    q: str | None = Field(None, description="a 12-digit user ID, a whole email address, or the start of a name: "
                                            "the family name's start after the given names' start (`Tay`, `Alex Tay`)")
    status: PersonStatus | None = None
    organisation: str | None = Field(None, description="people with a live assignment at this organisation (code)")


# --- catalogue ---

class JobRoleIn(In):
    code: str = Field(..., examples=["S8000:G8000:R8000"])
    name: str


class JobRoleOut(Schema):
    code: str
    name: str


class ActivityIn(In):
    code: str = Field(..., examples=["B0825"])
    name: str
    includes: list[str] = Field([], description="codes of the activities this one includes")


class ActivityOut(Schema):
    code: str
    name: str
    includes: list[str]


class CatalogueFilters(PageQuery):
    q: str | None = Field(None, description="part of the code or name")


# --- services ---

class ServiceRoleIn(In):
    code: str
    name: str
    description: str = ""


class ServiceRoleOut(Schema):
    code: str
    name: str
    description: str


class ServiceIn(In):
    code: str = Field(..., description="a slug, like care-portal")
    name: str
    allowed_purposes: list[str] = ["direct care"]
    approver_kind: ApproverKind = "authoriser"
    sla_days: int = 5
    inactivity_days: int = 60
    review_months: int = 3
    card_only: bool = False
    status: ServiceStatus = "active"
    roles: list[ServiceRoleIn] = []


class ServicePatch(In):
    name: str | None = None
    allowed_purposes: list[str] | None = None
    approver_kind: ApproverKind | None = None
    sla_days: int | None = None
    inactivity_days: int | None = None
    review_months: int | None = None
    card_only: bool | None = None
    status: ServiceStatus | None = None
    roles: list[ServiceRoleIn] | None = Field(None, description="the full list of roles (replaces the current one)")


class ServiceOut(Schema):
    code: str
    name: str
    allowed_purposes: list[str]
    approver_kind: str
    sla_days: int
    inactivity_days: int
    review_months: int
    card_only: bool
    status: str
    roles: list[ServiceRoleOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class ServiceFilters(PageQuery):
    status: ServiceStatus | None = None
    q: str | None = Field(None, description="part of the code or name")


# --- positions ---

class PositionIn(In):
    organisation: str = Field(..., description="the organisation's code")
    unit: str | None = Field(None, description="a unit's code in that organisation")
    name: str
    job_roles: list[str] = Field([], description="job role codes, like S8000:G8000:R8000")
    activities: list[str] = Field([], description="activity codes, like B0825")
    service_roles: list[str] = Field([], description="service roles as service-code:role-code")
    assignable_by_sponsors: bool = False
    status: PositionStatus = "active"


class PositionPatch(In):
    name: str | None = None
    job_roles: list[str] | None = None
    activities: list[str] | None = None
    service_roles: list[str] | None = None
    assignable_by_sponsors: bool | None = None
    status: PositionStatus | None = None


class PositionOut(Schema):
    id: int
    organisation: str
    organisation_name: str
    unit: str | None
    name: str
    job_roles: list[str]
    activities: list[str]
    service_roles: list[str]
    assignable_by_sponsors: bool
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


class PositionFilters(PageQuery):
    organisation: str | None = Field(None, description="the organisation's code")
    status: PositionStatus | None = None


# --- assignments ---

class AssignmentIn(In):
    person: str = Field(..., description="the person's user id")
    position: int = Field(..., description="the position's id")
    starts_on: dt.date | None = Field(None, description="default today")
    ends_on: dt.date | None = Field(None, description="last day (inclusive), for temporary staff and locums")


class AssignmentPatch(In):
    ends_on: dt.date | None = None
    state: AssignmentState | None = None
    reason: str = Field("", description="why, for the audit ledger")


class AssignmentOut(Schema):
    id: int
    person: str
    person_name: str
    position: int
    position_name: str
    organisation: str
    starts_on: dt.date
    ends_on: dt.date | None
    state: str
    created_at: dt.datetime
    updated_at: dt.datetime


class AssignmentFilters(PageQuery):
    person: str | None = Field(None, description="the person's user id")
    position: int | None = Field(None, description="the position's id")
    organisation: str | None = Field(None, description="the organisation's code")
    state: AssignmentState | None = None
    live: bool | None = Field(None, description="true: only assignments live today")


# --- accounts ---

class AccountIn(In):
    person: str = Field(..., description="the person's user id")
    service: str = Field(..., description="the service's code")
    username: str
    state: AccountState = "pending"


class AccountPatch(In):
    username: str | None = None
    state: AccountState | None = None
    reason: str = Field("", description="why, for the audit ledger")


class AccountOut(Schema):
    id: int
    person: str
    service: str
    username: str
    state: str
    last_used_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AccountFilters(PageQuery):
    person: str | None = Field(None, description="the person's user id")
    service: str | None = Field(None, description="the service's code")
    state: AccountState | None = None


# --- access and decisions ---

class AccessQuery(Schema):
    at: dt.datetime | None = Field(None, description="the instant to answer for (ISO 8601; default now)")


class PositionAccessOut(Schema):
    assignment: int
    position_id: int
    position: str
    organisation: str
    organisation_name: str
    starts_on: dt.date
    ends_on: dt.date | None
    role_codes: list[str]
    activity_codes: list[str]
    service_roles: list[str]


class AccessOut(Schema):
    uid: str
    at: dt.datetime
    organisations: list[str]
    role_codes: list[str]
    activity_codes: list[str] = Field(..., description="including every activity they include")
    service_roles: list[str] = Field(..., description="as service-code:role-code")
    positions: list[PositionAccessOut]


class DecisionIn(In):
    uid: str = Field(..., description="the person's user id")
    activity: str | None = Field(None, description="an activity code; or give service and role")
    service: str | None = Field(None, description="a service's code, with role")
    role: str | None = Field(None, description="the service role's code, with service")
    organisation: str | None = Field(None, description="only positions at this organisation (code) count")
    at: dt.datetime | None = Field(None, description="the instant to decide for (default now)")


class DecisionOut(Schema):
    allowed: bool
    reason: str
    assignment: int | None = Field(None, description="the assignment that allows it")
    position: str | None = None
    organisation: str | None = None

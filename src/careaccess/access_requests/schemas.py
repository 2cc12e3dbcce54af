"""Request and response bodies of the access requests API. Input schemas forbid unknown fields;
the domain checks are the service functions', so each message is written once."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from careaccess.api.pagination import PageQuery

from . import rules
from .models import Evidence
from .selectors import QUEUES

RequestKind = Literal[rules.KINDS]  # type: ignore[valid-type]
RequestState = Literal[rules.STATES]  # type: ignore[valid-type]
Queue = Literal[QUEUES]  # type: ignore[valid-type]
EvidenceKind = Literal[tuple(Evidence.Kind.values)]  # type: ignore[valid-type]


class In(Schema):
    model_config = ConfigDict(extra="forbid")


class RequestIn(In):
    kind: RequestKind
    organisation: str = Field(..., description="the organisation's code")
    service: str | None = Field(None, description="the service's code (new user, reactivation, secondary purpose; "
                                                   "optional otherwise)")
    details: dict[str, Any] = Field(default_factory=dict, description=(
        "the kind's fields. new_user: title, given_name, family_name, date_of_birth, ni_number, email, phone, "
        "position (id or name), service_role, temporary, ends_on, professional_registration (SC4, DS6). "
        "amendment: person (user id), email, phone, title, position, service_role, replaces_assignment. "
        "reactivation: person, requested_from (PP13). deletion: person, leaving_on, cause. position_assignment: person, position, "
        "starts_on, ends_on. position_removal: assignment, ends_on. change_of_name: person, title, given_name, "
        "family_name (SC7). change_of_lead_correspondent: person, position, replaces_assignment (PP12). "
        "secondary_purpose: person or given_name and family_name, email, description (CC2)."))
    note: str = Field("", description="ticket reference, intended position, anything the next step needs (SC4)")
    purpose: str = Field("direct care", description="what the access is for (CC2)")
    special_circumstances: str = Field("", description="a closure, an administration, a change of owner (PP14)")
    submit: bool = Field(False, description="submit at once instead of keeping a draft")


class VersionIn(In):
    version: int = Field(..., description="the version you read: a request changed meanwhile answers 409")


class ValidateIn(VersionIn):
    ticket_reference: str = Field("", description="the service desk's ticket (required on the desk route, CC6)")


class ApproveIn(VersionIn):
    least_role: bool = Field(False, description="the least role that fits was chosen (CC9, PP1)")
    told_not_to_view_own_records: bool = Field(False, description="the user was told not to view their own, "
                                                                  "colleagues' or family's records (CC9)")
    ig_training_on: dt.date | None = Field(None, description="when the user completed IG training (CC9)")
    ends_on: dt.date | None = Field(None, description="temporary staff: their finishing date (CC9)")


class ReasonIn(VersionIn):
    reason: str = ""


class InformationIn(VersionIn):
    information: str = ""


class EvidenceIn(In):
    kind: EvidenceKind
    details: str
    confirmed_by_name: str = ""
    confirmed_by_role: str = ""


class RequestOut(Schema):
    reference: str
    kind: str
    state: str
    version: int
    title: str
    organisation: str
    service: str | None
    subject: str | None = Field(None, description="the user id of the person the request is about")
    route: str
    purpose: str
    details: dict[str, Any]
    note: str
    special_circumstances: str
    ticket_reference: str
    approval: dict[str, Any]
    outcome: dict[str, Any]
    reason: str
    raised_by: str
    batch: str | None
    created_at: dt.datetime
    submitted_at: dt.datetime | None
    forwarded_at: dt.datetime | None = Field(None, description="when it reached the back office (CC7)")
    due_on: dt.date | None
    overdue: bool
    closed_at: dt.datetime | None
    next_actions: list[str] | None = Field(None, description="what you may do next (on a single request)")
    missing: dict[str, str] | None = Field(None, description="checks still to record before fulfilment")


class RequestFilters(PageQuery):
    queue: Queue = Field("organisation", description="mine, organisation, desk, authoriser or back_office")
    state: RequestState | None = None
    kind: RequestKind | None = None
    organisation: str | None = Field(None, description="an organisation's code")
    overdue: bool | None = None
    batch: str | None = Field(None, description="a batch's reference")


class HistoryOut(Schema):
    index: int
    recorded_at: dt.datetime
    action: str
    actor: str
    actor_uid: str | None
    actor_position: str | None
    reason: str
    before: Any
    after: Any


class EvidenceOut(Schema):
    kind: str
    details: str
    confirmed_by_name: str
    confirmed_by_role: str
    recorded_by: str
    recorded_at: dt.datetime


class BatchIn(In):
    organisation: str
    service: str | None = None
    csv: str = Field(..., description="the CSV text, a header row first; columns: " + ", ".join(rules.BATCH_COLUMNS))
    filename: str = ""
    submit: bool = True


class BatchOut(Schema):
    reference: str
    organisation: str
    service: str | None
    filename: str
    created_at: dt.datetime
    requests: list[str]
    states: dict[str, int]


class BatchActionIn(In):
    version: int | None = Field(None, description="ignored: a batch moves all its open requests")
    ticket_reference: str = ""
    least_role: bool = False
    told_not_to_view_own_records: bool = False
    ig_training_on: dt.date | None = None
    ends_on: dt.date | None = None
    reason: str = ""

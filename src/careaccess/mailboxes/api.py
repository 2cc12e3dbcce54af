"""The care-home mailboxes API router (to mount at /api/v1/mailboxes): the public application,
the assessment queue, assessment and decisions, the directory search, and ongoing management.
Every write is a service function; reads go through `selectors`."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from ninja import Router, Schema, Status

from careaccess.api.problems import errors_for
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput, NotFound

from . import selectors, services
from .models import Application, Mailbox, SharedMailbox

router = Router(tags=["care home mailboxes"])
READ = errors_for(401, 403, 404)
WRITE = errors_for(401, 403, 404, 409, 422)


class ReportIn(Schema):
    name: str = "report.pdf"
    content_base64: str


class ApplicationIn(Schema):
    sponsor: str = ""
    applicant_name: str = ""
    applicant_role: str = ""
    applicant_email: str = ""
    home_name: str = ""
    home_address: str = ""
    home_town: str = ""
    home_postcode: str = ""
    home_phone: str = ""
    cqc_number: str = ""
    ig_toolkit_completed: bool | None = None
    ig_report: ReportIn | None = None
    existing_accounts: str = ""
    exchanges_data: bool | None = None
    exchange_reason: str = ""
    individuals: list[dict[str, str]] = []
    shared_wanted: bool = False
    shared_name: str = ""
    shared_owner: str = ""
    shared_owner_mobile: str = ""
    group_name: str = ""
    head_office: str = ""
    head_office_aware: bool = False
    benefits: str = ""


class AssessIn(Schema):
    ig_toolkit_checked: bool
    justification: str = ""
    justification_accepted: bool = False


class ApproveIn(Schema):
    shared_display_name: str | None = None
    location: str | None = None
    hidden: bool = False


class RejectIn(Schema):
    reasons: str = ""


class MemberIn(Schema):
    member: str
    permission: str


class ReasonIn(Schema):
    reason: str = ""


def _actor(request) -> Actor:
    return request.auth


def application_out(app: Application) -> dict[str, Any]:
    return {
        "reference": app.reference, "state": app.state, "sponsor": app.sponsor.code, "home_name": app.home_name,
        "home_town": app.home_town, "cqc_number": app.cqc_number, "applicant_name": app.applicant_name,
        "applicant_email": app.applicant_email, "ig_toolkit_completed": app.ig_toolkit_completed,
        "has_report": bool(app.ig_report_file), "individuals": app.individuals, "shared_wanted": app.shared_wanted,
        "shared_name": app.shared_name, "group_name": app.group_name, "head_office_aware": app.head_office_aware,
        "cqc_home": app.cqc_home.code if app.cqc_home_id else None, "ig_toolkit_checked": app.ig_toolkit_checked,
        "justification_accepted": app.justification_accepted, "reasons": app.reasons,
        "mailboxes": [m.address for m in app.mailboxes.all()],
        "shared_mailboxes": [s.address for s in app.shared_mailboxes.all()],
        "created_at": app.created_at, "decided_at": app.decided_at,
    }


@router.post("/applications", auth=None, response={201: dict, **errors_for(409, 422)})
def submit(request, payload: ApplicationIn):
    """A care home applies (no sign-in). The report is a base64 PDF."""
    data = payload.dict()
    report_in = data.pop("ig_report")
    report = None
    if report_in:
        try:
            report = services.Report(report_in["name"], base64.b64decode(report_in["content_base64"], validate=True))
        except (binascii.Error, ValueError):
            raise InvalidInput({"ig_report": "send the report as base64"}) from None
    app = services.submit_application(data, report, client=request.META.get("REMOTE_ADDR", ""))
    return Status(201, {"reference": app.reference, "state": app.state})


@router.get("/applications", response={200: list[dict], **READ})
def queue(request, state: str = Application.State.SUBMITTED):
    return [application_out(app) for app in selectors.queue(_actor(request), state)]


@router.get("/applications/{reference}", response={200: dict, **READ})
def one(request, reference: str):
    return application_out(selectors.application_for(_actor(request), reference))


@router.post("/applications/{reference}/assess", response={200: dict, **WRITE})
def assess(request, reference: str, payload: AssessIn):
    app = selectors.application_for(_actor(request), reference)
    return application_out(services.assess(_actor(request), app, **payload.dict()))


@router.post("/applications/{reference}/approve", response={200: dict, **WRITE})
def approve(request, reference: str, payload: ApproveIn):
    app = selectors.application_for(_actor(request), reference)
    return application_out(services.approve(_actor(request), app, **payload.dict()))


@router.post("/applications/{reference}/reject", response={200: dict, **WRITE})
def reject(request, reference: str, payload: RejectIn):
    app = selectors.application_for(_actor(request), reference)
    return application_out(services.reject(_actor(request), app, reasons=payload.reasons))


@router.get("/directory", response={200: list[dict], **READ})
def directory(request, name: str = "", organisation: str = "", role: str = ""):
    """NM10: people and visible shared mailboxes; never hidden ones, never members."""
    return [e.__dict__ for e in selectors.search(name=name, organisation=organisation, role=role)]


def _mailbox(address: str) -> Mailbox:
    mailbox = Mailbox.objects.select_related("unit__organisation", "person").filter(address=address.lower()).first()
    if mailbox is None:
        raise NotFound(f"no mailbox has the address {address}")
    return mailbox


@router.post("/accounts/{address}/reset-password", response={200: dict, **WRITE})
def reset_password(request, address: str):
    mailbox = services.reset_password(_actor(request), _mailbox(address))
    return {"address": mailbox.address, "must_change_password": mailbox.must_change_password}


@router.post("/accounts/{address}/unlock", response={200: dict, **WRITE})
def unlock_mailbox(request, address: str):
    mailbox = services.unlock(_actor(request), _mailbox(address))
    return {"address": mailbox.address, "state": mailbox.state}


@router.post("/accounts/{address}/report-unneeded", response={201: dict, **WRITE})
def report_unneeded(request, address: str, payload: ReasonIn):
    """NM11: becomes a deletion request."""
    req = services.report_unneeded(_actor(request), _mailbox(address), reason=payload.reason)
    return Status(201, {"request": req.reference, "state": req.state})


@router.post("/shared/{address}/members", response={201: dict, **WRITE})
def add_member(request, address: str, payload: MemberIn):
    shared = SharedMailbox.objects.filter(address=address.lower()).first()
    if shared is None:
        raise NotFound(f"no shared mailbox has the address {address}")
    membership = services.add_member(_actor(request), shared, _mailbox(payload.member), payload.permission)
    return Status(201, {"shared_mailbox": shared.address, "member": payload.member,
                        "permission": membership.permission})

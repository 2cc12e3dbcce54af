"""The access requests API router (mounted at /api/v1/requests): raise, list (queues, overdue
first), read with history and next actions, every transition, evidence, and batches.

Thin by design: every write is a service function (permission, separation of duties, audit,
notifications in one transaction); reads go through `selectors`.
"""

from __future__ import annotations

import json

from ninja import Query, Router, Status

from careaccess.api.pagination import page_of, paginate
from careaccess.api.problems import errors_for
from careaccess.core.audit.models import Entry
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput, NotFound
from careaccess.directory.models import Organisation, Service

from . import rules, selectors, services
from .models import AccessRequest, Batch
from .schemas import (
    ApproveIn,
    BatchActionIn,
    BatchIn,
    BatchOut,
    EvidenceIn,
    EvidenceOut,
    HistoryOut,
    InformationIn,
    ReasonIn,
    RequestFilters,
    RequestIn,
    RequestOut,
    ValidateIn,
    VersionIn,
)

router = Router(tags=["access requests"])

READ = errors_for(401, 403, 422)
READ_ONE = errors_for(401, 403, 404)
WRITE = errors_for(401, 403, 409, 422)
WRITE_ONE = errors_for(401, 403, 404, 409, 422)


def _actor(request) -> Actor:
    return request.auth


def _organisation(code: str, field: str = "organisation") -> Organisation:
    organisation = Organisation.objects.filter(code=str(code).strip().upper()).first()
    if organisation is None:
        raise InvalidInput({field: f"no organisation has the code {code}; check the code"})
    return organisation


def _service(code: str | None) -> Service | None:
    if not code:
        return None
    service = Service.objects.filter(code=code.strip()).first()
    if service is None:
        raise InvalidInput({"service": f"no service has the code {code}; check the code"})
    return service


def request_out(r: AccessRequest, actor: Actor | None = None) -> dict:
    body = {
        "reference": r.reference, "kind": r.kind, "state": r.state, "version": r.version, "title": r.title,
        "organisation": r.organisation.code, "service": r.service.code if r.service_id else None,
        "subject": r.subject.uid if r.subject_id else None, "route": r.route, "purpose": r.purpose,
        "details": r.details, "note": r.note, "special_circumstances": r.special_circumstances,
        "ticket_reference": r.ticket_reference, "approval": r.approval, "outcome": r.outcome, "reason": r.reason,
        "raised_by": r.raised_by_label, "batch": r.batch.reference if r.batch_id else None,
        "created_at": r.created_at, "submitted_at": r.submitted_at, "forwarded_at": r.forwarded_at,
        "due_on": r.due_on, "overdue": r.overdue,  # annotated by selectors
        "closed_at": r.closed_at,
    }
    if actor is not None:
        body["next_actions"] = selectors.next_actions(actor, r)
        body["missing"] = services.missing_evidence(r) if r.state == rules.State.APPROVED else {}
    return body


def _one(request, reference: str) -> dict:
    actor = _actor(request)
    return request_out(selectors.get_request(actor, reference), actor)


# --- batches (before /{reference} so their paths win) ---

def batch_out(batch: Batch) -> dict:
    rows = list(batch.requests.order_by("id").values_list("reference", "state"))
    states: dict[str, int] = {}
    for _, state in rows:
        states[state] = states.get(state, 0) + 1
    return {"reference": batch.reference, "organisation": batch.organisation.code,
            "service": batch.service.code if batch.service_id else None, "filename": batch.filename,
            "created_at": batch.created_at, "requests": [ref for ref, _ in rows], "states": states}


def _batch(actor: Actor, reference: str) -> Batch:
    batch = Batch.objects.select_related("organisation", "service").filter(reference=reference.strip().upper()).first()
    if batch is None:
        raise NotFound(f"no batch has the reference {reference}")
    services.acting_as(actor, "request.read", batch.organisation, doing="read")
    return batch


@router.post("/batches", response={201: BatchOut, **WRITE}, summary="Raise a batch from a CSV",
             description="SC11, CC7: every row is checked first; a bad row answers 422 with `errors` naming "
                         "`row N: field` for every problem, and nothing is created.")
def import_batch(request, payload: BatchIn):
    try:
        rows = rules.parse_batch_csv(payload.csv)
    except ValueError as exc:
        raise InvalidInput({"csv": str(exc)}) from None
    batch = services.import_batch(_actor(request), _organisation(payload.organisation), _service(payload.service),
                                  rows, filename=payload.filename, submit=payload.submit)
    return Status(201, batch_out(batch))


@router.get("/batches/{reference}", response={200: BatchOut, **READ_ONE}, summary="A batch and its requests")
def get_batch(request, reference: str):
    return batch_out(_batch(_actor(request), reference))


@router.post("/batches/{reference}/{action}", response={200: BatchOut, **WRITE_ONE},
             summary="Move every open request of a batch",
             description="One of submit, validate, approve, fulfil, reject, withdraw, refer: all or none.")
def move_batch(request, reference: str, action: str, payload: BatchActionIn):
    actor = _actor(request)
    batch = _batch(actor, reference)
    data = payload.model_dump(exclude_unset=True)
    data.pop("version", None)
    kwargs = _transition_kwargs(action, data)
    services.transition_batch(actor, batch, action, **kwargs)
    return batch_out(batch)


def _transition_kwargs(action: str, data: dict) -> dict:
    fields = {
        rules.Action.SUBMIT: (), rules.Action.FULFIL: (), rules.Action.VALIDATE: ("ticket_reference",),
        rules.Action.REJECT: ("reason",), rules.Action.WITHDRAW: ("reason",), rules.Action.REFER: ("reason",),
        rules.Action.REQUEST_INFORMATION: ("reason",), rules.Action.PROVIDE_INFORMATION: ("information",),
        rules.Action.APPROVE: ("least_role", "told_not_to_view_own_records", "ig_training_on", "ends_on"),
    }
    if action not in fields:
        raise InvalidInput({"action": f"choose one of: {', '.join(fields)}"})
    extra = sorted(set(data) - set(fields[action]))
    if extra:
        raise InvalidInput({name: f"is not a field of {action}" for name in extra})
    if action == rules.Action.APPROVE:
        return {"confirmations": services.Confirmations(
            least_role=data.get("least_role", False),
            told_not_to_view_own_records=data.get("told_not_to_view_own_records", False),
            ig_training_on=data.get("ig_training_on"), ends_on=data.get("ends_on"))}
    return {k: data[k] for k in fields[action] if k in data}


# --- requests ---

@router.get("", response={200: page_of(RequestOut), **READ}, summary="List requests (a work queue)",
            description="Queues: mine, organisation, desk (CC6), authoriser (CC1, CC6), back_office (CC7). "
                        "Overdue requests come first, then by due date.")
def list_requests(request, filters: Query[RequestFilters]):
    actor = _actor(request)
    organisation = _organisation(filters.organisation) if filters.organisation else None
    batch = Batch.objects.filter(reference=filters.batch.strip().upper()).first() if filters.batch else None
    if filters.batch and batch is None:
        raise InvalidInput({"batch": f"no batch has the reference {filters.batch}"})
    queryset = selectors.queue(actor, filters.queue, state=filters.state, kind=filters.kind,
                               organisation=organisation, overdue=filters.overdue, batch=batch)
    return paginate(queryset, filters, request_out)


@router.post("", response={201: RequestOut, **WRITE}, summary="Raise a request",
             description="A draft, or submitted at once with `submit: true` (a receipt is sent with the "
                         "expected timescale).")
def raise_request(request, payload: RequestIn):
    actor = _actor(request)
    req = services.raise_request(
        actor, kind=payload.kind, organisation=_organisation(payload.organisation), service=_service(payload.service),
        details=payload.details, note=payload.note, purpose=payload.purpose,
        special_circumstances=payload.special_circumstances, submit=payload.submit)
    return Status(201, _one(request, req.reference))


@router.get("/{reference}", response={200: RequestOut, **READ_ONE}, summary="A request, with your next actions")
def get_request(request, reference: str):
    return _one(request, reference)


@router.get("/{reference}/history", response={200: list[HistoryOut], **READ_ONE},
            summary="Every step of a request: who, when, why (its audit ledger entries)")
def get_history(request, reference: str):
    req = selectors.get_request(_actor(request), reference)
    entries: list[Entry] = list(selectors.history(req))
    return [{"index": e.index, "recorded_at": e.recorded_at, "action": e.action, "actor": e.actor,
             "actor_uid": e.actor_uid, "actor_position": e.actor_position, "reason": e.reason,
             "before": json.loads(e.before), "after": json.loads(e.after)} for e in entries]


@router.get("/{reference}/evidence", response={200: list[EvidenceOut], **READ_ONE},
            summary="Checks and confirmations recorded with a request")
def list_evidence(request, reference: str):
    req = selectors.get_request(_actor(request), reference)
    return [{"kind": e.kind, "details": e.details, "confirmed_by_name": e.confirmed_by_name,
             "confirmed_by_role": e.confirmed_by_role, "recorded_by": e.recorded_by_label,
             "recorded_at": e.recorded_at} for e in req.evidence.all()]


@router.post("/{reference}/evidence", response={201: EvidenceOut, **WRITE_ONE}, summary="Record a check",
             description="face_to_face (SC7, RA agents only, DS5), telephone and email (PP12), written with who "
                         "confirmed and their role (PP14).")
def record_evidence(request, reference: str, payload: EvidenceIn):
    actor = _actor(request)
    req = selectors.get_request(actor, reference)
    e = services.record_evidence(actor, req, **payload.model_dump())
    return Status(201, {"kind": e.kind, "details": e.details, "confirmed_by_name": e.confirmed_by_name,
                        "confirmed_by_role": e.confirmed_by_role, "recorded_by": e.recorded_by_label,
                        "recorded_at": e.recorded_at})


def _transition(request, reference: str, action: str, payload) -> dict:
    actor = _actor(request)
    req = selectors.get_request(actor, reference)
    data = payload.model_dump(exclude_unset=True)
    version = data.pop("version")
    services.TRANSITION_FUNCTIONS[action](actor, req, version=version, **_transition_kwargs(action, data))
    return _one(request, reference)


_DESCRIPTIONS = {
    "submit": "Send a draft on; the requester gets a receipt with the expected timescale.",
    "validate": "The desk (with its ticket reference) or the authoriser checks the request (CC6, CC1).",
    "approve": "The authorising decision with the CC9 confirmations; the request reaches the back office and "
               "its due date is set (CC7).",
    "fulfil": "The back office actions it: the directory changes; for a new account the username and temporary "
              "password go in two messages (CC8). Needs recorded training (PP5).",
    "reject": "With the reasons, which the requester is told.",
    "withdraw": "The requester (or staff raising for the organisation) withdraws it, saying why.",
    "refer": "Refer to the central team (e.g. anything beyond direct care, CC2).",
    "request-information": "Ask for more information (CC10); the request waits and then returns to where it was.",
    "provide-information": "Answer a request for more information.",
}


def _route(path: str, action: str, schema):
    def endpoint(request, reference, payload):
        return _transition(request, reference, action, payload)

    endpoint.__annotations__ = {"reference": str, "payload": schema}  # real types, for ninja
    endpoint.__name__ = f"{action}_request"
    router.post(f"/{{reference}}/{path}", response={200: RequestOut, **WRITE_ONE},
                summary=f"{path.replace('-', ' ').capitalize()} a request", description=_DESCRIPTIONS[path],
                operation_id=f"request_{action}")(endpoint)


_route("submit", rules.Action.SUBMIT, VersionIn)
_route("validate", rules.Action.VALIDATE, ValidateIn)
_route("approve", rules.Action.APPROVE, ApproveIn)
_route("fulfil", rules.Action.FULFIL, VersionIn)
_route("reject", rules.Action.REJECT, ReasonIn)
_route("withdraw", rules.Action.WITHDRAW, ReasonIn)
_route("refer", rules.Action.REFER, ReasonIn)
_route("request-information", rules.Action.REQUEST_INFORMATION, ReasonIn)
_route("provide-information", rules.Action.PROVIDE_INFORMATION, InformationIn)

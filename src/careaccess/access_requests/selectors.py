"""Reads of access requests that pages, the API and reports share: queues (overdue first), one
request with its history and the actions the viewer may take next."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BooleanField, Case, Count, F, Q, QuerySet, Value, When

from careaccess.core import clock, permissions
from careaccess.core.audit.models import Entry
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden, InvalidInput, NotFound
from careaccess.directory.models import Organisation

from . import rules, services
from .models import AccessRequest, Batch
from .rules import Action, State

QUEUES = ("mine", "organisation", "desk", "authoriser", "back_office")


def _base() -> QuerySet[AccessRequest]:
    today = clock.today()
    return AccessRequest.objects.select_related("organisation", "service", "subject", "batch").annotate(
        overdue=Case(When(state=State.APPROVED, due_on__lt=today, then=Value(True)), default=Value(False),
                     output_field=BooleanField())
    )


def _authoriser_queue(actor: Actor) -> Q:
    """Submitted authoriser-route requests the actor may validate and validated requests the actor
    may approve (rules.validator_capabilities / approver_capabilities, as set-based filters)."""
    def at(capability: str) -> Q:
        ids = permissions.covered_organisation_ids(actor, [capability])
        return Q() if ids is None else Q(organisation_id__in=ids)

    gp = Q(organisation__kind=Organisation.Kind.GP_PRACTICE)
    kind = {k: Q(service__approver_kind=k) for k in ("authoriser", "sponsor", "lead_correspondent")}
    kind["authoriser"] |= Q(service__isnull=True)
    approves = ((kind["authoriser"] & (at("authoriser") | (gp & at("sponsor"))))
                | (kind["sponsor"] & at("sponsor")) | (kind["lead_correspondent"] & at("lead_correspondent")))
    validates = approves | at("authoriser") | (gp & at("sponsor"))
    return (Q(state=State.SUBMITTED, route=rules.AUTHORISER) & validates) | (Q(state=State.VALIDATED) & approves)


def _within(queryset, ids: set[int] | None):
    return queryset if ids is None else queryset.filter(organisation_id__in=ids)


def queue(actor: Actor, name: str = "organisation", *, state: str | None = None, kind: str | None = None,
          organisation: Organisation | None = None, overdue: bool | None = None, batch: Batch | None = None
          ) -> QuerySet[AccessRequest]:
    """A work queue, overdue first then by due date, then oldest first:

    - mine: requests the actor raised;
    - organisation: every request of the organisations the actor may read requests for;
    - desk: submitted requests of desk-route organisations the actor is service desk for (CC6);
    - authoriser: submitted authoriser-route requests the actor may validate, and validated
      requests the actor may approve (CC1, CC6);
    - back_office: approved requests the actor may fulfil (CC7: due dates, overdue flagged).
    """
    if name not in QUEUES:
        raise InvalidInput({"queue": f"choose one of: {', '.join(QUEUES)}"})
    if actor.kind == "service":
        raise Forbidden(f"{actor.label} may not read access requests")
    qs = _base()
    if name == "mine":
        qs = qs.filter(raised_by_id=actor.person_id) if actor.person_id else qs.none()
    elif name == "organisation":
        qs = _within(qs, permissions.covered_organisation_ids(actor, permissions.ACTIONS["request.read"]))
    elif name == "desk":
        qs = _within(qs.filter(state=State.SUBMITTED, route=rules.DESK),
                     permissions.covered_organisation_ids(actor, ["service_desk"]))
    elif name == "authoriser":
        qs = qs.filter(_authoriser_queue(actor))
        if actor.person_id:  # DS5: never their own requests, nor requests about themselves
            qs = qs.exclude(raised_by_id=actor.person_id).exclude(subject_id=actor.person_id)
    elif name == "back_office":
        qs = _within(qs.filter(state=State.APPROVED),
                     permissions.covered_organisation_ids(actor, permissions.ACTIONS["request.fulfil"]))
    if state:
        qs = qs.filter(state=state)
    if kind:
        qs = qs.filter(kind=kind)
    if organisation is not None:
        qs = qs.filter(organisation=organisation)
    if batch is not None:
        qs = qs.filter(batch=batch)
    if overdue is not None:
        qs = qs.filter(overdue=overdue)
    return qs.order_by(F("overdue").desc(), F("due_on").asc(nulls_last=True), "created_at", "id")


def overdue(on=None) -> QuerySet[AccessRequest]:
    """Every approved request past its due date (CC7), most overdue first: for reports."""
    today = on or clock.today()
    return _base().filter(state=State.APPROVED, due_on__lt=today).order_by("due_on", "id")


def get_request(actor: Actor, reference: str) -> AccessRequest:
    """One request, if the actor may read it: staff of (or overseeing) its organisation, or its requester."""
    req = _base().filter(reference=str(reference).strip().upper()).first()
    if req is None:
        raise NotFound(f"no access request has the reference {reference}")
    if actor.kind == "person" and actor.person_id in (req.raised_by_id, req.subject_id):
        return req
    services.acting_as(actor, "request.read", req.organisation, doing="read")
    return req


def history(req: AccessRequest) -> QuerySet[Entry]:
    """Every step of the request, who, when and why: its audit ledger entries (PP9)."""
    return Entry.objects.filter(access_request=req.reference).order_by("index")


def may(actor: Actor, req: AccessRequest, action: str) -> bool:
    """Would `action` be allowed for this actor now (state, permission, separation of duties)? No writes."""
    if (req.state, action) not in rules.TRANSITIONS:
        return False
    try:
        if action in (Action.SUBMIT, Action.WITHDRAW, Action.PROVIDE_INFORMATION):
            services.acting_as(actor, "request.raise", req.organisation)
            return True
        if action == Action.VALIDATE:
            acting = services.acting_as(actor, "request.validate", req.organisation, services._validators(req))
        elif action == Action.APPROVE:
            if req.kind == rules.Kind.SECONDARY_PURPOSE:
                return False
            acting = services.acting_as(actor, "request.approve", req.organisation, services._approvers(req))
        elif action == Action.FULFIL:
            acting = services.acting_as(actor, "request.fulfil", req.organisation,
                                        services.policy_capabilities(req.service, "fulfil"))
            if services.fulfil_refusal(actor, acting, req):  # PP5, DS5: next_step says why
                return False
        else:
            permission, capabilities = services._deciders(req)
            acting = services.acting_as(actor, permission, req.organisation, capabilities)
        services._separation(acting, req, action)
    except Forbidden:
        return False
    return True


def next_actions(actor: Actor, req: AccessRequest) -> list[str]:
    """The actions the actor may take on the request now, in the state machine's order."""
    return [a for a in rules.allowed_actions(req.state) if may(actor, req, a)]


@dataclass
class Summary:
    open: int
    overdue: int
    by_state: dict[str, int]


def summary(actor: Actor) -> Summary:
    """Counts for a home page: the actor's organisation queue by state, and how many are overdue."""
    qs = queue(actor, "organisation")
    by_state = dict(qs.order_by().values_list("state").annotate(n=Count("id")))
    return Summary(open=sum(v for k, v in by_state.items() if k in rules.OPEN_STATES),
                   overdue=qs.filter(overdue=True).count(), by_state=by_state)

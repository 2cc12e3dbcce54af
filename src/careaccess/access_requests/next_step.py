"""Who may take a request's next step, in words for a viewer who may not take it themselves (CC1,
CC6, CC7, PP5): "Waiting for a sponsor at Riverside Pharmacy (FA123) to approve it". No writes."""

from __future__ import annotations

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden

from . import services
from .models import AccessRequest
from .rules import DESK, Action, State

# The actions that move a request on; the others (withdraw, reject, refer, ask) stop or pause it.
STEPS = (Action.SUBMIT, Action.VALIDATE, Action.APPROVE, Action.FULFIL, Action.PROVIDE_INFORMATION)

# A staff capability as the people who hold it are called.
HOLDERS = {
    "sponsor": "a sponsor", "authoriser": "an authoriser", "lead_correspondent": "the lead correspondent",
    "service_desk": "the service desk", "local_administrator": "a local administrator",
    "ra_agent": "an RA agent", "ra_manager": "an RA manager",
}


def _who(capabilities) -> str:
    names = [HOLDERS.get(c, c.replace("_", " ")) for c in sorted(capabilities, key=list(HOLDERS).index)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _where(req: AccessRequest) -> str:
    return f"{req.organisation.name} ({req.organisation.code})"


def fulfil_blocked(actor: Actor, req: AccessRequest) -> str:
    """Why the viewer, who fulfils this kind of request, may not fulfil this approved one (PP5, DS5)."""
    if req.state != State.APPROVED:
        return ""
    try:
        acting = services.acting_as(actor, "request.fulfil", req.organisation,
                                    services.policy_capabilities(req.service, "fulfil"))
    except Forbidden:
        return ""
    return services.fulfil_refusal(actor, acting, req)


def waiting_for(req: AccessRequest) -> str:
    """Who the request waits for now; empty once it is closed."""
    where = _where(req)
    if req.state in (State.DRAFT, State.INFORMATION_REQUESTED):
        doing = "submit it" if req.state == State.DRAFT else "give the information asked for"
        return f"Waiting for the person who raised it ({req.raised_by_label}) to {doing}"
    if req.state == State.SUBMITTED:
        who = "the service desk" if req.route == DESK else _who(services._validators(req))
        return f"Waiting for {who} at {where} to validate it"
    if req.state == State.VALIDATED:
        return f"Waiting for {_who(services._approvers(req))} at {where} to approve it"
    if req.state == State.APPROVED:
        fulfillers = services.policy_capabilities(req.service, "fulfil") or permissions.ACTIONS["request.fulfil"]
        who = "an RA agent" if "person.create" in services.directory_changes(req) else f"the back office ({_who(fulfillers)})"
        return (f"Waiting for {who}, trained to action {req.service.name if req.service_id else 'these'} requests, "
                f"to action it")
    return ""

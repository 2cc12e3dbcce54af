"""Pure rules of access requests: the state machine, titles, SLA dates, email checks, CSV rows.

No database access here, so every rule is tested fast and exhaustively (tests/test_rules.py).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import string


# --- kinds ---

class Kind:
    NEW_USER = "new_user"
    AMENDMENT = "amendment"
    REACTIVATION = "reactivation"
    DELETION = "deletion"
    POSITION_ASSIGNMENT = "position_assignment"
    POSITION_REMOVAL = "position_removal"
    CHANGE_OF_NAME = "change_of_name"
    CHANGE_OF_LEAD_CORRESPONDENT = "change_of_lead_correspondent"
    SECONDARY_PURPOSE = "secondary_purpose"


KIND_LABELS = {
    Kind.NEW_USER: "New user",
    Kind.AMENDMENT: "Amendment",
    Kind.REACTIVATION: "Account reactivation",
    Kind.DELETION: "Deletion (leaver or inactivity)",
    Kind.POSITION_ASSIGNMENT: "Position assignment",
    Kind.POSITION_REMOVAL: "Position removal",
    Kind.CHANGE_OF_NAME: "Change of name",
    Kind.CHANGE_OF_LEAD_CORRESPONDENT: "Change of lead correspondent",
    Kind.SECONDARY_PURPOSE: "Secondary-purpose access",
}
KINDS = tuple(KIND_LABELS)

# Kinds that give someone access: the approver makes the CC9 confirmations for them.
GRANTING_KINDS = frozenset({Kind.NEW_USER, Kind.AMENDMENT, Kind.REACTIVATION, Kind.POSITION_ASSIGNMENT,
                            Kind.CHANGE_OF_LEAD_CORRESPONDENT})
# Kinds that need a service (the account the request is about).
SERVICE_KINDS = frozenset({Kind.NEW_USER, Kind.REACTIVATION, Kind.SECONDARY_PURPOSE})


def title_category(kind: str) -> str:
    """Rule CC5: starter, change or leaver."""
    if kind == Kind.NEW_USER:
        return "starter"
    if kind in (Kind.DELETION, Kind.POSITION_REMOVAL):
        return "leaver"
    return "change"


def title(service_name: str | None, kind: str, full_name: str) -> str:
    """Rule CC5: `Connecting Care (starter|change|leaver) <full name>`, for the request's service; a
    request about no service account says its kind: `Change of name: <full name>`."""
    name = " ".join(full_name.split())
    if not service_name:
        return f"{KIND_LABELS[kind]}: {name}"
    return f"{service_name} {title_category(kind)} {name}"


# --- the state machine ---

class State:
    DRAFT = "draft"
    SUBMITTED = "submitted"
    VALIDATED = "validated"
    APPROVED = "approved"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    REFERRED = "referred"
    INFORMATION_REQUESTED = "information_requested"


STATE_LABELS = {
    State.DRAFT: "Draft",
    State.SUBMITTED: "Submitted",
    State.VALIDATED: "Validated",
    State.APPROVED: "Approved (with the back office)",
    State.FULFILLED: "Fulfilled",
    State.REJECTED: "Rejected",
    State.WITHDRAWN: "Withdrawn",
    State.REFERRED: "Referred to the central team",
    State.INFORMATION_REQUESTED: "More information requested",
}
STATES = tuple(STATE_LABELS)
FINAL_STATES = frozenset({State.FULFILLED, State.REJECTED, State.WITHDRAWN, State.REFERRED})
OPEN_STATES = frozenset(STATES) - FINAL_STATES


class Action:
    SUBMIT = "submit"
    VALIDATE = "validate"
    APPROVE = "approve"
    FULFIL = "fulfil"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    REFER = "refer"
    REQUEST_INFORMATION = "request_information"
    PROVIDE_INFORMATION = "provide_information"


ACTION_LABELS = {
    Action.SUBMIT: "Submit",
    Action.VALIDATE: "Validate",
    Action.APPROVE: "Approve",
    Action.FULFIL: "Fulfil",
    Action.REJECT: "Reject",
    Action.WITHDRAW: "Withdraw",
    Action.REFER: "Refer to the central team",
    Action.REQUEST_INFORMATION: "Ask for more information",
    Action.PROVIDE_INFORMATION: "Provide the information",
}
ACTIONS = tuple(ACTION_LABELS)

# (state, action) -> next state. provide_information returns to the state the request was paused
# in (rule CC10), so its target is given by `next_state`.
TRANSITIONS: dict[tuple[str, str], str] = {
    (State.DRAFT, Action.SUBMIT): State.SUBMITTED,
    (State.DRAFT, Action.WITHDRAW): State.WITHDRAWN,
    (State.SUBMITTED, Action.VALIDATE): State.VALIDATED,
    (State.SUBMITTED, Action.REJECT): State.REJECTED,
    (State.SUBMITTED, Action.WITHDRAW): State.WITHDRAWN,
    (State.SUBMITTED, Action.REFER): State.REFERRED,
    (State.SUBMITTED, Action.REQUEST_INFORMATION): State.INFORMATION_REQUESTED,
    (State.VALIDATED, Action.APPROVE): State.APPROVED,
    (State.VALIDATED, Action.REJECT): State.REJECTED,
    (State.VALIDATED, Action.WITHDRAW): State.WITHDRAWN,
    (State.VALIDATED, Action.REFER): State.REFERRED,
    (State.VALIDATED, Action.REQUEST_INFORMATION): State.INFORMATION_REQUESTED,
    (State.APPROVED, Action.FULFIL): State.FULFILLED,
    (State.APPROVED, Action.REJECT): State.REJECTED,
    (State.APPROVED, Action.REQUEST_INFORMATION): State.INFORMATION_REQUESTED,
    (State.INFORMATION_REQUESTED, Action.PROVIDE_INFORMATION): "",  # back to where it was paused
    (State.INFORMATION_REQUESTED, Action.WITHDRAW): State.WITHDRAWN,
}
PAUSABLE = frozenset(s for (s, a) in TRANSITIONS if a == Action.REQUEST_INFORMATION)
REASON_REQUIRED = frozenset({Action.REJECT, Action.REFER, Action.REQUEST_INFORMATION, Action.WITHDRAW})


class IllegalTransition(ValueError):
    pass


def allowed_actions(state: str) -> list[str]:
    return [a for a in ACTIONS if (state, a) in TRANSITIONS]


def next_state(state: str, action: str, paused_in: str = "") -> str:
    """The state after `action`, or IllegalTransition saying what can be done instead."""
    if action not in ACTION_LABELS:
        raise IllegalTransition(f"{action} is not an action on a request; use one of {', '.join(ACTIONS)}")
    if (state, action) not in TRANSITIONS:
        possible = allowed_actions(state)
        now = STATE_LABELS.get(state, state).lower()
        instead = f"; it can now be: {', '.join(possible)}" if possible else "; nothing more can be done to it"
        raise IllegalTransition(f"a request that is {now} cannot be {_past(action)}{instead}")
    target = TRANSITIONS[(state, action)]
    if action == Action.PROVIDE_INFORMATION:
        if paused_in not in PAUSABLE:
            raise IllegalTransition("the request does not record the step it was paused in")
        return paused_in
    return target


def _past(action: str) -> str:
    return {
        Action.SUBMIT: "submitted", Action.VALIDATE: "validated", Action.APPROVE: "approved",
        Action.FULFIL: "fulfilled", Action.REJECT: "rejected", Action.WITHDRAW: "withdrawn",
        Action.REFER: "referred", Action.REQUEST_INFORMATION: "paused for more information",
        Action.PROVIDE_INFORMATION: "given more information",
    }[action]


# --- routes (rule CC6, CC1) ---

DESK = "service_desk"
AUTHORISER = "authoriser"


def route(has_service_desk: bool) -> str:
    """Organisations with an IT service desk take requests there; the others through authorisers."""
    return DESK if has_service_desk else AUTHORISER


def validator_capabilities(has_service_desk: bool, is_gp_practice: bool, approver_kind: str) -> frozenset[str]:
    """Who validates (CC6): the desk; or the authoriser (a GP practice's sponsors are its
    authorisers, CC1) — or, where the service names another approver kind, that kind too."""
    if has_service_desk:
        return frozenset({"service_desk"})
    return approver_capabilities(approver_kind, is_gp_practice) | {"authoriser"} | (
        {"sponsor"} if is_gp_practice else set())


def approver_capabilities(approver_kind: str, is_gp_practice: bool) -> frozenset[str]:
    """The service's approver kind; at a GP practice sponsors are authorisers automatically (CC1)."""
    kinds = {approver_kind}
    if approver_kind == "authoriser" and is_gp_practice:
        kinds.add("sponsor")
    return frozenset(kinds)


# --- SLA (rule CC7) ---

def add_days(start: dt.date, days: int, *, working_days: bool) -> dt.date:
    """`days` after `start`: calendar days, or working days (Monday to Friday; a start on a weekend
    counts from the next Monday). Bank holidays are not known here."""
    if not working_days:
        return start + dt.timedelta(days=days)
    current = start
    added = 0
    while added < days:
        current += dt.timedelta(days=1)
        if current.weekday() < 5:
            added += 1
    return current


def is_overdue(state: str, due_on: dt.date | None, today: dt.date) -> bool:
    return state == State.APPROVED and due_on is not None and today > due_on


# --- email addresses (rule PP2) ---

# --- credentials (rule CC8) ---

def temporary_password(length: int = 14) -> str:
    """A random temporary password: letters and digits, at least one of each kind."""
    alphabet = string.ascii_letters + string.digits
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (any(c.islower() for c in candidate) and any(c.isupper() for c in candidate)
                and any(c.isdigit() for c in candidate)):
            return candidate


def username_for(given_name: str, family_name: str, taken: set[str]) -> str:
    """firstname.lastname, lower case, letters only; a number is added when taken."""
    def part(value: str) -> str:
        return re.sub(r"[^a-z]", "", (value or "").lower()) or "user"

    base = f"{part(given_name)}.{part(family_name)}"
    if base not in taken:
        return base
    n = 2
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


# --- references ---

_REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_reference(prefix: str = "REQ") -> str:
    """A random reference to quote, like REQ-7KQ4M2XP (no 0/O or 1/I to confuse)."""
    return f"{prefix}-" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))


# --- batch files (rules SC11, CC7) ---

BATCH_COLUMNS = ("kind", "title", "given_name", "family_name", "date_of_birth", "ni_number", "email", "phone",
                 "position", "service_role", "temporary", "ends_on", "professional_registration", "person",
                 "assignment", "starts_on", "leaving_on", "cause", "note")


def parse_batch_csv(text: str) -> list[dict[str, str]]:
    """The rows of a batch CSV as {column: value}; headers are matched loosely ("Given name" is
    given_name). ValueError says what is wrong with the file itself (rows are checked later)."""
    import csv
    import io

    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ValueError("the file is empty; the first line names the columns") from None
    names = [re.sub(r"[^a-z0-9]+", "_", h.strip().lower()).strip("_") for h in header]
    unknown = [h for h, n in zip(header, names) if n and n not in BATCH_COLUMNS]
    if unknown:
        raise ValueError(f"unknown columns {', '.join(unknown)}; use: {', '.join(BATCH_COLUMNS)}")
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(names):
            rows.append({"__all__": f"has {len(values)} values but the header names {len(names)} columns"})
            continue
        rows.append({n: v.strip() for n, v in zip(names, values) if n and v.strip()})
    return rows

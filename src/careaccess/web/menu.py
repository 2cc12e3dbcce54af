"""What each staff capability lets someone do, in words, for the home page.

The actions come from `permissions.ACTIONS` (the one place rights are decided); this module only
names them. An action links to its page when a page with the URL name in `ACTION_PAGES` exists,
so pages added by later work light up here without editing the home page; an action with no page
says where it is done (`ELSEWHERE`: the API or the operator's command), never a dead item.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from careaccess.core import permissions

CAPABILITIES: dict[str, tuple[str, str]] = {
    "sponsor": ("Sponsor", "Raise requests for people in your organisation, request positions for them and "
                "their removal when they leave, and unlock and renew their smartcards."),
    "authoriser": ("Authoriser", "Check and approve new-user requests and account changes for your organisation."),
    "lead_correspondent": ("Lead correspondent", "Request accounts and permission changes for your care "
                           "provider and review its accounts every 3 months."),
    "ra_agent": ("RA agent", "Check identity, register people, grant positions, and issue, unlock and repair "
                 "smartcards."),
    "ra_manager": ("RA manager", "Everything an RA agent does, plus appointing sponsors and RA agents, batch "
                   "updates and reports."),
    "service_desk": ("Service desk", "Log and validate requests for organisations that have a service desk, "
                     "and forward them."),
    "local_administrator": ("Local administrator", "Action approved requests: create, amend, suspend and "
                            "reinstate accounts."),
    "auditor": ("Auditor", "Read the audit ledger and reports. Auditors change nothing."),
}

# action -> what it is called on the page.
ACTION_NAMES: dict[str, str] = {
    "organisation.read": "Look up organisations",
    "organisation.create": "Add organisations",
    "organisation.update": "Change organisations",
    "unit.create": "Add organisational units",
    "person.read": "Look up people",
    "person.create": "Register people",
    "person.update": "Change people's details",
    "service.read": "Look up services",
    "service.create": "Add services",
    "service.update": "Change services and the code catalogue",
    "position.read": "Look up positions",
    "position.create": "Create positions",
    "position.update": "Change positions",
    "assignment.read": "Look up who holds which position",
    "assignment.create": "Place people in positions",
    "assignment.update": "Change or end people's positions",
    "assignment.create_assignable": "Place people in positions open to sponsors",
    "assignment.update_assignable": "Change or end people's positions open to sponsors",
    "account.read": "Look up accounts",
    "account.create": "Create accounts",
    "account.update": "Suspend, reinstate and change accounts",
    "access.read": "See a person's effective access",
    "decision.ask": "Check whether a person may do something",
    "audit.read": "Read the audit ledger",
    "token.create": "Issue API tokens to relying services",
    "identity.read": "See identity checks",
    "identity.verify": "Check identity",
    "terms.publish": "Publish terms and conditions",
    "training.record": "Record training",
    "training.record_ra": "Record RA agent training",
    "ra_agent.appoint": "Appoint RA agents",
    "ra_agent.remove": "Remove RA agents",
    "card.read": "Look up smartcards",
    "card.issue": "Issue smartcards",
    "card.unlock": "Unlock smartcards",
    "card.renew": "Renew smartcard certificates",
    "card.repair": "Repair smartcards",
    "card.cancel": "Cancel smartcards",
    "card.replace": "Replace smartcards",
    "card.misuse_report": "Report suspected smartcard misuse",
    "card.misuse_decide": "Decide on reports of smartcard misuse",
    "pki.manage": "Manage the certificate authority",
    "request.read": "Look up requests",
    "request.raise": "Raise requests",
    "request.validate": "Validate requests",
    "request.approve": "Approve requests",
    "request.fulfil": "Action approved requests",
    "request.check_identity": "Check identity for requests",
    "request.confirm": "Confirm requests are done",
    "request.refer": "Refer requests",
    "request.training": "Record training to action requests",
    "report.read": "Run reports",
    "bulk.apply": "Apply bulk changes to a position or organisation",
    "mailbox.assess": "Assess care home mailbox applications",
    "mailbox.decide": "Approve or reject care home mailbox applications",
    "mailbox.manage": "Manage care homes' mailboxes and shared mailboxes",
    "organisation.close": "Record an organisation's closure",
    "authenticator.remove": "Remove a lost authenticator app or security key",
}

_VERBS = {"read": "Look up", "create": "Add", "update": "Change"}


def action_name(action: str) -> str:
    """What an action is called on the page; actions added later without a name still read well."""
    if action in ACTION_NAMES:
        return ACTION_NAMES[action]
    noun, _, verb = action.partition(".")
    noun = noun.replace("_", " ")
    verb = _VERBS.get(verb, verb.replace("_", " ").capitalize())
    return f"{verb} ({noun})" if verb else noun.capitalize()

# action -> the URL name of its page, once that page exists.
ACTION_PAGES: dict[str, str] = {
    "person.read": "web:people",
    "assignment.read": "web:people",
    "account.read": "web:people",
    "identity.read": "web:people",
    "request.training": "web:people",
    "request.check_identity": "requests:queue-back-office",
    "request.confirm": "requests:queue-back-office",
    "request.refer": "requests:queues",
    "audit.read": "audit:ledger",
    "request.read": "requests:queues",
    "request.raise": "requests:raise",
    "request.validate": "requests:to-validate",
    "request.approve": "requests:queue-authoriser",
    "request.fulfil": "requests:queue-back-office",
    "report.read": "reports:index",
    "bulk.apply": "reports:bulk",
    "review.decide": "lifecycle:reviews",
    "review.decide_escalated": "lifecycle:reviews",
    "reinstatement.check": "lifecycle:reinstatements",
    "organisation.close": "lifecycle:closures",
    "authenticator.remove": "credentials:find-person",
    "card.read": "credentials:find-card-holder",
    "card.issue": "credentials:find-card-holder",
    "card.unlock": "credentials:find-card-holder",
    "card.renew": "credentials:find-card-holder",
    "card.repair": "credentials:find-card-holder",
    "card.cancel": "credentials:find-card-holder",
    "card.replace": "credentials:find-card-holder",
    "card.misuse_report": "credentials:find-card-holder",
    "card.misuse_decide": "credentials:misuse-reports",
    "mailbox.assess": "mailboxes:queue",
    "mailbox.decide": "mailboxes:queue",
    "mailbox.manage": "mailboxes:homes",
}


# action -> what to do on its page where the page is a step away from it (find someone first).
PAGE_STEPS: dict[str, str] = {
    "assignment.read": "find the person: their page lists their positions, live and ended",
    "account.read": "find the person: their page lists their accounts",
    "identity.read": "find the person: their page shows their identity check",
    "request.training": "find the person, then choose Record training to action requests on their page (rule PP5)",
    "request.check_identity": "open the request, then record the identity check (rule DS5)",
    "request.confirm": "open the request, then confirm it is done",
    "request.refer": "open the request, then refer it",
    "card.issue": "find the person, then issue a card (rules DS1, DS5)",
    "card.unlock": "find the card holder, then unlock it with them present (rules DS3, DS8)",
    "card.renew": "find the card holder, then renew the certificate (rules SC9, DS13)",
    "card.repair": "find the card holder, then repair the card",
    "card.cancel": "find the card holder, then cancel the card (rule SC6)",
    "card.replace": "find the card holder, then replace the card (rules DS12, DS14)",
    "card.misuse_report": "find the card holder, then report suspected misuse (rule SC3)",
}

# action -> where it is done when no page does it yet: the API (documented at /api/v1/docs) or the
# `careaccess` command on the server. Never an item that leads nowhere.
ELSEWHERE: dict[str, str] = {
    "organisation.read": "through the API: GET /api/v1/organisations",
    "organisation.create": "through the API: POST /api/v1/organisations",
    "organisation.update": "through the API: PATCH /api/v1/organisations/{code}",
    "unit.create": "through the API: POST /api/v1/organisations/{code}/units",
    "person.create": "through the API: POST /api/v1/people, or by actioning a new-user request",
    "person.update": "through the API: PATCH /api/v1/people/{uid}",
    "service.read": "through the API: GET /api/v1/services",
    "service.create": "through the API: POST /api/v1/services",
    "service.update": "through the API: PATCH /api/v1/services/{code}, POST /api/v1/job-roles, "
                      "POST /api/v1/activities",
    "position.read": "through the API: GET /api/v1/positions",
    "position.create": "through the API: POST /api/v1/positions",
    "position.update": "through the API: PATCH /api/v1/positions/{id}",
    "assignment.create": "through the API: POST /api/v1/assignments, or by actioning a position request",
    "assignment.update": "through the API: PATCH /api/v1/assignments/{id}",
    "assignment.create_assignable": "through the API: POST /api/v1/assignments, or raise a position request",
    "assignment.update_assignable": "through the API: PATCH /api/v1/assignments/{id}, or raise a removal request",
    "account.create": "through the API: POST /api/v1/accounts, or by actioning a new-user request",
    "account.update": "through the API: PATCH /api/v1/accounts/{id}",
    "access.read": "through the API: GET /api/v1/people/{uid}/access",
    "decision.ask": "through the API: POST /api/v1/decisions",
    "token.create": "ask the operator: careaccess token on the server",
    "identity.verify": "through the API: POST /api/v1/identity/people/{uid}/checks, or on a request's page",
    "terms.publish": "through the API: POST /api/v1/identity/terms",
    "training.record": "through the API: POST /api/v1/identity/people/{uid}/training",
    "training.record_ra": "through the API: POST /api/v1/identity/people/{uid}/training",
    "ra_agent.appoint": "through the API: POST /api/v1/identity/ra-agent-appointments (rule DS10)",
    "ra_agent.remove": "the worker removes RA agents untrained by their deadline (rule DS10); to end one "
                       "sooner, through the API: PATCH /api/v1/assignments/{id}",
    "pki.manage": "ask the operator: careaccess pki on the server",
}


@dataclass(frozen=True)
class Action:
    name: str
    href: str | None
    how: str = ""  # the step on the linked page, or where it is done when there is no page


@dataclass(frozen=True)
class Section:
    capability: str
    title: str
    description: str
    scopes: list[str]
    actions: list[Action]


def capability_title(capability: str) -> str:
    return CAPABILITIES.get(capability, (capability.replace("_", " ").capitalize(), ""))[0]


def _href(action: str) -> str | None:
    name = ACTION_PAGES.get(action)
    if not name:
        return None
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def scope_text(grant: permissions.Grant, organisation_name: str | None = None) -> str:
    where = f"{organisation_name} ({grant.organisation_code})" if organisation_name else grant.organisation_code
    if grant.oversees_descendants:
        return f"{where} and the organisations under it"
    return where


def menu_action(action: str) -> Action:
    href = _href(action)
    if href:
        return Action(action_name(action), href, PAGE_STEPS.get(action, ""))
    return Action(action_name(action), None, ELSEWHERE.get(action, "not available on a page yet: ask your RA"))


def actions_for(capability: str) -> list[Action]:
    return [menu_action(name) for name, allowed in permissions.ACTIONS.items() if capability in allowed]


def sections(capabilities: dict[str, list[permissions.Grant]], organisation_names: dict[str, str] | None = None) -> list[Section]:
    """One section per capability the actor holds, in the order of CAPABILITIES."""
    names = organisation_names or {}
    order = list(CAPABILITIES) + sorted(set(capabilities) - set(CAPABILITIES))
    result = []
    for capability in order:
        grants = capabilities.get(capability)
        if not grants:
            continue
        title, description = CAPABILITIES.get(capability, (capability_title(capability), ""))
        scopes = sorted({scope_text(g, names.get(g.organisation_code)) for g in grants})
        result.append(Section(capability, title, description, scopes, actions_for(capability)))
    return result

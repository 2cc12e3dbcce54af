"""Every permission decision in careaccess, in one place. Deny by default.

Staff rights are activities carried by positions like any other (DESIGN.md): a person may do an
action when one of their live assignments' positions carries an activity the action needs, and
the target organisation is that position's organisation — or one of its descendants when that
organisation oversees others. The granting assignment becomes the acting position recorded in the
audit entry. Relying services act only through the actions listed for them; the system actor (the
operator at the console, the worker) may do everything.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Iterable

from django.conf import settings

from careaccess.core import clock, sql
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden

ALL_STAFF = (
    "sponsor",
    "authoriser",
    "lead_correspondent",
    "ra_agent",
    "ra_manager",
    "service_desk",
    "local_administrator",
    "auditor",
)

# action -> the staff capabilities (any one of them) that allow it.
ACTIONS: dict[str, tuple[str, ...]] = {
    "organisation.read": ALL_STAFF,
    "organisation.create": ("ra_manager",),
    "organisation.update": ("ra_manager",),
    "unit.create": ("ra_manager", "ra_agent"),
    "person.read": ALL_STAFF,
    "person.create": ("ra_agent", "ra_manager"),
    "person.update": ("ra_agent", "ra_manager"),
    "service.read": ALL_STAFF,
    "service.create": ("ra_manager",),
    "service.update": ("ra_manager",),
    "position.read": ALL_STAFF,
    "position.create": ("ra_agent", "ra_manager"),
    "position.update": ("ra_agent", "ra_manager"),
    "assignment.read": ALL_STAFF,
    "assignment.create": ("ra_agent", "ra_manager"),
    "assignment.update": ("ra_agent", "ra_manager"),
    # Sponsors may place people in positions marked assignable by sponsors (and only those).
    "assignment.create_assignable": ("sponsor", "ra_agent", "ra_manager"),
    "assignment.update_assignable": ("sponsor", "ra_agent", "ra_manager"),
    "account.read": ALL_STAFF,
    "account.create": ("local_administrator", "ra_agent", "ra_manager"),
    "account.update": ("local_administrator", "ra_agent", "ra_manager"),
    "access.read": ALL_STAFF,
    "decision.ask": ALL_STAFF,
    "audit.read": ("auditor", "ra_manager"),
    "token.create": ("ra_manager",),
    # identity checks, terms and training (identity app)
    "identity.read": ("ra_agent", "ra_manager", "sponsor", "auditor"),
    "identity.verify": ("ra_agent", "ra_manager"),  # rule DS5: only RA agents check identity
    "terms.publish": ("ra_manager",),
    "training.record": ("ra_agent", "ra_manager", "sponsor", "authoriser", "lead_correspondent"),
    "training.record_ra": ("ra_manager",),
    "ra_agent.appoint": ("sponsor", "ra_manager"),  # rule DS10
    "ra_agent.remove": ("ra_manager",),
    # smartcards and the certificate authority (credentials app)
    "card.read": ("ra_agent", "ra_manager", "sponsor", "auditor"),
    "card.issue": ("ra_agent", "ra_manager"),
    "card.unlock": ("ra_agent", "ra_manager", "sponsor"),  # rule DS8 (pharmacists: credentials.rules)
    "card.renew": ("ra_agent", "ra_manager", "sponsor"),  # rule SC9
    "card.repair": ("ra_agent", "ra_manager"),
    "card.cancel": ("ra_agent", "ra_manager"),
    "card.replace": ("ra_agent", "ra_manager"),
    "card.misuse_report": ALL_STAFF,
    "card.misuse_decide": ("ra_manager",),
    "pki.manage": ("ra_manager",),
    # removing a person's lost second factor (TOTP app, security key): RA staff, never on themselves
    "authenticator.remove": ("ra_agent", "ra_manager"),
    # access requests (access_requests.services narrows each to the request's route and policy)
    "request.read": ALL_STAFF,
    "request.raise": ("sponsor", "authoriser", "lead_correspondent", "service_desk", "ra_agent", "ra_manager",
                      "local_administrator"),
    "request.validate": ("service_desk", "authoriser", "sponsor", "lead_correspondent"),
    "request.approve": ("authoriser", "sponsor", "lead_correspondent"),
    "request.fulfil": ("local_administrator", "ra_agent", "ra_manager"),
    "request.check_identity": ("ra_agent", "ra_manager"),  # rule DS5
    "request.confirm": ("local_administrator", "ra_agent", "ra_manager"),
    "request.refer": ("service_desk", "authoriser", "sponsor", "lead_correspondent", "local_administrator",
                      "ra_agent", "ra_manager"),
    "request.training": ("ra_manager",),
    # reports (DS17, PP15, DS4): sponsors and lead correspondents see their own organisations only
    "report.read": ("ra_manager", "auditor", "sponsor", "lead_correspondent"),
    "bulk.apply": ("ra_manager",),  # rule DS17: batch updates by the RA manager
    # care-home mailboxes (mailboxes app): the sponsoring organisation's administrators only (rule NM6)
    "mailbox.assess": ("local_administrator",),
    "mailbox.decide": ("local_administrator",),
    "mailbox.manage": ("local_administrator",),
    # lifecycle: closures (PP10), review campaigns (PP6), reinstatement (PP13)
    "organisation.close": ("ra_manager",),
    "review.decide": ("lead_correspondent", "sponsor"),  # narrowed to the campaign's own reviewer
    "review.decide_escalated": ("ra_manager",),
    "reinstatement.check": ("local_administrator", "ra_agent", "ra_manager"),
}

# What a relying service's token may do: ask who a user is and what they may do.
SERVICE_ACTIONS = frozenset({"access.read", "decision.ask", "person.read"})


@dataclass(frozen=True)
class Grant:
    """One live assignment's staff capabilities, and where they apply."""

    assignment_id: int
    position_label: str
    organisation_id: int
    organisation_code: str
    oversees_descendants: bool
    capabilities: frozenset[str]


def capability_codes() -> dict[str, str]:
    return settings.CAREACCESS_STAFF_ACTIVITIES


def grants(person_id: int, assignment_id: int | None = None) -> list[Grant]:
    """The person's live assignments that carry staff capabilities (included activities count):
    one prepared query, as every staff request asks it."""
    from careaccess.directory import live_sql

    by_code = {code: name for name, code in capability_codes().items()}
    rows = sql.fetchall(_grants_sql(assignment_id is not None),
                        [person_id, *([assignment_id] if assignment_id is not None else []),
                         *live_sql.live_params(clock.today())])
    found: dict[int, tuple] = {}
    held: dict[int, set[str]] = {}
    for assignment_id_, label, organisation_id, organisation_code, oversees, code in rows:
        found.setdefault(assignment_id_, (label, organisation_id, organisation_code, bool(oversees)))
        if code in by_code:
            held.setdefault(assignment_id_, set()).add(by_code[code])
    return [Grant(assignment_id=a, position_label=label, organisation_id=org_id, organisation_code=org_code,
                  oversees_descendants=oversees, capabilities=frozenset(held[a]))
            for a, (label, org_id, org_code, oversees) in found.items() if a in held]


@functools.cache
def _grants_sql(one_assignment: bool) -> str:
    from careaccess.directory.live_sql import LIVE_CONDITION, LIVE_JOINS, with_held_activities

    live = f"""
        SELECT a.id, a.starts_on, pos.id AS position_id,
               pos.name || ', ' || o.name || ' (' || o.code || ')' AS label,
               o.id AS organisation_id, o.code AS organisation_code, o.oversees_descendants
        {LIVE_JOINS}
        WHERE a.person_id = %s {"AND a.id = %s" if one_assignment else ""} AND {LIVE_CONDITION}
    """
    return f"""{with_held_activities(live)}
        SELECT live.id, live.label, live.organisation_id, live.organisation_code, live.oversees_descendants, held.code
        FROM live JOIN held ON held.assignment_id = live.id
        ORDER BY live.starts_on, live.id
    """


def covers(grant: Grant, organisation) -> bool:
    """Does the grant apply at the organisation: its own, or one it oversees (None: anywhere)?"""
    if organisation is None or grant.organisation_id == organisation.id:
        return True
    if not grant.oversees_descendants:
        return False
    from careaccess.directory.selectors import ancestors

    return any(parent.id == grant.organisation_id for parent in ancestors(organisation))


def needed(action: str, capabilities: Iterable[str] | None = None) -> frozenset[str]:
    """The capabilities allowing the action, narrowed to `capabilities` when a route or a service
    policy names who may do it (an unknown action: none)."""
    allowed = frozenset(ACTIONS.get(action, ()))
    return allowed if capabilities is None else allowed & frozenset(capabilities)


def _holding_grant(actor: Actor, wanted: frozenset[str], organisation) -> Grant | None:
    if not wanted or actor.kind != "person" or actor.person_id is None:
        return None
    for grant in grants(actor.person_id, actor.assignment_id):
        if grant.capabilities & wanted and covers(grant, organisation):
            return grant
    return None


def find_grant(actor: Actor, action: str, organisation=None, capabilities: Iterable[str] | None = None) -> Grant | None:
    return _holding_grant(actor, needed(action, capabilities), organisation)


def _acting(actor: Actor, grant: Grant) -> Actor:
    return dataclasses.replace(actor, assignment_id=grant.assignment_id, position_label=grant.position_label)


def first_covering(actor: Actor, action: str, organisations: list) -> tuple[Actor, object] | None:
    """The first of `organisations` where the actor may take `action`, with the actor acting in the
    position that allows it there; None when at none. One read of the actor's grants for all of
    them (`can` in a loop reads them once per organisation)."""
    if not organisations:
        return None
    if actor.kind in ("system", "service"):
        return (actor, organisations[0]) if can(actor, action) else None
    wanted = needed(action)
    held = [g for g in grants(actor.person_id, actor.assignment_id) if g.capabilities & wanted] \
        if wanted and actor.kind == "person" and actor.person_id is not None else []
    for organisation in organisations:
        for grant in held:
            if covers(grant, organisation):
                return _acting(actor, grant), organisation
    return None


def holds(actor: Actor, capabilities: Iterable[str], organisation=None) -> bool:
    """Does a person hold one of `capabilities` at the organisation (their own position or one
    overseeing it)? A capability, not an action: the system actor and services hold none."""
    return _holding_grant(actor, frozenset(capabilities), organisation) is not None


def _granted_at(actor: Actor, capabilities: Iterable[str]) -> tuple[set[int], set[int]]:
    """The organisations of a person's grants carrying one of `capabilities`, and those of them that
    oversee their descendants."""
    wanted = set(capabilities)
    ids: set[int] = set()
    overseeing: set[int] = set()
    for grant in grants(actor.person_id, actor.assignment_id):
        if grant.capabilities & wanted:
            ids.add(grant.organisation_id)
            if grant.oversees_descendants:
                overseeing.add(grant.organisation_id)
    return ids, overseeing


def _with_descendants(ids: set[int], overseeing: set[int]) -> set[int]:
    from careaccess.directory.models import Organisation

    ids = set(ids)
    frontier = overseeing
    while frontier:  # one query per level of the organisation tree
        frontier = set(Organisation.objects.filter(parent_id__in=frontier).values_list("id", flat=True)) - ids
        ids |= frontier
    return ids


def covered_organisation_ids(actor: Actor, capabilities: Iterable[str]) -> set[int] | None:
    """The organisations where the actor holds one of `capabilities` (with the descendants of an
    overseeing organisation): the set-based form of `holds`, for filtering lists. None means every
    organisation (the system actor)."""
    if actor.kind == "system":
        return None
    if actor.kind != "person" or actor.person_id is None:
        return set()
    return _with_descendants(*_granted_at(actor, capabilities))


def covered_organisations(actor: Actor, action: str) -> set[int] | None:
    """The ids of the organisations where the actor may take `action`, or None for every one: the
    set form of `can`, for scoping lists (people, reports). None for the system actor, for a relying
    service's own actions (which `can` allows anywhere), and for staff whose positions cover every
    organisation (the registration authority, a national auditor). An unknown action: KeyError."""
    from careaccess.directory.models import Organisation

    wanted = ACTIONS[action]
    if actor.kind == "service":
        return None if action in SERVICE_ACTIONS else set()
    if actor.kind != "person" or actor.person_id is None:
        return covered_organisation_ids(actor, wanted)
    ids, overseeing = _granted_at(actor, wanted)
    # Positions overseeing the root of every tree cover everything (the parent rule allows no
    # cycles): one small query instead of walking every level (20,000 ids nationally).
    if overseeing and not Organisation.objects.filter(parent__isnull=True).exclude(id__in=overseeing).exists():
        return None
    ids = _with_descendants(ids, overseeing)
    if len(ids) >= Organisation.objects.count():
        return None
    return ids


def can(actor: Actor, action: str, organisation=None) -> bool:
    if actor.kind == "system":
        return action in ACTIONS
    if actor.kind == "service":
        return action in SERVICE_ACTIONS
    return find_grant(actor, action, organisation) is not None


def authorise(actor: Actor, action: str, organisation=None, *, capabilities: Iterable[str] | None = None,
              doing: str = "") -> Actor:
    """Allow the action or raise Forbidden. Returns the actor as it acts: in the granting position.
    `capabilities` narrows the action's to those a route or service policy names; `doing` words the
    refusal ("validate requests") where the action's name would not read well."""
    if actor.kind == "system" and action in ACTIONS:
        return actor
    if actor.kind == "service" and action in SERVICE_ACTIONS:
        return actor
    wanted = needed(action, capabilities)
    grant = _holding_grant(actor, wanted, organisation)
    if grant is None:
        where = f" for {organisation.name} ({organisation.code})" if organisation is not None else ""
        roles = " or ".join(sorted(c.replace("_", " ") for c in wanted)) or "a capability nobody has here"
        raise Forbidden(f"{actor.label} may not {doing or action.replace('.', ' ').replace('_', ' ')}{where}: "
                        f"that needs a live position{' there' if organisation is not None else ''} as {roles}")
    return _acting(actor, grant)


def capabilities(actor: Actor) -> dict[str, list[Grant]]:
    """Capability -> the grants carrying it, for pages that list what someone may do."""
    if actor.kind != "person" or actor.person_id is None:
        return {}
    result: dict[str, list[Grant]] = {}
    for grant in grants(actor.person_id, actor.assignment_id):
        for capability in sorted(grant.capabilities):
            result.setdefault(capability, []).append(grant)
    return result


def actor_for_person(person, assignment_id: int | None = None, token_id: int | None = None) -> Actor:
    return Actor(
        kind="person",
        label=f"{person.given_name} {person.family_name} ({person.uid})",
        person_id=person.id,
        person_uid=person.uid,
        assignment_id=assignment_id,
        token_id=token_id,
    )


def actor_for_service(service, token_id: int | None = None) -> Actor:
    return Actor(kind="service", label=f"service {service.code}", service_id=service.id, token_id=token_id)

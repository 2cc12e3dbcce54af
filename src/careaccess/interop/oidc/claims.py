"""Scopes and the claims each releases, modelled on the national RBAC ones (NHS CIS2):

- `openid`: `sub` (the user id), plus the assurance levels (`id_assurance_level`,
  `authentication_assurance_level`).
- `profile` / `nhsperson`: `nhsid_useruid`, `name`, `given_name`, `family_name`, `title`.
- `email`: `email`.
- `associatedorgs`: `nhsid_user_orgs`, the organisations of the person's live assignments.
- `nationalrbacaccess`: `nhsid_nrbac_roles`, one entry per live assignment: `person_roleid` (a
  stable role-profile id, the assignment id), `org_code`, `role_code` (the S:G:R triple),
  `role_name`, `activity_codes`, `activities`.
- `selectedrole`: `selected_roleid`, the assignment the person chose on the role-selection page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from careaccess.core import clock, sql
from careaccess.directory.live_sql import LIVE_CONDITION, LIVE_JOINS, live_params
from careaccess.web.auth import SESSION_AMR

SCOPES = {
    "openid": "your user ID and how you signed in",
    "profile": "your name",
    "nhsperson": "your user ID and name",
    "email": "your email address",
    "associatedorgs": "the organisations you work for",
    "nationalrbacaccess": "your positions: organisation, job role and activities",
    "selectedrole": "the position you choose to act in",
}
ROLE_SCOPES = frozenset({"associatedorgs", "nationalrbacaccess", "selectedrole"})

# Authentication assurance (acr values), from how the web sign-in says the session signed in
# (web.auth.SESSION_AMR). Card and security key are the highest.
ACR_BY_AMR = {
    frozenset({"pwd"}): "urn:careaccess:aal1",
    frozenset({"pwd", "otp"}): "urn:careaccess:aal2",
    frozenset({"sc"}): "urn:careaccess:aal3",
    frozenset({"hwk"}): "urn:careaccess:aal3",
    frozenset({"pwd", "hwk"}): "urn:careaccess:aal3",
}
AAL_BY_ACR = {"urn:careaccess:aal1": 1, "urn:careaccess:aal2": 2, "urn:careaccess:aal3": 3}


@dataclass(frozen=True)
class SignIn:
    """How and when the browser session signed in, as the ID token tells it."""

    amr: list[str]
    acr: str
    auth_time: int


def sign_in_of(session, last_login) -> SignIn:
    amr = list(session.get(SESSION_AMR) or ["pwd"])
    acr = ACR_BY_AMR.get(frozenset(amr), "urn:careaccess:aal3" if {"sc", "hwk"} & set(amr) else "urn:careaccess:aal1")
    return SignIn(amr=amr, acr=acr, auth_time=int((last_login or clock.now()).timestamp()))


@dataclass(frozen=True)
class Subject:
    """The person whose claims are released: their row and their identity assurance level."""

    person_id: int
    uid: str
    title: str
    given_name: str
    family_name: str
    email: str
    assurance_level: int


# The person's columns and the level of their latest identity check (identity.selectors.latest_check).
SUBJECT_COLUMNS = """p.id, p.uid, p.title, p.given_name, p.family_name, p.email,
    COALESCE((SELECT ic.assurance_level FROM identity_identitycheck ic WHERE ic.person_id = p.id
              ORDER BY ic.checked_at DESC, ic.id DESC LIMIT 1), 0)"""
_SUBJECT = f"SELECT {SUBJECT_COLUMNS} FROM directory_person p WHERE p.id = %s"


def subject(person_id: int) -> Subject:
    return Subject(*sql.fetchall(_SUBJECT, [person_id])[0])


@dataclass
class LiveRole:
    """One live assignment as the claims show it (a national RBAC role profile)."""

    assignment_id: int
    org_code: str
    org_name: str
    position_name: str
    roles: dict[str, str] = field(default_factory=dict)  # job role code -> name
    activities: dict[str, str] = field(default_factory=dict)  # activity code -> name

    @property
    def role_code(self) -> str:
        return min(self.roles) if self.roles else ""

    @property
    def role_name(self) -> str:
        return self.roles[self.role_code] if self.roles else self.position_name

    def claim(self) -> dict:
        codes = sorted(self.activities)
        return {"person_roleid": str(self.assignment_id), "org_code": self.org_code, "role_code": self.role_code,
                "role_name": self.role_name, "position_name": self.position_name, "activity_codes": codes,
                "activities": [self.activities[c] for c in codes]}


# A row per live assignment, job role and activity (directory.live_sql's live condition). One
# prepared statement: on PostgreSQL its plan is made once per connection.
_LIVE_ROLES = f"""
    SELECT a.id, o.code, o.name, pos.name, jr.code, jr.name, act.code, act.name
    {LIVE_JOINS}
    LEFT JOIN directory_position_job_roles pj ON pj.position_id = pos.id
    LEFT JOIN directory_jobrole jr ON jr.id = pj.jobrole_id
    LEFT JOIN directory_position_activities pa ON pa.position_id = pos.id
    LEFT JOIN directory_activity act ON act.id = pa.activity_id
    WHERE a.person_id = %s AND {LIVE_CONDITION}
    ORDER BY a.id
"""


def live_roles(person_id: int) -> list[LiveRole]:
    """The person's live assignments with their organisation, job roles and activities, in
    assignment order, from one query."""
    found: dict[int, LiveRole] = {}
    for assignment_id, org_code, org_name, position_name, role_code, role_name, activity_code, activity_name in (
            sql.fetchall(_LIVE_ROLES, [person_id, *live_params(clock.today())])):
        entry = found.setdefault(assignment_id, LiveRole(assignment_id, org_code, org_name, position_name))
        if role_code:
            entry.roles[role_code] = role_name
        if activity_code:
            entry.activities[activity_code] = activity_name
    return list(found.values())


def user_info(person: Subject, scope: str, *, acr: str, selected_assignment_id: int | None) -> dict:
    scopes = set(scope.split())
    info: dict = {"sub": person.uid}
    if "openid" in scopes:
        info["id_assurance_level"] = person.assurance_level
        info["authentication_assurance_level"] = AAL_BY_ACR.get(acr, 1)
    if scopes & {"profile", "nhsperson"}:
        info.update(nhsid_useruid=person.uid, given_name=person.given_name, family_name=person.family_name,
                    name=f"{person.given_name} {person.family_name}")
        if person.title:
            info["title"] = person.title
    if "email" in scopes and person.email:
        info["email"] = person.email
    if scopes & ROLE_SCOPES:
        live = live_roles(person.person_id)
        if "associatedorgs" in scopes:
            orgs = {r.org_code: r.org_name for r in live}
            info["nhsid_user_orgs"] = [{"org_code": c, "org_name": n} for c, n in sorted(orgs.items())]
        if "nationalrbacaccess" in scopes:
            info["nhsid_nrbac_roles"] = [r.claim() for r in live]
        if "selectedrole" in scopes:
            chosen = next((r for r in live if r.assignment_id == selected_assignment_id), None)
            if chosen is None and len(live) == 1:
                chosen = live[0]
            if chosen is not None:
                info["selected_roleid"] = str(chosen.assignment_id)
    return info

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

from careaccess.core import clock
from careaccess.directory.models import Assignment, Person
from careaccess.directory.selectors import live_assignment_filter
from careaccess.identity.selectors import assurance_level
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


def sign_in_method(session) -> tuple[list[str], str]:
    amr = list(session.get(SESSION_AMR) or ["pwd"])
    acr = ACR_BY_AMR.get(frozenset(amr), "urn:careaccess:aal3" if {"sc", "hwk"} & set(amr) else "urn:careaccess:aal1")
    return amr, acr


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


def live_roles(person: Person) -> list[LiveRole]:
    """The person's live assignments with their organisation, job roles and activities, in one
    query (a row per assignment, job role and activity), in assignment order."""
    rows = (
        Assignment.objects.filter(live_assignment_filter(clock.today()), person_id=person.pk)
        .order_by("id")
        .values_list("id", "position__organisation__code", "position__organisation__name", "position__name",
                     "position__job_roles__code", "position__job_roles__name",
                     "position__activities__code", "position__activities__name")
    )
    found: dict[int, LiveRole] = {}
    for assignment_id, org_code, org_name, position_name, role_code, role_name, activity_code, activity_name in rows:
        entry = found.setdefault(assignment_id, LiveRole(assignment_id, org_code, org_name, position_name))
        if role_code:
            entry.roles[role_code] = role_name
        if activity_code:
            entry.activities[activity_code] = activity_name
    return list(found.values())


def user_info(person: Person, scope: str, *, acr: str, selected_assignment_id: int | None) -> dict:
    scopes = set(scope.split())
    info: dict = {"sub": person.uid}
    if "openid" in scopes:
        info["id_assurance_level"] = assurance_level(person)
        info["authentication_assurance_level"] = AAL_BY_ACR.get(acr, 1)
    if scopes & {"profile", "nhsperson"}:
        info.update(nhsid_useruid=person.uid, given_name=person.given_name, family_name=person.family_name,
                    name=f"{person.given_name} {person.family_name}")
        if person.title:
            info["title"] = person.title
    if "email" in scopes and person.email:
        info["email"] = person.email
    if scopes & {"associatedorgs", "nationalrbacaccess", "selectedrole"}:
        live = live_roles(person)
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

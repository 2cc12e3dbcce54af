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

from careaccess.core import clock
from careaccess.directory.models import Assignment, Person
from careaccess.directory.selectors import live_assignment_filter
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


def live_assignments(person: Person) -> list[Assignment]:
    return list(
        Assignment.objects.filter(live_assignment_filter(clock.today()), person=person)
        .select_related("position__organisation")
        .prefetch_related("position__job_roles", "position__activities")
        .order_by("id")
    )


def identity_assurance(person: Person) -> int:
    try:
        from careaccess.identity.selectors import assurance_level
    except ImportError:  # pragma: no cover
        return 0
    return assurance_level(person)


def role_entry(a: Assignment) -> dict:
    roles = sorted(a.position.job_roles.all(), key=lambda r: r.code)
    activities = sorted(a.position.activities.all(), key=lambda act: act.code)
    return {
        "person_roleid": str(a.id),
        "org_code": a.position.organisation.code,
        "role_code": roles[0].code if roles else "",
        "role_name": roles[0].name if roles else a.position.name,
        "position_name": a.position.name,
        "activity_codes": [act.code for act in activities],
        "activities": [act.name for act in activities],
    }


def user_info(person: Person, scope: str, *, acr: str, selected_assignment_id: int | None) -> dict:
    scopes = set(scope.split())
    info: dict = {"sub": person.uid}
    if "openid" in scopes:
        info["id_assurance_level"] = identity_assurance(person)
        info["authentication_assurance_level"] = AAL_BY_ACR.get(acr, 1)
    if scopes & {"profile", "nhsperson"}:
        info.update(nhsid_useruid=person.uid, given_name=person.given_name, family_name=person.family_name,
                    name=f"{person.given_name} {person.family_name}")
        if person.title:
            info["title"] = person.title
    if "email" in scopes and person.email:
        info["email"] = person.email
    if scopes & {"associatedorgs", "nationalrbacaccess", "selectedrole"}:
        live = live_assignments(person)
        if "associatedorgs" in scopes:
            orgs = {a.position.organisation.code: a.position.organisation.name for a in live}
            info["nhsid_user_orgs"] = [{"org_code": c, "org_name": n} for c, n in sorted(orgs.items())]
        if "nationalrbacaccess" in scopes:
            info["nhsid_nrbac_roles"] = [role_entry(a) for a in live]
        if "selectedrole" in scopes:
            chosen = next((a for a in live if a.id == selected_assignment_id), None)
            if chosen is None and len(live) == 1:
                chosen = live[0]
            if chosen is not None:
                info["selected_roleid"] = str(chosen.id)
    return info

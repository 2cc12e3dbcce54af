"""Access decisions for relying services (`POST /api/v1/decisions`), answered in one query.

`decide_lean` gives exactly the answers, reasons and granting assignment of `selectors.decide`
(a property test compares them on random directories), but reads the person's live assignments
with every code they carry, included activities resolved, in one prepared query: the endpoint's
budget is 2 ms at the median over HTTP. The live-assignment condition is directory.live_sql's. The person is read only
when nothing is live, to tell "unknown" from "no access".
"""

from __future__ import annotations

import datetime as dt

from careaccess.core import clock, sql
from careaccess.core.errors import NotFound

from . import rules, selectors
from .live_sql import LIVE_CONDITION, LIVE_JOINS, live_params, with_held_activities
from .models import Person

_LIVE = f"""
    SELECT a.id, a.starts_on, pos.id AS position_id, pos.name, o.code AS organisation
    {LIVE_JOINS}
    WHERE p.uid = %s AND {LIVE_CONDITION}
"""
# Each live assignment with every activity it holds, included ones too.
_WITH_ACTIVITIES = f"""{with_held_activities(_LIVE)}
    SELECT live.id, live.name, live.organisation, held.code
    FROM live LEFT JOIN held ON held.assignment_id = live.id
    ORDER BY live.starts_on, live.id
"""
_WITH_SERVICE_ROLES = f"""
    WITH live AS ({_LIVE})
    SELECT live.id, live.name, live.organisation, s.code || ':' || sr.code
    FROM live
    LEFT JOIN directory_position_service_roles psr ON psr.position_id = live.position_id
    LEFT JOIN directory_servicerole sr ON sr.id = psr.servicerole_id
    LEFT JOIN directory_service s ON s.id = sr.service_id
    ORDER BY live.starts_on, live.id
"""


def decide_lean(uid: str, *, activity: str | None = None, service_role: str | None = None,
                organisation_code: str | None = None, at: dt.datetime | None = None) -> selectors.Decision:
    at = at or clock.now()
    on = at.astimezone(clock.local_zone()).date()
    rows = sql.fetchall(_WITH_ACTIVITIES if activity else _WITH_SERVICE_ROLES, [uid, *live_params(on)])
    assignments: dict[int, tuple[str, str, set[str]]] = {}
    for assignment_id, position, organisation, code in rows:
        held = assignments.setdefault(assignment_id, (position, organisation, set()))[2]
        if code:
            held.add(code)
    if not assignments:
        if not rules.is_user_id(uid) or not Person.objects.filter(uid=uid).exists():
            raise NotFound(f"no person has the user id {uid}")
        return selectors.Decision(False, f"{uid} has no live assignment at {at.isoformat()}")
    candidates = [(a, *v) for a, v in assignments.items() if organisation_code in (None, v[1])]
    if not candidates:
        return selectors.Decision(False, f"{uid} holds no live position at organisation {organisation_code}")
    wanted = activity or service_role
    for assignment_id, position, org, held in candidates:
        if wanted in held:
            return selectors.Decision(
                True, f"allowed by assignment {assignment_id}: position '{position}' at {org}", assignment_id, position, org,
            )
    where = f" at {organisation_code}" if organisation_code else ""
    kind = "activity" if activity else "service role"
    return selectors.Decision(False, f"no live position of {uid}{where} carries {kind} {wanted}")

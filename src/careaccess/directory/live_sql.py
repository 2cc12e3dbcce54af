"""`selectors.live_assignment_filter` written as SQL, for the hot paths that read live assignments
with one prepared query instead of the ORM (decisions, staff permissions, SCIM and OIDC claims):
building the ORM query cost more CPU than the database spent answering it. Keep the two together:
interop/tests/test_scim_reads.py compares them case by case, and directory's decision property test
and core's permission tests compare the callers with their ORM forms.

Aliases: `a` assignment, `p` person, `pos` position, `o` organisation. The condition takes the day
three times (`live_params`).
"""

from __future__ import annotations

import datetime as dt

from careaccess.core import sql

LIVE_JOINS = """
    FROM directory_assignment a
    JOIN directory_person p ON p.id = a.person_id
    JOIN directory_position pos ON pos.id = a.position_id
    JOIN directory_organisation o ON o.id = pos.organisation_id
"""

LIVE_CONDITION = """
    p.status = 'active' AND pos.status = 'active'
    AND a.state = 'active' AND a.starts_on <= %s AND (a.ends_on IS NULL OR a.ends_on >= %s)
    AND (o.status = 'active' OR (o.status = 'closing' AND o.closes_on > %s))
"""


def live_params(on: dt.date) -> list:
    day = sql.date_param(on)
    return [day, day, day]


def with_held_activities(live: str) -> str:
    """A query of `live`'s rows (it must select the assignment as `id` and `position_id`), each
    joined to every activity code its position holds, included ones too, as `held.code` (UNION
    stops at inclusion cycles). Use it as `{with_held_activities(live)} SELECT ... FROM live JOIN
    held ON held.assignment_id = live.id`."""
    return f"""
    WITH RECURSIVE live AS ({live}),
    held (assignment_id, code) AS (
        SELECT live.id, act.code FROM live
        JOIN directory_position_activities pa ON pa.position_id = live.position_id
        JOIN directory_activity act ON act.id = pa.activity_id
        UNION
        SELECT held.assignment_id, included.code FROM held
        JOIN directory_activity holder ON holder.code = held.code
        JOIN directory_activity_includes inc ON inc.from_activity_id = holder.id
        JOIN directory_activity included ON included.id = inc.to_activity_id
    )
    """

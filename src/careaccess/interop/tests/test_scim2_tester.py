"""The scim2-tester compliance checks, run against a live server."""

from __future__ import annotations

import random

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

from .conftest import make_world

pytestmark = pytest.mark.django_db(transaction=True)

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
POSITION = "urn:careaccess:params:scim:schemas:extension:position:2.0:Group"
# (resource type, check, fragment of the reason) -> why careaccess answers differently on purpose.
ALLOWED_FAILURES = {
    # The extensions hold only read-only attributes derived from live assignments (the user's
    # organisation, the position's organisation and codes). The tester PATCHes the whole extension
    # with an empty value and expects it back empty, or removes it; careaccess keeps the derived values.
    **{("User", check, f"'{ENTERPRISE}'"): "read-only, derived extension"
       for check in ("check_add_attribute", "check_replace_attribute", "check_remove_attribute")},
    **{("Group", check, f"'{POSITION}'"): "read-only, derived extension"
       for check in ("check_add_attribute", "check_replace_attribute", "check_remove_attribute")},
    # A person is always active or suspended: `remove active` is refused (mutability); clients set
    # active to false to suspend, or DELETE the User when the person leaves.
    ("User", "check_remove_attribute", "'active'"): "a person always has a status",
}


def allowed(result) -> bool:
    return any(result.resource_type == kind and result.title == check and fragment in (result.reason or "")
               for kind, check, fragment in ALLOWED_FAILURES)


def test_scim2_tester_checks_pass(live_server):
    random.seed(8)  # the tester fills attributes with random values: the same ones on every run
    world = make_world()
    with httpx2.Client(base_url=f"{live_server.url}/scim/v2",
                      headers={"Authorization": f"Bearer {world.manager_token}"}, timeout=30) as http:
        client = SyncSCIMClient(http)
        results = check_server(client)
    failures = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL) and not allowed(r)]
    report = "\n".join(f"{r.resource_type} {r.title}: {r.reason}" for r in failures)
    assert not failures, report
    passed = [r for r in results if r.status == Status.SUCCESS]
    assert len(passed) >= 40, f"only {len(passed)} checks passed"
    # every allowance is still needed: a fixed deviation must be removed from the list
    deviations = {(r.resource_type, r.title) for r in results if r.status == Status.ERROR and allowed(r)}
    assert deviations == {(kind, check) for kind, check, _ in ALLOWED_FAILURES}

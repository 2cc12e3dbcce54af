"""The decisions view ahead of the API (careaccess.api.decisions) answers exactly what the documented
ninja operation answers, and leaves it every call that is not well-formed (rule SC8: access only
through live positions, asked by relying services)."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from careaccess.api import decisions
from careaccess.api.testing import SYSTEM, ledger_size, world  # noqa: F401
from careaccess.directory import services
from careaccess.directory import testing as build

pytestmark = pytest.mark.django_db

factory = RequestFactory()


@pytest.fixture
def doctor(world):
    position = services.create_position(SYSTEM, world.practice, name="GP", activities=["B0825"],
                                        service_roles=["care-portal:care-professional"])
    person = build.person("Dana", "Doctor")
    services.create_assignment(SYSTEM, person, position)
    return person


def post(client, body, method="POST"):
    data = body if isinstance(body, str) else json.dumps(body)
    return factory.generic(method, "/api/v1/decisions", data, content_type="application/json", headers=client.headers)


def both(client, body, method="POST"):
    """The response of the view ahead of the API and of the documented operation, to the same call."""
    fast, documented = decisions.decide(post(client, body, method)), decisions._operation(post(client, body, method))
    assert (fast.status_code, fast["Content-Type"], fast.content) == (
        documented.status_code, documented["Content-Type"], documented.content)
    return fast.status_code, json.loads(fast.content) if fast.content.startswith(b"{") else fast.content


def test_well_formed_calls_are_answered_ahead_of_the_api_with_the_same_document(world, doctor, monkeypatch):
    cases = [
        (world.portal_client, {"uid": doctor.uid, "activity": "b0820"}, 200),  # held through B0825's inclusion
        (world.portal_client, {"uid": doctor.uid, "service": "care-portal", "role": "care-professional"}, 200),
        (world.portal_client, {"uid": doctor.uid, "activity": "B0820", "organisation": "FA123"}, 200),
        (world.portal_client, {"uid": doctor.uid, "activity": "B0820", "at": "2020-01-01T00:00:00Z"}, 200),
        (world.portal_client, {"uid": "999999999999", "activity": "B0820"}, 404),
        (world.portal_client, {"uid": doctor.uid, "activity": "B0820", "service": "care-portal"}, 422),
        (world.clerk, {"uid": doctor.uid, "activity": "B0820"}, 403),
    ]
    answers = [both(client, body) for client, body, _ in cases]
    assert [status for status, _ in answers] == [status for _, _, status in cases]
    assert answers[0][1]["allowed"] is True and answers[1][1]["allowed"] is True
    assert answers[2][1]["allowed"] is False and answers[3][1]["allowed"] is False
    assert answers[5][1]["errors"]["activity"] and answers[6][1]["title"] == "Forbidden"

    def not_here(request):
        raise AssertionError("a well-formed call went to the documented operation")

    monkeypatch.setattr(decisions, "_operation", not_here)
    before = ledger_size()
    for client, body, status in cases:
        assert decisions.decide(post(client, body)).status_code == status
    assert ledger_size() == before  # decisions are not audited


def test_other_calls_go_to_the_documented_operation(world, doctor):
    unauthenticated = type(world.portal_client)()
    assert both(unauthenticated, {"uid": doctor.uid, "activity": "B0820"})[0] == 401
    assert both(type(world.portal_client)("ca_00000000_unknown"), {"uid": doctor.uid, "activity": "B0820"})[0] == 401
    assert both(type(world.portal_client)(raw_authorization="Basic eDp5"), {"uid": doctor.uid, "activity": "B0820"})[0] == 401
    assert both(world.portal_client, "{not json")[0] == 400
    status, body = both(world.portal_client, {"activity": "B0820", "shoe_size": 9})
    assert status == 422 and {"uid", "shoe_size"} <= set(body["errors"])
    assert both(world.portal_client, {"uid": doctor.uid, "activity": "B0820"}, method="GET")[0] == 405
    assert both(world.portal_client, {"uid": doctor.uid, "activity": "B0820"}, method="PUT")[0] == 405

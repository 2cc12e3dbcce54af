"""A request's page says who may take the next step when the viewer may not (CC1, CC6, CC7)."""

from __future__ import annotations

import pytest

from careaccess.access_requests import next_step, services

from .conftest import CONFIRMED, walk
from .test_pages import login, squash
from .test_separation import new_user

pytestmark = pytest.mark.django_db


def test_each_step_names_who_takes_it(client, world):
    req = new_user(world, world.trust)  # a trust with a service desk (CC6)
    assert next_step.waiting_for(req).startswith("Waiting for the person who raised it (ReqRR8 Uester")
    req = walk(world, world.trust, req, until="submitted")
    assert next_step.waiting_for(req) == "Waiting for the service desk at Organisation RR8 (RR8) to validate it"
    req = services.validate(world.trust.validator, req, version=req.version, ticket_reference="TD-1")
    assert next_step.waiting_for(req) == "Waiting for an authoriser at Organisation RR8 (RR8) to approve it"

    login(client, world.trust.requester)  # may withdraw, may not approve
    page = squash(client.get(f"/requests/{req.reference}"))
    assert 'id="waiting">Waiting for an authoriser at Organisation RR8 (RR8) to approve it.' in page
    assert "Withdraw" in page
    login(client, world.trust.approver)  # takes the step: no waiting line
    page = squash(client.get(f"/requests/{req.reference}"))
    assert 'id="form-approve"' in page and 'id="waiting"' not in page

    req = services.approve(world.trust.approver, req, version=req.version, confirmations=CONFIRMED)
    assert next_step.waiting_for(req) == ("Waiting for an RA agent, trained to action Connecting Care requests, "
                                          "to action it")
    login(client, world.trust.requester)
    assert "Waiting for an RA agent, trained to action Connecting Care requests" in squash(
        client.get(f"/requests/{req.reference}"))

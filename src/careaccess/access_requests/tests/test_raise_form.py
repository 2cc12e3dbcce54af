"""The new-user form, as a sponsor meets it: only the positions that give a role on the chosen
service are offered, with the roles they give (rule SC8: access only through positions); when none
does, the page says so and what to do; a refused pair is explained in the sponsor's words."""

from __future__ import annotations

import re

import pytest

from careaccess.directory import services as directory
from careaccess.directory import testing

from .conftest import ledger_size
from .test_pages import login, new_user_form, squash, summary_of

pytestmark = pytest.mark.django_db


def options(page: str, name: str) -> list[str]:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no {name} select"
    return [text.strip() for text in re.findall(r"<option[^>]*>(.*?)</option>", select.group(1), re.S)]


def test_only_positions_giving_a_role_on_the_service_are_offered_with_their_roles(client, world):  # SC8
    login(client, world.gp.requester)
    page = squash(client.get("/requests/new/new_user?organisation=B86001&service=connecting-care"))
    assert options(page, "position") == ["Select a position", "Clinician (gives: Care Professional)",
                                         "Receptionist (gives: Administrator)"]
    assert options(page, "service_role") == ["Select a role", "Administrator", "Care Professional"]
    assert 'id="no-position"' not in page


def test_when_no_position_gives_a_role_the_page_says_what_to_do(client, world):  # SC8
    directory.create_service(testing.SYSTEM, code="smartcard", name="Smartcard access", allowed_purposes=["direct care"],
                             approver_kind="sponsor", sla_days=5, roles=[{"code": "card-holder", "name": "Card holder"}])
    login(client, world.gp.requester)
    page = squash(client.get("/requests/new/new_user?organisation=B86001&service=smartcard"))
    assert 'id="no-position"' in page and "<form method=\"post\" action=\"/requests/new/new_user\"" not in page
    assert "No position at" in page and "gives a role on Smartcard access" in page
    assert "Ask your registration authority (RA) to set up a position" in page


def test_a_refused_pair_is_explained_in_words(client, world):  # SC8
    login(client, world.gp.requester)
    before = ledger_size()
    response = client.post("/requests/new/new_user", new_user_form(
        world, world.gp, position=str(world.gp.admin.pk), service_role="care-professional"))
    summary = summary_of(squash(response))
    assert ("The position Receptionist does not give the Care Professional role on Connecting Care: choose a position "
            "that gives it, or ask your RA to set one up (access comes only through positions, rule SC8)") in summary
    assert "connecting-care:care-professional" not in summary and ledger_size() == before

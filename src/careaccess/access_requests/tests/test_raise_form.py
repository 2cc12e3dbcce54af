"""The new-user form, as a sponsor meets it: only the positions that give a role on the chosen
service are offered, with the roles they give (rule SC8: access only through positions); when none
does, the page says so and what to do; a refused pair is explained in the sponsor's words."""

from __future__ import annotations

import re
from html import unescape

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


def test_get_on_a_request_action_address_goes_to_the_request_page(client, world):
    from careaccess.access_requests import services

    from .test_pages import raise_new_user

    req = raise_new_user(world, world.gp)
    req = services.submit(world.gp.requester, req, version=req.version)
    login(client, world.gp.validator)
    for action in ("reject", "approve", "validate", "fulfil", "evidence"):
        response = client.get(f"/requests/{req.reference}/{action}")
        assert response.status_code == 302 and response.url == f"/requests/{req.reference}", action
    assert client.get(f"/requests/{req.reference}/no-such-action").status_code == 404
    before = ledger_size()
    response = client.post(f"/requests/{req.reference}/reject", {"reject-version": str(req.version),
                                                                  "reject-reason": ""})
    assert "Say why the request is rejected" in summary_of(squash(response)) and ledger_size() == before
    assert client.get(f"/requests/{req.reference}/reject").url == f"/requests/{req.reference}"


def test_the_queue_page_links_raise_a_request_only_for_those_who_may_raise(client, world):
    auditor = testing.staff(world.icb, "auditor", given_name="Aud", family_name="Itor")
    login(client, auditor)
    page = squash(client.get("/requests/"))
    assert 'href="/requests/new"' not in page and client.get("/requests/new").status_code == 403
    login(client, world.gp.requester)
    assert 'href="/requests/new"' in squash(client.get("/requests/"))


def test_an_empty_new_user_form_names_each_field_and_its_fix(client, world):  # SC4
    login(client, world.gp.requester)
    data = {k: "" for k in new_user_form(world, world.gp)}
    data.update({"organisation": "B86001", "service": "connecting-care", "temporary": "no"})
    before = ledger_size()
    summary = unescape(summary_of(squash(client.post("/requests/new/new_user", data))))
    for message in ("Enter the person's given name (first name)", "Enter the person's family name (surname)",
                    "Enter the person's date of birth", "Enter the National Insurance number",
                    "Select the position the person will have at Organisation B86001",
                    "Select the role on Connecting Care the person needs"):
        assert message in summary, message
    assert summary.index("date of birth") < summary.index("National Insurance") < summary.index("position")  # page order
    for raw in ("Enter a value", "YYYY-MM-DD", "its id or its name"):
        assert raw not in summary, raw
    assert ledger_size() == before


def test_every_problem_is_reported_at_once_not_in_rounds(client, world):  # SC4, PP2
    login(client, world.gp.requester)
    before = ledger_size()
    summary = unescape(summary_of(squash(client.post("/requests/new/new_user", new_user_form(
        world, world.gp, date_of_birth_day="31", date_of_birth_month="2", ni_number="nonsense",
        email="Info@riversidepharmacy.example", phone="")))))
    assert "Date of birth must be a real date" in summary
    assert "National Insurance" in summary and "Enter a contact telephone number" in summary
    assert "The address info@riversidepharmacy.example looks like a generic or shared address" in summary  # PP2
    assert ledger_size() == before


def test_a_change_of_name_without_a_person_asks_for_the_user_id(client, world):
    login(client, world.gp.requester)
    summary = unescape(summary_of(squash(client.post("/requests/new/change_of_name", {
        "organisation": "B86001", "person": "", "given_name": "", "family_name": "Wright-Patel"}))))
    assert "Enter the person's 12-digit user ID" in summary and "None" not in summary
    assert "Enter the person's given name (first name)" in summary


def test_approval_problems_are_in_a_sponsors_words(world, clock):  # CC9, PP1
    import datetime as dt

    from careaccess.access_requests import services
    from careaccess.core.errors import InvalidInput

    from .conftest import walk
    from .test_separation import new_user

    req = walk(world, world.gp, new_user(world, world.gp), until="validated")
    with pytest.raises(InvalidInput) as caught:
        services.approve(world.gp.approver, req, version=req.version, confirmations=services.Confirmations(
            least_role=False, told_not_to_view_own_records=True, ig_training_on=dt.date(2020, 3, 1)))
    errors = caught.value.errors
    assert errors["least_role"].endswith("(rules CC9, PP1)") and "smallest one" in errors["least_role"]
    assert errors["ig_training_on"].startswith("the user's IG training, completed on 1 March 2020, is out of date")
    assert "in the last year" in errors["ig_training_on"] and "2020-03-01" not in errors["ig_training_on"]

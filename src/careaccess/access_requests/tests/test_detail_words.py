"""A request's page in its readers' words: names not codes, one date style ("1 December 2026"),
no placeholder values (rule CC5 titles)."""

from __future__ import annotations

import re

import pytest

from careaccess.access_requests import services
from careaccess.directory import services as directory
from careaccess.directory import testing

from .conftest import walk
from .test_pages import login, raise_new_user, squash

pytestmark = pytest.mark.django_db


def rows(page: str, table_id: str) -> dict[str, str]:
    table = page[page.index(f'id="{table_id}"'):]
    table = table[:table.index("</dl>")]
    pairs = re.findall(r'<dt class="nhsuk-summary-list__key">\s*(.*?)\s*</dt>\s*<dd class="nhsuk-summary-list__value">'
                       r'\s*(.*?)\s*</dd>', table, re.S)
    return {key: value for key, value in pairs}


def test_a_new_user_request_shows_names_and_long_dates(client, world):
    req = walk(world, world.gp, raise_new_user(world, world.gp), until="approved")
    login(client, world.gp.requester)
    page = squash(client.get(f"/requests/{req.reference}"))
    details = rows(page, "details")
    assert details["Date of birth"] == "2 April 1985" and details["Role on the service"] == "Care Professional"
    assert "care-professional" not in page and "1985-04-02" not in page and "2026-03-01" not in page
    assert "Information governance (IG) training completed" in page and "1 March 2026" in page
    assert re.fullmatch(r"[1-9]\d? [A-Z][a-z]+ 2026 at \d\d:\d\d", rows(page, "summary")["Raised"])


def test_a_request_about_no_service_says_so_and_shows_the_new_name(client, world):
    person = testing.person(given_name="Laura", family_name="Wright")
    directory.create_assignment(testing.SYSTEM, person, world.gp.clinician)
    req = services.raise_request(world.gp.requester, kind="change_of_name", organisation=world.gp.organisation,
                                 details={"person": person.uid, "title": "", "given_name": "Laura",
                                          "family_name": "Wright-Patel"})
    assert req.title == "Change of name: Laura Wright-Patel"  # CC5, about no service account
    login(client, world.gp.requester)
    page = squash(client.get(f"/requests/{req.reference}"))
    assert rows(page, "summary")["Service"] == "Not about a service account"
    details = rows(page, "details")
    assert details["New name"] == "Laura Wright-Patel" and details["Name now"] == "Laura Wright"
    assert "title:" not in page and "careaccess change" not in page

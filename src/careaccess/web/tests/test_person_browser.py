"""Finding a person and reading their page in Chromium: an RA manager from the home page, with
JavaScript on, and a sponsor with JavaScript off who meets the error summary and then is "not
found" for a person of another practice (rules SC8, DS15)."""

from pathlib import Path

import pytest

from careaccess.core.audit.models import Entry

from .conftest import PASSWORD, organisation, person, place, staff_catalogue

pytestmark = pytest.mark.browser

SCREENSHOTS = Path("/tmp")


@pytest.fixture
def practices(transactional_db, clock):
    staff_catalogue()
    icb = organisation("QWO", name="West Yorkshire ICB", kind="icb", oversees_descendants=True)
    riverside = organisation("A81001", name="Riverside Surgery", parent="QWO")
    hillside = organisation("B82002", name="Hillside Surgery", parent="QWO")
    people = {"manager": person("Manny", "Manager"), "sponsor": person("Sam", "Sponsor"),
              "xena": person("Xena", "Taylor"), "yuri": person("Yuri", "Taylor"), "lou": person("Lou", "Locum")}
    place(people["manager"], icb, "RA manager", "ra_manager")
    place(people["sponsor"], riverside, "Practice manager", "sponsor")
    place(people["xena"], riverside, "Receptionist")
    place(people["yuri"], hillside, "Receptionist")
    place(people["lou"], riverside, "Locum GP")
    place(people["lou"], hillside, "Locum GP")
    return people


def sign_in(page, base, who, next_url="/"):
    page.goto(f"{base}/sign-in?next={next_url}")
    page.fill("#username", who.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}{next_url}")


def test_an_ra_manager_finds_a_locum_from_the_home_page(live_server, page, practices):
    base, lou = live_server.url, practices["lou"]
    failed = []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    sign_in(page, base, practices["manager"])
    page.click("a:has-text('Look up people')")
    page.wait_for_url(f"{base}/people")
    assert page.locator("h1").inner_text() == "Find a person"
    page.fill("#q", "locum")
    page.click("button:has-text('Search')")
    page.wait_for_url(f"{base}/people?q=locum")
    table = page.locator("table")
    assert "Locum GP, Riverside Surgery (A81001)" in table.inner_text()
    assert "Locum GP, Hillside Surgery (B82002)" in table.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "web-people-search.png"), full_page=True)

    page.click("a:has-text('Lou Locum')")
    page.wait_for_url(f"{base}/people/{lou.uid}")
    assert "Lou Locum" in page.locator("h1").inner_text()
    assert page.locator("h2#positions").is_visible()
    positions = page.locator("table").first.inner_text()
    assert "Riverside Surgery (A81001)" in positions and "Hillside Surgery (B82002)" in positions  # rule DS15
    actions = page.locator("ul[aria-labelledby='actions']").inner_text()
    assert "See the audit entries about them" in actions
    assert "Remove a lost authenticator app or security key" in actions
    page.screenshot(path=str(SCREENSHOTS / "web-person.png"), full_page=True)
    assert not failed, f"requests failed: {failed}"

    page.click("a:has-text('See the audit entries about them')")
    page.wait_for_url(f"{base}/audit/?person={lou.uid}")
    assert "person.viewed" in page.locator("table").inner_text()
    assert Entry.objects.filter(action="person.viewed", person_uid=lou.uid).count() == 1


def test_a_sponsor_without_javascript_sees_errors_and_only_their_practice(live_server, new_page, practices):
    base = live_server.url
    page = new_page(java_script_enabled=False)
    sign_in(page, base, practices["sponsor"], "/people")
    page.click("button:has-text('Search')")
    assert page.title() == "Error: Find a person – careaccess"
    assert "Enter a user ID, a name or an email address" in page.locator(".nhsuk-error-summary").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "web-people-error.png"), full_page=True)

    page.fill("#q", "Taylor")
    page.click("button:has-text('Search')")
    listed = page.locator("table").inner_text()
    assert "Xena Taylor" in listed and "Yuri Taylor" not in listed  # rule SC8

    response = page.goto(f"{base}/people/{practices['yuri'].uid}")
    assert response.status == 404 and page.locator("h1").inner_text() == "Page not found"

"""The shell in a real browser: Debian's Chromium driven by Playwright against the live server."""

from pathlib import Path

import pytest

from .conftest import PASSWORD, organisation, person, place

SCREENSHOT = Path("/tmp/web-home.png")

pytestmark = pytest.mark.browser


def test_sign_in_and_see_home(live_server, page, transactional_db):
    from careaccess.web.tests.conftest import staff_catalogue

    staff_catalogue()
    who = person("Priya", "Patel")
    place(who, organisation("A81001", name="Riverside Surgery"), "Practice manager", "sponsor")
    failed, requested = [], []
    page.on("response", lambda response: failed.append(response.url) if response.status >= 400 else None)
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{live_server.url}/")
    assert page.url.startswith(f"{live_server.url}/sign-in")
    # NHS.UK frontend's JavaScript started: the password input's "Show" button appears.
    page.locator(".nhsuk-password-input__toggle").wait_for(state="visible")
    page.fill("#username", who.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}/")

    header = page.locator("header.nhsuk-header")
    assert "careaccess" in header.inner_text()
    assert "Priya Patel" in header.inner_text()
    assert "Acting as Practice manager, Riverside Surgery (A81001)" in header.inner_text()
    assert page.locator("h2#capability-sponsor").inner_text() == "Sponsor"
    # The NHS.UK stylesheet loaded: the header is NHS blue and the font is Frutiger's fallback stack.
    background = page.evaluate("getComputedStyle(document.querySelector('.nhsuk-header')).backgroundColor")
    assert background == "rgb(0, 94, 184)"
    assert not failed, f"requests failed: {failed}"
    # The pages ask no other host for anything: no web fonts from assets.nhs.uk by default.
    assert requested and all(url.startswith(f"{live_server.url}/") for url in requested), requested
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # Sign out through the header's form (POST with the CSRF token).
    page.click("button.nhsuk-header__account-button:has-text('Sign out')")
    page.wait_for_url(f"{live_server.url}/sign-in")
    assert page.locator("h1").inner_text() == "Sign in to careaccess"


def test_pages_work_without_javascript(live_server, new_page, transactional_db):
    from careaccess.web.tests.conftest import staff_catalogue

    staff_catalogue()
    who = person("Jo", "Nojs")
    practice = organisation("B82002", name="Hillside Surgery")
    place(who, practice, "Practice manager", "sponsor")
    place(who, organisation("C83003", name="Moorside Surgery"), "Authoriser", "authoriser")

    page = new_page(java_script_enabled=False)
    page.goto(f"{live_server.url}/sign-in")
    page.click("button:has-text('Sign in')")
    assert page.title() == "Error: Sign in – careaccess"
    summary = page.locator(".nhsuk-error-summary")
    assert "Enter your user ID or email address" in summary.inner_text()
    assert "Enter your password" in summary.inner_text()
    page.screenshot(path="/tmp/web-signin-error.png", full_page=True)

    page.fill("#username", who.email)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    assert page.locator("h1").inner_text() == "Choose the position you act in"
    page.check("text=Authoriser, Moorside Surgery (C83003)")
    page.click("button:has-text('Continue')")
    assert page.url == f"{live_server.url}/"
    assert "Acting as Authoriser, Moorside Surgery (C83003)" in page.locator("header").inner_text()
    page.click("button:has-text('Sign out')")
    assert page.url == f"{live_server.url}/sign-in"


def test_every_home_item_of_a_sponsor_leads_somewhere_in_the_browser(live_server, page, transactional_db):
    from careaccess.web.tests.conftest import staff_catalogue

    staff_catalogue()
    who = person("Sol", "Sponsor")
    place(who, organisation("A81002", name="Hillside Surgery"), "Practice manager", "sponsor")
    page.goto(f"{live_server.url}/sign-in")
    page.fill("#username", who.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}/")
    items = page.locator("section#sponsor li")
    assert items.count() > 10
    hrefs = []
    for item in items.all():
        link = item.locator("a")
        if link.count():
            hrefs.append(link.get_attribute("href"))
        else:  # no page: it says where it is done
            assert "through the API: " in item.inner_text() or "ask the operator" in item.inner_text(), item.inner_text()
    assert "/account/cards" in hrefs  # Unlock smartcards and the other card actions: find the holder first
    for href in dict.fromkeys(hrefs):
        response = page.goto(f"{live_server.url}{href}")
        assert response.status == 200, href

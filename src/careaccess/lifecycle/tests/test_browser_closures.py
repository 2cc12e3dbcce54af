"""An RA manager records a planned closure in a real browser with JavaScript off (rule PP10): from the
home page's menu, through the error summary and the confirmation step, to the closure's page."""

import datetime as dt

import pytest

from careaccess.directory.models import Organisation
from careaccess.lifecycle.models import Closure

from .conftest import person_of
from .test_pages import PASSWORD, give_sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _fast_hashers(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]


def test_pp10_ra_manager_records_a_planned_closure_in_the_browser(transactional_db, live_server, world, clock,
                                                                   new_page):
    world.user(world.provider, given_name="Pat", family_name="Closing")
    manager = person_of(world.ra_manager)
    give_sign_in(manager)
    closing_on = clock.today() + dt.timedelta(days=30)
    yesterday = clock.today() - dt.timedelta(days=1)

    page = new_page(java_script_enabled=False)
    page.goto(f"{live_server.url}/sign-in")
    page.fill("#username", manager.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.click("a:has-text(\"Record an organisation's closure\")")
    assert page.locator("h1").inner_text() == "Record an organisation's closure"

    # A planned closure dated yesterday: refused, the error summary links to the date.
    page.fill("#organisation", "VN123")
    page.check("#kind")
    page.fill("#on_day", str(yesterday.day))
    page.fill("#on_month", str(yesterday.month))
    page.fill("#on_year", str(yesterday.year))
    page.fill("#confirmation", "Registered manager, letter of 2 March")
    page.click("button:has-text('Continue')")
    assert page.title().startswith("Error: ")
    summary = page.locator(".nhsuk-error-summary")
    assert "cannot be dated in the past" in summary.inner_text()
    assert summary.locator("a").first.get_attribute("href") == "#on_day"
    assert Closure.objects.count() == 0

    page.fill("#on_day", str(closing_on.day))
    page.fill("#on_month", str(closing_on.month))
    page.fill("#on_year", str(closing_on.year))
    page.click("button:has-text('Continue')")
    impact = page.locator("#impact").inner_text()
    assert "2 assignments at" in impact and "1 account of people with no position elsewhere" in impact
    assert Closure.objects.count() == 0
    page.click("button:has-text('Record the closure')")
    page.wait_for_url(f"{live_server.url}/lifecycle/closures/*")
    assert "Scheduled for the closing date" in page.locator("#closure").inner_text()
    page.screenshot(path="/tmp/lifecycle-closure.png", full_page=True)

    closure = Closure.objects.get()
    assert closure.closes_on == closing_on and not closure.sudden
    assert Organisation.objects.get(pk=world.provider.pk).status == Organisation.Status.CLOSING

"""An RA agent removes a person's lost authenticator app in Chromium with JavaScript off: find the
person, open their sign-in security, submit the form empty (the error summary names each field),
then with the person present, their photo ID and a reason (rules DS3, DS5)."""

import pytest

from careaccess.core.audit.models import Entry
from careaccess.credentials import authenticators
from careaccess.credentials.tests.test_removal import enrol_app
from careaccess.web.tests.conftest import PASSWORD, organisation, person, place, staff_catalogue

pytestmark = pytest.mark.browser


def test_an_ra_agent_removes_a_lost_authenticator_app(live_server, new_page, transactional_db, settings, clock):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]
    staff_catalogue()
    organisation("QWO", name="Wessex ICB", kind="icb", oversees_descendants=True)
    practice = organisation("B86001", name="Riverside Surgery", parent="QWO")
    agent, holder = person("Rita", "Agent"), person("Sam", "Sponsor")
    place(agent, organisation("QWO"), "RA agent", "ra_agent")
    place(holder, practice, "Practice manager", "sponsor")
    enrol_app(holder, clock)
    page, base = new_page(java_script_enabled=False), live_server.url

    page.goto(f"{base}/sign-in?next=/account/people")
    page.fill("#username", agent.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/account/people")
    page.fill("#uid", holder.uid)
    page.click("button:has-text('Find')")
    page.wait_for_url(f"{base}/account/people/{holder.uid}/authenticators")
    assert "Sign-in security of Sam Sponsor" in page.locator("h1").inner_text()
    page.click("a:has-text('Remove')")
    page.wait_for_url(f"{base}/account/people/{holder.uid}/authenticators/app-*/remove")

    page.click("button:has-text('Remove Authenticator app')")
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible() and page.title().startswith("Error: ")
    assert [link.get_attribute("href") for link in summary.locator("a").all()] == ["#id_document", "#in_person", "#reason"]
    assert authenticators.confirmed_device(holder) is not None  # nothing changed

    page.check("#id_document")  # the first photo ID listed
    page.check("#in_person")
    page.fill("#reason", "phone lost on the bus")
    page.click("button:has-text('Remove Authenticator app')")
    page.wait_for_url(f"{base}/account/people/{holder.uid}/authenticators?removed=*")
    assert "Authenticator app was removed" in page.locator("#removed").inner_text()
    assert "has no authenticator app or security key" in page.locator("#none").inner_text()
    assert authenticators.confirmed_device(holder) is None
    assert Entry.objects.filter(action="authenticator.removed", person_uid=holder.uid, actor_uid=agent.uid).exists()

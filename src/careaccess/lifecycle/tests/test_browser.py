"""A reviewer deciding a campaign in a real browser (Debian's Chromium through Playwright), rule PP6."""

import pytest

from careaccess.lifecycle import sweeps
from careaccess.lifecycle.models import Campaign, CampaignItem

from .conftest import person_of
from .test_pages import PASSWORD, give_sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _fast_hashers(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]


def test_pp6_reviewer_decides_a_campaign_in_the_browser(transactional_db, live_server, page, world, clock):
    world.user(world.provider, given_name="Pat", family_name="Keeper")
    sweeps.run("campaigns")
    campaign = Campaign.objects.get(organisation=world.provider)
    assignment_item = campaign.items.get(kind="assignment")
    account_item = campaign.items.get(kind="account")
    lead = person_of(world.lead)
    give_sign_in(lead)

    page.goto(f"{live_server.url}/lifecycle/reviews/{campaign.pk}")
    page.fill("#username", lead.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}/lifecycle/reviews/{campaign.pk}")
    assert "Review of" in page.locator("h1").inner_text()

    # Revoke without a reason: the error summary links to the reason.
    page.check(f"#decision-{assignment_item.pk}-2")
    page.click("button:has-text('Save decisions')")
    assert page.title().startswith("Error: ")
    summary = page.locator(".nhsuk-error-summary")
    assert "Give the reason" in summary.inner_text()

    page.check(f"#decision-{assignment_item.pk}-2")
    page.fill(f"#reason-{assignment_item.pk}", "moved to the office; no longer visits clients")
    page.check(f"#decision-{account_item.pk}")
    page.fill(f"#reason-{account_item.pk}", "still needs the portal")
    page.click("button:has-text('Save decisions')")
    page.wait_for_url(f"{live_server.url}/lifecycle/reviews/{campaign.pk}")
    assert "2 of 2 decided" in page.locator("#progress").inner_text()
    assert "Revoke" in page.locator("#decided").inner_text()
    page.screenshot(path="/tmp/lifecycle-review.png", full_page=True)


    assignment_item.refresh_from_db(), account_item.refresh_from_db()
    assert assignment_item.decision == CampaignItem.Decision.REVOKE and assignment_item.access_request is not None
    assert account_item.decision == CampaignItem.Decision.KEEP


def test_pp6_the_reviewers_own_access_has_no_controls_in_the_browser(transactional_db, live_server, page, world, clock):
    from careaccess.directory import services as directory
    from careaccess.directory import testing
    from careaccess.directory.models import Account

    lead = person_of(world.lead)
    directory.create_account(testing.SYSTEM, lead, world.service, username=f"user{lead.uid}",
                             state=Account.State.ACTIVE)
    world.user(world.provider, given_name="Pat", family_name="Keeper")
    sweeps.run("campaigns")
    campaign = Campaign.objects.get(organisation=world.provider)
    own = campaign.items.get(person=lead)
    give_sign_in(lead)

    page.goto(f"{live_server.url}/lifecycle/reviews/{campaign.pk}")
    page.fill("#username", lead.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}/lifecycle/reviews/{campaign.pk}")
    mine = page.locator(f"#item-{own.pk}")
    assert "to be decided by someone else" in mine.inner_text()
    assert page.locator(f"input[name='decision-{own.pk}']").count() == 0
    assert page.locator("input[type=radio]").count() == 4  # Pat's position and account, keep or revoke
    headings = [h.evaluate("e => e.tagName") for h in page.locator("main h1, main h2").all()]
    assert headings[0] == "H1"
    own.refresh_from_db()
    assert own.decision == ""

"""An RA agent manages a person's smartcard in Chromium with JavaScript off: from the person's page
to their cards, issues one (the holder types the PIN twice; a mismatch is shown in the error
summary first), cancels it as lost (rule SC6: a misuse check opens), and sees both states on the
person's page."""

import pytest

from careaccess.core.audit.models import Entry
from careaccess.credentials.models import Card, MisuseReport
from careaccess.credentials.tests.test_ra_card_pages import verified
from careaccess.web.tests.conftest import PASSWORD, organisation, person, place, staff_catalogue

pytestmark = pytest.mark.browser


def test_an_ra_agent_issues_a_card_then_cancels_it_as_lost(live_server, new_page, transactional_db, settings,
                                                            clock, pki_dir):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]
    staff_catalogue()
    icb = organisation("QWO", name="Wessex ICB", kind="icb", oversees_descendants=True)
    practice = organisation("B86001", name="Riverside Surgery", parent="QWO")
    agent = person("Rita", "Agent")
    place(agent, icb, "RA agent", "ra_agent")
    holder = verified(person("Holly", "Holder", password=None), practice, "Receptionist")
    page, base = new_page(java_script_enabled=False), live_server.url

    page.goto(f"{base}/sign-in?next=/people/{holder.uid}")
    page.fill("#username", agent.uid)
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/people/{holder.uid}")
    assert "has no smartcard" in page.locator("#no-cards").inner_text()
    page.click("a:has-text('their smartcards')")
    page.wait_for_url(f"{base}/account/people/{holder.uid}/cards")
    page.click("a:has-text('Issue a card')")
    page.wait_for_url(f"{base}/account/people/{holder.uid}/cards/issue")
    assert "software cards" in page.locator(".nhsuk-card--warning").inner_text()

    page.fill("#pin", "24681012")
    page.fill("#pin_again", "24681013")
    page.click("button:has-text('Issue the card')")
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible() and page.title().startswith("Error: ")
    assert [a.get_attribute("href") for a in summary.locator("a").all()] == ["#pin_again"]
    assert not Card.objects.exists()  # nothing changed

    page.fill("#pin", "24681012")
    page.fill("#pin_again", "24681012")
    page.click("button:has-text('Issue the card')")
    page.wait_for_url(f"{base}/account/people/{holder.uid}/cards")
    card = Card.objects.get(person=holder)
    assert "Card issued" in page.locator("#confirmation").inner_text()
    assert "Active" in page.locator("#cards").inner_text()

    page.click(f"a[href$='/cards/{card.serial}/cancel']")
    page.wait_for_url(f"{base}/account/people/{holder.uid}/cards/{card.serial}/cancel")
    page.check("#reason")  # the first reason listed: lost
    page.fill("#note", "left on a train")
    page.click("button:has-text('Cancel the card')")
    page.wait_for_url(f"{base}/account/people/{holder.uid}/cards")
    confirmation = page.locator("#confirmation").inner_text()
    assert "Card cancelled" in confirmation and "A check for misuse is open" in confirmation

    page.goto(f"{base}/people/{holder.uid}")
    row = page.locator("table", has_text="Smartcards, newest first").locator("tbody tr").first.inner_text()
    assert card.serial in row and "Cancelled" in row and "Revoked" in row
    assert MisuseReport.objects.get(card=card).kind == MisuseReport.Kind.LOSS_OR_THEFT
    assert list(Entry.objects.filter(person_uid=holder.uid, action__startswith="card.").order_by("index")
                .values_list("action", "actor_uid")) == [("card.issued", agent.uid), ("card.cancelled", agent.uid),
                                                         ("card.misuse_reported", agent.uid)]

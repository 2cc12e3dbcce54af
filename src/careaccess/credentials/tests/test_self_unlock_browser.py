"""In Chromium with JavaScript off: the holder of a locked card, not signed in, follows "Card
locked?" from the card sign-in page, asks for a code, reads it in the email the outbox delivered,
types two different PINs (the error summary names the field), then the code and a new PIN twice;
the card then signs them in on /account/card-sign-in with the new PIN (rule DS9)."""

import base64
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from careaccess.core import permissions
from careaccess.core.outbox import delivery
from careaccess.credentials import pki, services, testing
from careaccess.credentials.cards import SoftwareCard
from careaccess.directory import services as directory_services
from careaccess.directory.models import Person

pytestmark = pytest.mark.browser
NEW_PIN = "86420864"


def test_a_locked_cards_holder_unlocks_it_with_the_emailed_code_and_signs_in(live_server, new_page, transactional_db,
                                                                            settings, clock, tmp_path):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]
    settings.CAREACCESS_PKI_DIR = str(tmp_path / "pki")
    settings.CAREACCESS_CRL_URL = "http://careaccess.test/pki/crl.der"
    pki.init()
    holder = testing.verified_person(given_name="Lena", family_name="Locked")
    user = get_user_model().objects.create_user(username=holder.uid, password="not used by a card holder 42")
    Person.objects.filter(pk=holder.pk).update(user=user)
    nhsmail = directory_services.create_service(testing.SYSTEM, code="nhsmail", name="NHSmail")
    directory_services.create_account(testing.SYSTEM, holder, nhsmail, username="lena.locked@nhs.net", state="active")
    card = testing.card_for(holder)
    services.register_self_unlock(permissions.actor_for_person(holder), card)
    for _ in range(3):  # three wrong PINs lock the card
        with pytest.raises(services.Refused):
            SoftwareCard.open(card).verify_pin("000000")
    card.refresh_from_db()
    assert card.locked
    page, base = new_page(java_script_enabled=False), live_server.url

    page.goto(f"{base}/account/card-sign-in")
    page.click("a:has-text('Card locked?')")
    page.wait_for_url(f"{base}/account/unlock-card")
    page.fill("#serial", card.serial)
    page.click("button:has-text('Email me a code')")
    page.wait_for_url(f"{base}/account/unlock-card/code")
    assert "l**********@nhs.net" in page.locator("#sent").inner_text()

    mail.outbox.clear()
    assert delivery.deliver_due("browser-test").sent == 1  # the worker delivers the outbox
    (message,) = mail.outbox
    assert message.to == ["lena.locked@nhs.net"]
    code = re.search(r"is (\d{8})\.", message.body).group(1)

    page.fill("#code", code)
    page.fill("#new_pin", NEW_PIN)
    page.fill("#confirm_pin", "86420865")
    page.click("button:has-text('Unlock my card')")
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible() and page.title().startswith("Error: ")
    assert [link.get_attribute("href") for link in summary.locator("a").all()] == ["#confirm_pin"]
    card.refresh_from_db()
    assert card.locked  # nothing changed

    page.fill("#code", code)
    page.fill("#new_pin", NEW_PIN)
    page.fill("#confirm_pin", NEW_PIN)
    page.click("button:has-text('Unlock my card')")
    page.wait_for_url(f"{base}/account/unlock-card/done")
    assert "Your smartcard is unlocked" in page.locator("h1").inner_text()
    card.refresh_from_db()
    assert not card.locked

    # The card signs its holder in: the software card answers the page's challenge with the new PIN.
    page.click("a:has-text('Sign in with your smartcard')")
    page.wait_for_url(f"{base}/account/card-sign-in")
    challenge = base64.b64decode(page.locator("#challenge").inner_text())
    soft = SoftwareCard.open(card)
    soft.verify_pin(NEW_PIN)
    signature = soft.sign(challenge)
    page.fill("#certificate", base64.b64encode(bytes(card.certificate.der)).decode())
    page.fill("#signature", base64.b64encode(signature).decode())
    page.click("button:has-text('Sign in with card')")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/account/")
    assert "Lena Locked" in page.locator(".nhsuk-caption-l").inner_text()
    assert card.serial in page.content()

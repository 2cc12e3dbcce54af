"""The card holder's own smartcard pages (selfcardviews): self-renewal from /account (DS11, DS13),
registering for self-service unlock, and unlocking a locked card without signing in, with a
one-time code read from the delivered email (DS9)."""

import datetime as dt
import json
import re

import pytest
from django.contrib.auth import get_user_model

from careaccess.api.testing import ledger_size
from careaccess.core.audit.models import Entry
from careaccess.core.outbox import delivery
from careaccess.core.outbox.models import Message
from careaccess.credentials import policy, services, testing
from careaccess.credentials.models import UnlockCode
from careaccess.directory import services as directory_services
from careaccess.directory.models import Person, Service
from careaccess.web.tests.conftest import PASSWORD, sign_in, squash

pytestmark = pytest.mark.django_db
NEW_PIN = "97531864"
DAY = dt.timedelta(days=1)


def with_password(person: Person) -> Person:
    user = get_user_model().objects.create_user(username=person.uid, password=PASSWORD)
    Person.objects.filter(pk=person.pk).update(user=user)
    person.refresh_from_db()
    return person


@pytest.fixture
def holder(world):
    return with_password(testing.verified_person(world.practice, given_name="Holly", family_name="Holder"))


@pytest.fixture
def card(holder, world):
    return testing.card_for(holder, actor=world.agent)


@pytest.fixture
def mailbox(holder):
    service = Service.objects.filter(code="nhsmail").first() or directory_services.create_service(
        testing.SYSTEM, code="nhsmail", name="NHSmail")
    directory_services.create_account(testing.SYSTEM, holder, service, username="holly.holder@nhs.net", state="active")
    return "holly.holder@nhs.net"


@pytest.fixture
def registered(card, holder, mailbox):
    from careaccess.core import permissions

    services.register_self_unlock(permissions.actor_for_person(holder), card)
    return card


def lock(card):
    for _ in range(3):
        with pytest.raises(services.Refused):
            services.verify_pin(card.serial, "999999")
    card.refresh_from_db()
    assert card.locked


def summary_links(response) -> list[str]:
    """The error summary's links, in order (each names the field to fix)."""
    html = response.content.decode()
    summary = re.search(r'class="nhsuk-error-summary".*?</ul>', html, re.S)
    assert summary, "no error summary on the page"
    return re.findall(r'href="(#[^"]+)"', summary.group(0))


def refused(response, *texts):
    assert response.status_code == 422
    page = squash(response)
    assert "<title>Error: " in page and "There is a problem" in page
    for text in texts:
        assert text in page, text
    return page


# --- self-renewal (DS11, DS13) -------------------------------------------------------------------

def test_renewal_is_offered_only_in_the_90_days_before_expiry(client, card, holder, clock):
    # rule DS13: the holder self-renews in the 90 days before the 2-year certificate expires
    sign_in(client, holder.uid)
    clock.advance(dt.timedelta(days=730 - 91))
    account = squash(client.get("/account/"))
    assert 'id="renew-link"' not in account
    assert "You cannot renew your certificate yourself now – too early: self-renewal opens 90 days before" in account
    page = squash(client.get("/account/smartcard/renew"))
    assert 'id="refusal"' in page and "Renew my certificate" not in page
    size, old = ledger_size(), card.certificate_id
    refused(client.post("/account/smartcard/renew"), "Too early: self-renewal opens 90 days before")
    card.refresh_from_db()
    assert (card.renewals, card.certificate_id, ledger_size()) == (0, old, size)

    clock.advance(DAY)  # exactly 90 days before expiry: the window is open
    account = squash(client.get("/account/"))
    assert 'id="renew-link" href="/account/smartcard/renew"' in account
    assert "Renew my certificate" in squash(client.get("/account/smartcard/renew"))
    response = client.post("/account/smartcard/renew")
    assert response.status_code == 302 and response.url == "/account/?updated=card-renewed"
    card.refresh_from_db()
    assert card.renewals == 1 and card.certificate_id != old
    assert card.certificate.not_after - card.certificate.not_before == dt.timedelta(days=730)
    entry = Entry.objects.filter(action="card.renewed", person_uid=holder.uid).latest("index")
    assert entry.actor_uid == holder.uid and json.loads(entry.after)["mode"] == "self"
    account = squash(client.get(response.url))
    assert "Your smartcard certificate has been renewed." in account and 'id="renew-link"' not in account
    testing.sign_in(card)  # the new certificate signs in


def test_a_fourth_renewal_is_refused(client, card, holder, clock):
    # rule DS13: a card self-renews at most 3 times, then it is replaced
    sign_in(client, holder.uid)
    for _ in range(3):
        clock.advance(dt.timedelta(days=700))
        assert client.post("/account/smartcard/renew").status_code == 302
    clock.advance(dt.timedelta(days=700))  # inside the window of the third renewal's certificate
    assert 'id="renew-link"' not in squash(client.get("/account/"))
    size = ledger_size()
    refused(client.post("/account/smartcard/renew"), "renewed 3 times, the most allowed (rule DS13)")
    card.refresh_from_db()
    assert card.renewals == 3 and ledger_size() == size


@pytest.mark.parametrize("series", ["01", "02", "03"])
def test_cards_of_series_01_to_03_never_renew(client, holder, world, clock, series):
    # rule DS11: cards of series 01, 02 or 03 cannot renew certificates; they are replaced
    card = testing.card_for(holder, actor=world.agent, serial=f"{series}12345678")
    sign_in(client, holder.uid)
    clock.advance(dt.timedelta(days=700))
    assert "(rule DS11)" in squash(client.get("/account/"))
    refused(client.post("/account/smartcard/renew"), f"cards of series 01, 02, 03 cannot renew certificates (rule DS11)")
    card.refresh_from_db()
    assert card.renewals == 0


def test_an_expired_certificate_goes_to_the_ra_for_repair(client, card, holder, clock):
    # rules DS13, SC9: self-renewal ends at expiry; an RA agent repairs the card in person
    sign_in(client, holder.uid)
    clock.advance(dt.timedelta(days=731))
    assert "ask your RA to repair it" in squash(client.get("/account/"))
    old = card.certificate_id
    refused(client.post("/account/smartcard/renew"), "so it can no longer be renewed: ask your RA to repair it")
    card.refresh_from_db()
    assert card.certificate_id == old and card.renewals == 0


def test_a_locked_card_is_unlocked_before_renewal(client, card, holder, clock):
    sign_in(client, holder.uid)
    clock.advance(dt.timedelta(days=700))
    lock(card)
    refused(client.post("/account/smartcard/renew"), "is locked; unlock it first")


def test_the_holders_own_pages_need_a_sign_in(client, card):
    for url in ("/account/smartcard/renew", "/account/smartcard/self-service-unlock"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/sign-in?next=")
        assert client.post(url).status_code == 302
    card.refresh_from_db()
    assert card.renewals == 0 and card.self_service_registered_at is None


def test_without_a_card_the_pages_go_back_to_the_account(client, world):
    person = with_password(testing.verified_person(world.practice))
    sign_in(client, person.uid)
    assert client.get("/account/smartcard/renew").url == "/account/"
    assert client.post("/account/smartcard/self-service-unlock").url == "/account/"


# --- registering for self-service unlock (DS9) ------------------------------------------------------

def test_registration_needs_a_mailbox(client, card, holder):
    # rule DS9: self-service unlock needs a mailbox account
    sign_in(client, holder.uid)
    assert "Self-service unlock needs a mailbox account (rule DS9)" in squash(client.get("/account/"))
    assert 'id="no-mailbox"' in squash(client.get("/account/smartcard/self-service-unlock"))
    refused(client.post("/account/smartcard/self-service-unlock"), "needs a mailbox account (rule DS9)")
    card.refresh_from_db()
    assert card.self_service_registered_at is None


def test_the_holder_registers_from_the_account_page(client, card, holder, mailbox, clock):
    # rule DS9: prior registration, with a mailbox
    sign_in(client, holder.uid)
    account = squash(client.get("/account/"))
    assert 'id="register-link" href="/account/smartcard/self-service-unlock"' in account
    page = squash(client.get("/account/smartcard/self-service-unlock"))
    assert 'id="sent-to">h***********@nhs.net' in page
    response = client.post("/account/smartcard/self-service-unlock")
    assert response.status_code == 302 and response.url == "/account/?updated=self-unlock"
    card.refresh_from_db()
    assert card.self_service_registered_at == clock.now()
    assert Entry.objects.filter(action="card.self_unlock_registered", actor_uid=holder.uid).count() == 1
    account = squash(client.get(response.url))
    assert "set up for self-service unlock" in account and 'id="self-unlock-registered"' in account


# --- self-service unlock, not signed in (DS9) ------------------------------------------------------

def request_code(client, serial) -> str:
    """Ask for a code on the public page and read it from the email the outbox delivered."""
    from django.core import mail

    mail.outbox.clear()
    response = client.post("/account/unlock-card", {"serial": serial})
    assert response.status_code == 302 and response.url == "/account/unlock-card/code", response.content.decode()
    assert delivery.deliver_due("test").sent == 1
    (message,) = mail.outbox
    assert message.subject == "Your smartcard unlock code"
    return re.search(r"is (\d{8})\.", message.body).group(1)


def unlock(client, code, new_pin=NEW_PIN, confirm_pin=None):
    return client.post("/account/unlock-card/code", {
        "code": code, "new_pin": new_pin, "confirm_pin": new_pin if confirm_pin is None else confirm_pin})


def other_than(code: str) -> str:
    return "00000000" if code != "00000000" else "11111111"


def test_a_locked_card_is_unlocked_with_the_emailed_code_without_signing_in(client, registered, mailbox, clock):
    # rule DS9: a registered holder with a mailbox unlocks with a one-time code, then a new PIN
    card = registered
    lock(card)
    for start in ("/sign-in", "/account/card-sign-in"):
        assert 'id="card-locked" href="/account/unlock-card"' in squash(client.get(start))
    assert "Email me a code" in squash(client.get("/account/unlock-card"))
    code = request_code(client, card.serial[:2] + " " + card.serial[2:])  # spaces as printed are fine
    from django.core import mail

    assert mail.outbox[0].to == [mailbox]
    page = squash(client.get("/account/unlock-card/code"))
    assert "h***********@nhs.net" in page and "until 10:15 BST" in page  # 09:15 UTC, shown in the deployment's time zone
    clock.advance(dt.timedelta(minutes=14, seconds=59))  # valid 15 minutes
    response = unlock(client, code)
    assert response.status_code == 302 and response.url == "/account/unlock-card/done"
    assert "Your smartcard is unlocked" in squash(client.get(response.url))
    card.refresh_from_db()
    assert not card.locked and card.pin_tries == 0
    assert Entry.objects.filter(action="card.self_unlocked", person_uid=card.person.uid).count() == 1
    testing.sign_in(card, pin=NEW_PIN)
    # Single use: the same code again (the back button, another tab) is refused, nothing changed.
    lock(card)
    size = ledger_size()
    response = unlock(client, code)
    refused(response, "This code has been used or replaced; request a new code")
    assert summary_links(response) == ["#code"]
    card.refresh_from_db()
    assert card.locked and ledger_size() == size


def test_a_code_expires_after_15_minutes(client, registered, clock):
    # rule DS9: a code is valid 15 minutes
    card = registered
    lock(card)
    code = request_code(client, card.serial)
    clock.advance(dt.timedelta(minutes=15))
    size, pin_hash = ledger_size(), card.pin_hash
    response = unlock(client, code)
    refused(response, "This code expired at 10:15 BST; request a new code")
    assert summary_links(response) == ["#code"]
    card.refresh_from_db()
    assert card.locked and card.pin_hash == pin_hash and ledger_size() == size
    # A new code (the page's "Send a new code") works.
    code = request_code(client, card.serial)
    assert unlock(client, code).status_code == 302


def test_a_wrong_code_is_counted_and_changes_nothing_else(client, registered, clock):
    # rule DS9; the service's audited failure counter (CAREACCESS_UNLOCK_CODE_MAX_ATTEMPTS, 5)
    card = registered
    lock(card)
    code = request_code(client, card.serial)
    size, pin_hash = ledger_size(), card.pin_hash
    response = unlock(client, other_than(code))
    page = refused(response, "Wrong code; check the email and enter the code again")
    assert summary_links(response) == ["#code"] and "nhsuk-input--error" in page
    card.refresh_from_db()
    assert card.locked and card.pin_hash == pin_hash
    assert UnlockCode.objects.get(card=card).attempts == 1 and ledger_size() == size + 1
    assert Entry.objects.filter(action="card.unlock_code_wrong", person_uid=card.person.uid).count() == 1
    for _ in range(policy.unlock_code_max_attempts() - 1):
        unlock(client, other_than(code))
    refused(unlock(client, code), "Too many wrong codes; request a new code")  # even the right one, now
    card.refresh_from_db()
    assert card.locked


def test_pins_of_the_wrong_length_or_not_matching_cost_no_attempt(client, registered, clock):
    # issue 5: a PIN is 6 to 8 digits, entered twice the same
    card = registered
    lock(card)
    code = request_code(client, card.serial)
    size = ledger_size()
    response = unlock(client, code, new_pin="1234")
    refused(response, "The PIN must be 6 to 8 digits long; this one has 4")
    assert summary_links(response) == ["#new_pin"]
    response = unlock(client, code, new_pin="123456789")
    refused(response, "this one has 9")
    response = unlock(client, code, new_pin="86420864", confirm_pin="86420865")
    refused(response, "The two PINs are not the same: enter your new PIN again, the same twice")
    assert summary_links(response) == ["#confirm_pin"]
    response = unlock(client, "", new_pin="12ab", confirm_pin="")
    assert summary_links(response) == ["#code", "#new_pin", "#confirm_pin"]
    assert "Enter the 8-digit code from the email we sent you" in squash(response)
    card.refresh_from_db()
    assert card.locked and ledger_size() == size and UnlockCode.objects.get(card=card).attempts == 0
    assert unlock(client, code).status_code == 302  # the code still works


def test_the_serial_page_says_what_the_api_says(client, world, holder, card, mailbox):
    # rule DS9: only a card registered for self-service unlock, and locked, gets a code
    def ask(serial):
        return client.post("/account/unlock-card", {"serial": serial})

    response = ask("")
    refused(response, "Enter the serial number printed on your smartcard")
    assert summary_links(response) == ["#serial"]
    refused(ask("ab-12"), "A card serial is 8 to 20 digits")
    refused(ask("0699999999"), "No card has the serial 0699999999")
    lock(card)
    refused(ask(card.serial), "not registered for self-service unlock (rule DS9)")
    from careaccess.core import permissions

    services.unlock_card(world.agent, card, new_pin="11223344", holder_present=True)
    services.register_self_unlock(permissions.actor_for_person(holder), card)
    refused(ask(card.serial), f"Card {card.serial} is not locked")
    # rule DS14: a replacement comes locked, and is unlocked with an RA agent (it is not registered yet)
    replacement = services.replace_card(world.agent, card, reason="damaged")
    refused(ask(replacement.serial), "not registered for self-service unlock (rule DS9)")
    assert not Message.objects.filter(kind="unlock_code").exists()


def test_the_code_page_needs_a_code_requested_first(client):
    assert client.get("/account/unlock-card/code").url == "/account/unlock-card"
    assert client.post("/account/unlock-card/code", {"code": "12345678"}).url == "/account/unlock-card"
    assert client.get("/account/unlock-card/done").url == "/account/unlock-card"


def test_the_account_page_links_a_locked_registered_card_to_its_unlock(client, registered, holder):
    # rule DS9
    lock(registered)
    sign_in(client, holder.uid)
    account = squash(client.get("/account/"))
    assert 'id="unlock-link" href="/account/unlock-card"' in account
    assert "is locked; unlock it first" in account

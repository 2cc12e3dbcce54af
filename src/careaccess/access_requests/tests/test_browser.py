"""Issue 4's browser test: a new-user request raised, validated, approved and fulfilled through
the pages in Debian's Chromium (Playwright, pytest-django's live server), then the outbox worker
delivers the mail to files and the username and the temporary password are read from two
separate messages (rule CC8)."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from careaccess.access_requests.models import AccessRequest
from careaccess.core.outbox import delivery
from careaccess.directory.models import Person

from .conftest import person_of

SCREENSHOT = Path("/tmp/requests-page.png")
PASSWORD = "correct horse battery staple"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


def with_password(actor) -> Person:
    """Give the actor's person a sign-in (no service gives sign-ins yet; tests make the user)."""
    person = person_of(actor)
    user = get_user_model().objects.create_user(username=person.uid, password=PASSWORD)
    Person.objects.filter(pk=person.pk).update(user=user)
    return person


def confirm_approval(page):
    """The approver's CC9 confirmations on a request's page: least role, told not to view their own
    records, IG training current (1 March 2026)."""
    page.check("#approve-least_role")
    page.check("#approve-told_not_to_view_own_records")
    page.fill("#approve-ig_training_on_day", "1")
    page.fill("#approve-ig_training_on_month", "3")
    page.fill("#approve-ig_training_on_year", "2026")


def signing(page, base: str):
    """Sign a person in with their password, and out, on the page's own forms."""

    def sign_in(who: Person):
        page.goto(f"{base}/sign-in")
        page.fill("#username", who.uid)
        page.fill("#password", PASSWORD)
        page.click("button:has-text('Sign in')")
        page.wait_for_url(f"{base}/")

    def sign_out():
        page.click("button.nhsuk-header__account-button:has-text('Sign out')")
        page.wait_for_url(f"{base}/sign-in")

    return sign_in, sign_out


def test_raise_validate_approve_fulfil_a_new_user_then_read_the_two_emails(live_server, page, world, settings,
                                                                          tmp_path):
    base = live_server.url
    requester, validator, approver, fulfiller = (with_password(a) for a in (
        world.gp.requester, world.gp.validator, world.gp.approver, world.fulfiller))
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 500 else None)

    sign_in, sign_out = signing(page, base)

    # The sponsor raises it: the home page links "Raise requests"; choose the kind, then the form (SC4).
    sign_in(requester)
    page.click("a:has-text('Raise requests')")
    page.wait_for_url(f"{base}/requests/new")
    page.check("input[name=kind][value=new_user]")
    page.select_option("#service", world.service.code)
    page.click("button:has-text('Continue')")
    page.wait_for_url(re.compile(r".*/requests/new/new_user\?.*"))
    # First with a mistake: the error summary names it and links to the field.
    page.fill("#title", "Dr")
    page.fill("#given_name", "Grace")
    page.fill("#family_name", "Hopper")
    page.fill("#date_of_birth_day", "9")
    page.fill("#date_of_birth_month", "12")
    page.fill("#date_of_birth_year", "1986")
    page.fill("#ni_number", "JC123456B")
    page.fill("#email", "office@example.nhs.uk")
    page.fill("#phone", "0113 496 0123")
    page.select_option("#position", str(world.gp.clinician.pk))
    page.select_option("#service_role", "care-professional")
    page.fill("#note", "Ticket TD-42: starts on the respiratory team")
    page.click("button:has-text('Submit request')")
    summary = page.locator(".nhsuk-error-summary")
    assert "looks like a generic or shared address" in summary.inner_text()  # PP2
    assert page.title().startswith("Error: New user request")
    page.fill("#email", "grace.hopper@example.nhs.uk")
    page.click("button:has-text('Submit request')")
    page.wait_for_url(re.compile(r".*/requests/REQ-[A-Z0-9]{8}$"))
    reference = page.url.rsplit("/", 1)[1]
    assert page.locator("#flash").inner_text() == f"Request {reference} raised"
    assert page.locator("h1").inner_text() == "Connecting Care starter Grace Hopper"  # CC5
    assert page.locator("#state").inner_text().strip() == "Submitted"
    sign_out()

    # A GP practice's sponsor is its authoriser (CC1): validates from the authoriser queue.
    sign_in(validator)
    page.goto(f"{base}/requests/queues/authoriser")
    page.click(f"a:has-text('{reference}')")
    page.click("#do-validate")
    page.wait_for_url(f"{base}/requests/{reference}")
    assert page.locator("#state").inner_text().strip() == "Validated"
    sign_out()

    # The authoriser approves with the CC9 confirmations.
    sign_in(approver)
    page.goto(f"{base}/requests/{reference}")
    confirm_approval(page)
    page.screenshot(path="/tmp/requests-approve.png", full_page=True)
    page.click("#do-approve")
    page.wait_for_url(f"{base}/requests/{reference}")
    assert page.locator("#state").inner_text().strip() == "Approved (with the back office)"
    sign_out()

    # The back office actions it from its queue (CC7).
    sign_in(fulfiller)
    page.click("a:has-text('Action approved requests')")
    page.wait_for_url(f"{base}/requests/queues/back-office")
    page.click(f"a:has-text('{reference}')")
    page.click("#do-fulfil")
    page.wait_for_url(f"{base}/requests/{reference}")
    assert page.locator("#state").inner_text().strip() == "Fulfilled"
    assert page.locator("#flash").inner_text() == "Request fulfilled"
    history = page.locator("#history").inner_text()
    for step in ("Raised", "Submitted", "Validated", "Approved", "Fulfilled"):
        assert step in history
    assert "Bo Backoffice" in history
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    assert not failed, failed

    req = AccessRequest.objects.get(reference=reference)
    assert req.state == "fulfilled" and req.subject.email == "grace.hopper@example.nhs.uk"

    # The worker delivers the outbox once, to files (settings.EMAIL_FILE_PATH in development).
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    result = delivery.deliver_due("browser-test")
    assert result.failed == 0 and result.sent >= 2
    messages = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in sorted(tmp_path.iterdir())]
    to_grace = [m for m in messages if m["To"] == "grace.hopper@example.nhs.uk"]
    (username_mail,) = [m for m in to_grace if "username" in m["Subject"]]
    (password_mail,) = [m for m in to_grace if "temporary password" in m["Subject"]]
    username_body = username_mail.get_content()
    password_body = password_mail.get_content()
    assert f"Username: {req.outcome['username']}" in username_body and req.outcome["username"] == "grace.hopper"
    found = re.search(r"Temporary password for the Connecting Care account of [^:]*Grace Hopper: (\S+)", password_body)
    assert found, password_body
    password = found.group(1)
    assert len(password) == 14
    # CC8: two separate messages; the password never travels with the username.
    assert password not in username_body
    assert "grace.hopper" not in password_body
    assert all(password not in m.get_content() for m in messages if m is not password_mail)


def test_without_javascript_a_new_back_office_member_is_trained_then_fulfils(live_server, new_page, world):
    """The demo's journey with JavaScript off: raised and validated, approved, then an untrained back
    office member is told why they cannot fulfil (PP5), an RA manager records their training from
    their person page, and they fulfil it. The sponsor sees who each step waits for."""
    from careaccess.directory import testing

    base = live_server.url
    page = new_page(java_script_enabled=False)
    newcomer = testing.staff(world.icb, "local_administrator", "ra_agent", given_name="Nia", family_name="Newcomer")
    manager = testing.staff(world.icb, "ra_manager", given_name="Rae", family_name="Manager")
    requester, validator, approver, new_person, ra_manager = (with_password(a) for a in (
        world.gp.requester, world.gp.validator, world.gp.approver, newcomer, manager))
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 500 else None)

    sign_in, sign_out = signing(page, base)

    sign_in(requester)
    page.goto(f"{base}/requests/new/new_user?organisation=B86001&service={world.service.code}")
    assert page.locator("#position option").all_inner_texts() == [
        "Select a position", "Clinician (gives: Care Professional)", "Receptionist (gives: Administrator)"]  # SC8
    page.fill("#given_name", "Ada")
    page.fill("#family_name", "Lovelace")
    page.fill("#date_of_birth_day", "10")
    page.fill("#date_of_birth_month", "12")
    page.fill("#date_of_birth_year", "1985")
    page.fill("#ni_number", "JC654321A")
    page.fill("#email", "ada.lovelace@example.nhs.uk")
    page.fill("#phone", "0113 496 0456")
    page.select_option("#position", str(world.gp.clinician.pk))
    page.select_option("#service_role", "care-professional")
    page.click("button:has-text('Submit request')")
    page.wait_for_url(re.compile(r".*/requests/REQ-[A-Z0-9]{8}$"))
    reference = page.url.rsplit("/", 1)[1]
    assert "Waiting for a sponsor or an authoriser at" in page.locator("#waiting").inner_text()
    assert "10 December 1985" in page.locator("#details").inner_text()
    sign_out()

    sign_in(validator)
    page.goto(f"{base}/requests/{reference}")
    page.click("#do-validate")
    page.wait_for_url(f"{base}/requests/{reference}")
    sign_out()

    sign_in(approver)
    page.goto(f"{base}/requests/{reference}")
    confirm_approval(page)
    page.click("#do-approve")
    page.wait_for_url(f"{base}/requests/{reference}")
    assert page.locator("#state").inner_text().strip() == "Approved (with the back office)"
    page.goto(f"{base}/requests/{reference}/approve")  # a reopened action address: the request's page
    assert page.url == f"{base}/requests/{reference}"
    sign_out()

    sign_in(new_person)  # not trained yet (PP5): no Fulfil button, and why
    page.goto(f"{base}/requests/{reference}")
    assert page.locator("#do-fulfil").count() == 0
    assert "no current training to action Connecting Care requests" in page.locator("#fulfil-blocked").inner_text()
    sign_out()

    sign_in(ra_manager)  # records it from the person page
    page.goto(f"{base}/people/{new_person.uid}")
    page.click("a:has-text('Record training to action requests')")
    page.wait_for_url(f"{base}/requests/training/{new_person.uid}")
    page.select_option("#service", world.service.code)
    page.fill("#completed_on_day", "2")
    page.fill("#completed_on_month", "1")
    page.fill("#completed_on_year", "2026")
    page.click("button:has-text('Record training')")
    page.wait_for_url(f"{base}/requests/training/{new_person.uid}")
    assert "Connecting Care: completed 2 January 2026" in page.locator("#training-records").inner_text()
    sign_out()

    sign_in(new_person)
    page.goto(f"{base}/requests/{reference}")
    page.click("#do-fulfil")
    page.wait_for_url(f"{base}/requests/{reference}")
    assert page.locator("#state").inner_text().strip() == "Fulfilled"
    assert page.locator("#history a").count() == 0  # no audit.read: plain text, no dead links
    assert not failed, failed

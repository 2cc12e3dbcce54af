"""The whole journey in a real browser (Debian's Chromium through Playwright): a care home applies
on the public page, the sponsor's administrator assesses and approves, and a new user signs in
with the temporary password and completes the first sign-in (NM1, NM2, NM3, NM5, NM7, NM8, CC8)."""

import pytest
from django.contrib.auth import get_user_model

from careaccess.core.outbox.models import Message
from careaccess.directory.models import Person
from careaccess.mailboxes.models import Application, Mailbox

from .conftest import PDF, make_world

pytestmark = pytest.mark.browser
ADMIN_PASSWORD = "Admin-Browser-Pass-1"


def sign_in(page, base, username, password, lands_on="/"):
    page.goto(f"{base}/sign-in")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}{lands_on}")


def test_journey_from_public_application_to_first_sign_in(live_server, page, transactional_db, settings, tmp_path):
    world = make_world(settings, tmp_path)
    admin = Person.objects.get(pk=world.admin.person_id)
    admin.user = get_user_model().objects.create_user(username=admin.uid, password=ADMIN_PASSWORD)
    admin.save(update_fields=["user"])
    report = tmp_path / "ig-toolkit.pdf"
    report.write_bytes(PDF)
    base = live_server.url

    # NM1: the public page, first incomplete (error summary), then complete with the PDF.
    page.goto(f"{base}/mailboxes/apply")
    page.click("button:has-text('Send application')")
    page.locator(".nhsuk-error-summary").wait_for(state="visible")
    assert page.title().startswith("Error:")
    page.select_option("#sponsor", "QWO")
    for field, value in {"applicant_name": "Pat Manager", "applicant_role": "Registered manager",
                         "applicant_email": "pat.manager@roselodge.example", "home_name": "Rose Lodge",
                         "home_address": "1 Garden Row", "home_town": "Leeds", "home_postcode": "LS6 3AA",
                         "home_phone": "0113 496 0000", "cqc_number": "1-123456789",
                         "exchange_reason": "Discharge summaries", "individuals-0-title": "Mrs",
                         "individuals-0-first_name": "Zoë", "individuals-0-last_name": "O'Brien",
                         "individuals-0-mobile": "07700 900001", "benefits": "Safer transfers of care"}.items():
        page.fill(f"#{field}", value)
    page.check("#ig_toolkit_completed-yes")
    page.check("#exchanges_data-yes")
    page.check("#shared_wanted-no")
    page.set_input_files("#ig_report", str(report))
    page.click("button:has-text('Send application')")
    page.wait_for_url(f"{base}/mailboxes/apply/received")
    reference = page.locator("#reference").inner_text()
    assert Application.objects.get().reference == reference  # NM2: receipt page and email
    assert Message.objects.filter(to=["pat.manager@roselodge.example"], body__contains="10 working days").exists()

    # NM3, NM6: the sponsor's administrator assesses and approves.
    sign_in(page, base, admin.uid, ADMIN_PASSWORD)
    page.goto(f"{base}/mailboxes/applications")
    page.click(f"a:has-text('{reference}')")
    page.wait_for_url(f"{base}/mailboxes/applications/{reference}")
    assert "matches" in page.locator("#cqc-check").inner_text()
    page.click("button:has-text('Record the assessment')")  # nothing ticked: refused, saying what to confirm
    assert page.title().startswith("Error: ")
    assert "IG toolkit" in page.locator(".nhsuk-error-summary").inner_text()
    page.check("#ig_toolkit_checked")
    page.click("button:has-text('Record the assessment')")
    page.wait_for_selector("text=Assessed by")
    assert "Assessment recorded" in page.locator(".nhsuk-notification-banner").inner_text()
    page.click("button:has-text('Approve and create the accounts')")
    page.wait_for_selector("#state:has-text('Approved')")
    assert "approved" in page.locator(".nhsuk-notification-banner").inner_text()
    page.click("button:has-text('Sign out')")
    page.wait_for_url(f"{base}/sign-in")

    # NM8, CC8: the user signs in with the temporary password from its own message and sets up.
    mailbox = Mailbox.objects.get()
    password = Message.objects.get(subject=f"Temporary password for {mailbox.display_name}").body.split()[-1]
    sign_in(page, base, mailbox.address, password, lands_on="/mailboxes/first-sign-in")  # NM8: first of all
    page.fill("#new_password", "Correct-Horse-42")
    page.fill("#confirm_password", "Correct-Horse-42")
    page.fill("#job_title", "Senior carer")
    page.check("#accept_aup")
    page.click("button:has-text('Continue')")
    page.wait_for_selector("h1:has-text('Welcome')")
    assert "Welcome, Zoë O'Brien" in page.locator("h1").inner_text()
    assert Message.objects.filter(to=[mailbox.address], subject="Welcome to your mailbox").exists()

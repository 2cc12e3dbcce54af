"""The mailboxes pages: public application (NM1, NM2), the queue and decision (NM3-NM6), a home's
management page (NM9, NM11), first sign-in (NM8) and the directory search (NM10)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from careaccess.core.outbox.models import Message
from careaccess.directory.models import Person
from careaccess.mailboxes import services
from careaccess.mailboxes.models import Application, Mailbox, SharedMailbox

from .conftest import PDF, application_data


def login(client, actor):
    person = Person.objects.get(pk=actor.person_id)
    if person.user is None:
        person.user = get_user_model().objects.create_user(username=person.uid, password="Not-Used-Here-1")
        person.save(update_fields=["user"])
    client.force_login(person.user)


def form_data(**overrides):
    data = application_data(**overrides)
    rows = data.pop("individuals")
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"individuals-{i}-{key}"] = value
    return data


def test_nm1_public_page_needs_no_sign_in(client, world):
    page = client.get("/mailboxes/apply")
    assert page.status_code == 200 and b"CQC registration number" in page.content and b"QWO" in page.content


def test_nm1_incomplete_application_shows_the_error_summary(client, world):
    page = client.post("/mailboxes/apply", {"sponsor": "QWO", "cqc_number": "123"})
    text = page.content.decode()
    assert page.status_code == 200 and "<title>Error:" in text and "There is a problem" in text
    assert 'href="#cqc_number"' in text and "1- followed by" in text and 'href="#applicant_name"' in text
    assert Application.objects.count() == 0


def test_nm1_nm2_application_with_pdf_gets_a_receipt_page(client, world):
    data = form_data(ig_report=SimpleUploadedFile("report.pdf", PDF, content_type="application/pdf"))
    response = client.post("/mailboxes/apply", data)
    assert response.status_code == 302 and response.url == "/mailboxes/apply/received"
    app = Application.objects.get()
    page = client.get(response.url).content.decode()
    assert app.reference in page and "10 working days" in page
    again = client.post("/mailboxes/apply", form_data(ig_report=SimpleUploadedFile("r.pdf", PDF)))
    assert app.reference in again.content.decode() and Application.objects.count() == 1  # duplicate


def test_nm1_non_pdf_upload_refused_on_the_page(client, world):
    page = client.post("/mailboxes/apply", form_data(ig_report=SimpleUploadedFile("r.pdf", b"MZ\x90\x00")))
    assert "must be a PDF" in page.content.decode() and Application.objects.count() == 0


def test_nm6_queue_and_decision_pages_for_the_sponsors_administrators(client, world):
    app = services.submit_application(application_data(), services.Report("r.pdf", PDF))
    login(client, world.other_admin)
    assert app.reference not in client.get("/mailboxes/applications").content.decode()
    assert client.get(f"/mailboxes/applications/{app.reference}").status_code == 404
    assert client.get(f"/mailboxes/applications/{app.reference}/report").status_code == 404
    assert client.post(f"/mailboxes/applications/{app.reference}", {"action": "reject", "reasons": "x"}).status_code == 404
    assert Client().get(f"/mailboxes/applications/{app.reference}/report").status_code == 302  # to sign in
    login(client, world.admin)
    assert app.reference in client.get("/mailboxes/applications").content.decode()
    page = client.get(f"/mailboxes/applications/{app.reference}").content.decode()
    assert "matches Organisation VN123" in page
    report = client.get(f"/mailboxes/applications/{app.reference}/report")
    assert report["Content-Disposition"].startswith("attachment") and b"".join(report.streaming_content) == PDF
    refused = client.post(f"/mailboxes/applications/{app.reference}", {"action": "approve"})
    assert "Assess the application first" in refused.content.decode()
    client.post(f"/mailboxes/applications/{app.reference}", {"action": "assess", "ig_toolkit_checked": "yes"})
    bad = client.post(f"/mailboxes/applications/{app.reference}",
                      {"action": "approve", "shared_display_name": "Rose Lodge 1", "location": "Leeds"})
    assert "under 30 characters" in bad.content.decode() or "only contain letters" in bad.content.decode()
    done = client.post(f"/mailboxes/applications/{app.reference}",
                       {"action": "approve", "shared_display_name": "RoseLodge", "location": "Leeds"})
    assert done.status_code == 302
    assert "Approved" in client.get(done.url).content.decode() and Mailbox.objects.count() == 2


def test_nm9_nm11_home_page(client, world):
    app = services.submit_application(application_data(), services.Report("r.pdf", PDF))
    services.assess(world.admin, app, ig_toolkit_checked=True)
    app = services.approve(world.admin, app)
    login(client, world.other_admin)
    assert client.get(f"/mailboxes/homes/{app.unit_id}").status_code == 404
    assert "Rose Lodge" not in client.get("/mailboxes/homes").content.decode()
    login(client, world.admin)
    assert f'/mailboxes/homes/{app.unit_id}"' in client.get("/mailboxes/homes").content.decode()
    shared = SharedMailbox.objects.get()
    page = client.post(f"/mailboxes/homes/{app.unit_id}", {"action": "member", "shared": shared.id,
                                                           "member": "zoe.obrien@mail.example.org", "permission": "send_as"})
    assert "was added" in page.content.decode()
    jo = Mailbox.objects.get(person__given_name="Jo")
    page = client.post(f"/mailboxes/homes/{app.unit_id}", {"action": "report", "mailbox": jo.id, "reason": "left"})
    assert "Deletion request" in page.content.decode()


def test_nm8_first_sign_in_through_the_web_sign_in(client, world):
    app = services.submit_application(application_data(), services.Report("r.pdf", PDF))
    services.assess(world.admin, app, ig_toolkit_checked=True)
    services.approve(world.admin, app)
    password = Message.objects.get(subject="Temporary password for Zoë O'Brien").body.split()[-1]
    signed_in = client.post("/sign-in", {"username": "zoe.obrien@mail.example.org", "password": password})
    assert signed_in.status_code == 302 and signed_in.url == "/mailboxes/first-sign-in"  # NM8: before anything else
    page = client.get("/mailboxes/first-sign-in")
    assert "Set up your account" in page.content.decode()
    bad = client.post("/mailboxes/first-sign-in", {"new_password": "x"})
    assert "There is a problem" in bad.content.decode()
    done = client.post("/mailboxes/first-sign-in", {"new_password": "Correct-Horse-42", "confirm_password": "Correct-Horse-42",
                                                   "job_title": "Senior carer", "mobile": "07700900001", "accept_aup": "yes"})
    assert "Welcome, Zoë O&#39;Brien" in done.content.decode() or "Welcome, Zoë O'Brien" in done.content.decode()
    assert client.get("/mailboxes/first-sign-in").status_code == 302  # done; still signed in
    results = client.get("/mailboxes/directory", {"organisation": "Rose Lodge"}).content.decode()
    assert "zoe.obrien@mail.example.org" in results and "qwoicb.roselodgeleeds@mail.example.org" in results


def test_nm8_first_sign_in_cannot_be_skipped_by_going_elsewhere(client, world):
    """Rule NM8: the temporary password must be changed at first sign-in. Typing another address
    after signing in leads back to the first sign-in, on every page and at the OIDC provider,
    until it is done; then those pages open."""
    app = services.submit_application(application_data(), services.Report("r.pdf", PDF))
    services.assess(world.admin, app, ig_toolkit_checked=True)
    services.approve(world.admin, app)
    password = Message.objects.get(subject="Temporary password for Zoë O'Brien").body.split()[-1]
    client.post("/sign-in", {"username": "zoe.obrien@mail.example.org", "password": password})
    for address in ("/", "/mailboxes/directory", "/account/", "/account/password", "/my-access",
                    "/oidc/authorize?client_id=x&response_type=code&scope=openid"):
        skipped = client.get(address)
        assert skipped.status_code == 302 and skipped.url == "/mailboxes/first-sign-in", address
    client.post("/mailboxes/first-sign-in", {"new_password": "Correct-Horse-42", "confirm_password": "Correct-Horse-42",
                                             "job_title": "Senior carer", "mobile": "07700900001", "accept_aup": "yes"})
    assert client.get("/mailboxes/directory").status_code == 200
    assert client.get("/account/").status_code == 200


def test_nm8_a_first_sign_in_finished_elsewhere_signs_this_session_out(client, world):
    app = services.submit_application(application_data(), services.Report("r.pdf", PDF))
    services.assess(world.admin, app, ig_toolkit_checked=True)
    services.approve(world.admin, app)
    password = Message.objects.get(subject="Temporary password for Zoë O'Brien").body.split()[-1]
    client.post("/sign-in", {"username": "zoe.obrien@mail.example.org", "password": password})
    assert client.get("/mailboxes/directory").url == "/mailboxes/first-sign-in"
    zoe = Mailbox.objects.get(person__given_name="Zoë").person
    services.complete_first_sign_in(zoe, new_password="Correct-Horse-42", confirm_password="Correct-Horse-42",
                                    accept_aup=True, job_title="Senior carer", mobile="07700900001")
    # The temporary password is gone, and with it every session it opened: sign in again.
    assert client.get("/mailboxes/directory").url == "/sign-in?next=%2Fmailboxes%2Fdirectory"


def test_nm11_a_homes_own_user_reports_an_account_it_no_longer_needs(client, world):
    app = services.submit_application(application_data(), services.Report("r.pdf", PDF))
    services.assess(world.admin, app, ig_toolkit_checked=True)
    app = services.approve(world.admin, app)
    zoe, jo = Mailbox.objects.get(person__given_name="Zoë"), Mailbox.objects.get(person__given_name="Jo")
    client.force_login(zoe.person.user)
    page = client.get(f"/mailboxes/homes/{app.unit_id}").content.decode()
    assert "Report not needed" in page and "Reset password" not in page
    refused = client.post(f"/mailboxes/homes/{app.unit_id}", {"action": "reset", "mailbox": jo.id})
    assert "There is a problem" in refused.content.decode() and "may only report" in refused.content.decode()
    done = client.post(f"/mailboxes/homes/{app.unit_id}", {"action": "report", "mailbox": jo.id, "reason": "left"})
    assert "Deletion request" in done.content.decode()


def test_nm3_nm5_assessing_with_nothing_ticked_is_refused_and_each_step_says_it_was_done(client, world):
    from careaccess.core.audit.models import Head

    app = services.submit_application(application_data(), services.Report("r.pdf", PDF))
    login(client, world.admin)
    homes = client.get("/mailboxes/homes").content.decode()  # the waiting application is listed there
    assert f'href="/mailboxes/applications/{app.reference}"' in homes

    size = Head.objects.size()
    refused = client.post(f"/mailboxes/applications/{app.reference}", {"action": "assess"})
    assert refused.status_code == 422
    html = refused.content.decode()
    assert "There is a problem" in html and 'href="#ig_toolkit_checked"' in html and "rule NM3" in html
    app.refresh_from_db()
    assert app.assessed_at is None and Head.objects.size() == size

    done = client.post(f"/mailboxes/applications/{app.reference}", {"action": "assess", "ig_toolkit_checked": "yes"})
    assert done.status_code == 302
    page = client.get(done.url).content.decode()
    assert "nhsuk-notification-banner--success" in page and f"Assessment recorded for {app.reference}" in page
    assert "Assessment recorded" not in client.get(done.url).content.decode()  # shown once
    done = client.post(f"/mailboxes/applications/{app.reference}",
                       {"action": "approve", "shared_display_name": "RoseLodge", "location": "Leeds"})
    page = client.get(done.url).content.decode()
    assert f"{app.reference} approved" in page and "nhsuk-notification-banner" in page
    assert f'href="/mailboxes/applications/{app.reference}"' not in client.get("/mailboxes/homes").content.decode()


def test_nm3_an_unmatched_cqc_number_tells_the_administrator_what_to_do(client, world):
    app = services.submit_application(application_data(cqc_number="1-999999999"), services.Report("r.pdf", PDF))
    login(client, world.admin)
    page = client.get(f"/mailboxes/applications/{app.reference}").content.decode()
    assert "matches no care home in the directory" in page and "ask your RA manager" in page
    client.post(f"/mailboxes/applications/{app.reference}", {"action": "assess", "ig_toolkit_checked": "yes"})
    refused = client.post(f"/mailboxes/applications/{app.reference}", {"action": "approve", "shared_display_name":
                                                                       "RoseLodge", "location": "Leeds"})
    assert refused.status_code == 422
    assert 'href="#cqc_number"' in refused.content.decode() and "reject it saying so" in refused.content.decode()

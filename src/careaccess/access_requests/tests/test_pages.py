"""The access request pages with Django's test client: raising (a form per kind, the error
summary), the queues (overdue first), a request's page (history, next actions, each action, a
stale version), permission refusals (403) and the batch upload (every bad row, then confirm).
The world is the access_requests conftest's (`world`, `walk`, `CONFIRMED`)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from careaccess.access_requests import services
from careaccess.access_requests.models import AccessRequest, Batch
from careaccess.core.context import Actor
from careaccess.directory import services as directory
from careaccess.directory import testing
from careaccess.directory.models import Person

from .conftest import outbox, person_of, walk

pytestmark = pytest.mark.django_db


def login(client, actor: Actor) -> Person:
    """Sign the actor's person in (a Django user made for them: no service gives sign-ins yet)."""
    person = person_of(actor)
    if person.user_id is None:
        user = get_user_model().objects.create_user(username=person.uid, password=None)
        Person.objects.filter(pk=person.pk).update(user=user)
        person.refresh_from_db()
    client.force_login(person.user)
    return person


def squash(response) -> str:
    html = response.content.decode()
    return re.sub(r"\s+>", ">", re.sub(r"\s+", " ", html))


def summary_of(page: str) -> str:
    match = re.search(r'<div class="nhsuk-error-summary".*?</div> </div>', page)
    assert match, "no error summary on the page"
    return match.group(0)


def raise_new_user(world, site, **overrides) -> AccessRequest:
    return services.raise_request(site.requester, kind="new_user", organisation=site.organisation,
                                  service=world.service, details=world.new_user_details(site, **overrides),
                                  note="TD-1 intended position: Clinician")


def new_user_form(world, site, **overrides) -> dict:
    d = world.new_user_details(site)
    data = {"organisation": site.organisation.code, "service": world.service.code,
            "title": d["title"], "given_name": d["given_name"], "family_name": d["family_name"],
            "date_of_birth_day": "2", "date_of_birth_month": "4", "date_of_birth_year": "1985",
            "ni_number": d["ni_number"], "email": d["email"], "phone": d["phone"],
            "position": str(d["position"]), "service_role": d["service_role"], "temporary": "no",
            "note": "Ticket TD-7, intended position Clinician"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


# --- raising ---

def test_signed_out_visitors_are_sent_to_sign_in(client, world):
    for page in ("/requests/", "/requests/new", "/requests/queues/back-office", "/requests/batches/new"):
        response = client.get(page)
        assert response.status_code == 302 and response.url.startswith("/sign-in?next=")


def test_raise_choose_a_kind_then_its_form(client, world):
    login(client, world.gp.requester)
    page = squash(client.get("/requests/new"))
    assert "<h1 class=\"nhsuk-heading-l\">Raise a request</h1>" in page
    for label in ("New user", "Change of lead correspondent", "Secondary-purpose access"):
        assert label in page
    assert f'value="{world.gp.organisation.code}" selected' in page  # their one organisation, chosen

    empty = squash(client.post("/requests/new", {}))
    assert "<title>Error: Raise a request" in empty
    summary = summary_of(empty)
    assert "Select the type of request" in summary and 'href="#kind"' in summary
    assert "Select the organisation the request is for" in summary

    no_service = squash(client.post("/requests/new", {"kind": "new_user", "organisation": world.gp.organisation.code}))
    assert "Select the service: a new user request is about an account on one" in summary_of(no_service)

    response = client.post("/requests/new", {"kind": "new_user", "organisation": world.gp.organisation.code,
                                             "service": world.service.code})
    assert response.status_code == 302
    assert response.url == f"/requests/new/new_user?organisation=B86001&service={world.service.code}"
    form = squash(client.get(response.url))
    # SC4: what a sponsor pre-registers, each an input; positions and roles to choose from.
    for name in ("title", "given_name", "family_name", "date_of_birth_day", "ni_number", "email", "phone",
                 "position", "service_role", "temporary", "ends_on_day", "professional_registration", "note"):
        assert f'name="{name}"' in form, name
    assert f'<option value="{world.gp.clinician.pk}">Clinician (gives: Care Professional)</option>' in form
    assert '<option value="care-professional">Care Professional</option>' in form
    assert 'name="csrfmiddlewaretoken"' in form

    deletion = squash(client.get(f"/requests/new/deletion?organisation={world.gp.organisation.code}"))
    for name in ("person", "leaving_on_day", "cause"):
        assert f'name="{name}"' in deletion
    assert 'name="given_name"' not in deletion


def test_raise_from_a_person_page_carries_their_user_id_into_the_form(client, world):
    """The person page's "Raise a request about them" link (web.person_links) opens the first step
    with `?person=<uid>&organisation=<code>`: the organisation is chosen, the user id rides along
    and fills the chosen kind's person field (rules SC8, CC1: the request's own checks still apply)."""
    login(client, world.gp.requester)
    uid = person_of(world.gp.validator).uid
    page = squash(client.get(f"/requests/new?person={uid}&organisation={world.gp.organisation.code}"))
    assert f'<input type="hidden" name="person" value="{uid}">' in page
    assert f'value="{world.gp.organisation.code}" selected' in page
    chosen = client.post("/requests/new", {"kind": "position_assignment", "organisation": world.gp.organisation.code,
                                           "person": uid})
    assert chosen.status_code == 302
    assert chosen.url == f"/requests/new/position_assignment?organisation=B86001&person={uid}"
    assert f'id="person" name="person" type="text" value="{uid}"' in squash(client.get(chosen.url))
    # Anything but a 12-digit user id is dropped, never echoed.
    assert 'name="person"' not in squash(client.get('/requests/new?person=<script>'))
    unchanged = client.post("/requests/new", {"kind": "deletion", "organisation": world.gp.organisation.code,
                                              "person": "12"})
    assert unchanged.url == "/requests/new/deletion?organisation=B86001"


def test_raise_a_new_user_request(client, world):
    login(client, world.gp.requester)
    response = client.post("/requests/new/new_user", new_user_form(world, world.gp))
    req = AccessRequest.objects.get()
    assert response.status_code == 302 and response.url == f"/requests/{req.reference}"
    assert req.state == "submitted" and req.kind == "new_user"
    assert req.details["date_of_birth"] == "1985-04-02" and req.details["temporary"] is False
    assert req.note == "Ticket TD-7, intended position Clinician"
    page = squash(client.get(response.url))
    assert f"Request {req.reference} raised" in page
    assert "Connecting Care starter Jane Smitha" in page
    assert ">Submitted</strong>" in page
    # The requester may withdraw; validating is someone else's (DS5).
    assert 'id="do-withdraw"' in page and 'id="do-validate"' not in page
    assert [m.subject for m in outbox(req.reference)] == [f"Received: {req.title} ({req.reference})"]


def test_raise_as_a_draft(client, world):
    login(client, world.gp.requester)
    client.post("/requests/new/new_user", new_user_form(world, world.gp, draft="1"))
    req = AccessRequest.objects.get()
    assert req.state == "draft"
    page = squash(client.get(f"/requests/{req.reference}"))
    assert "Request saved as a draft" in page and 'id="do-submit"' in page


def test_raise_form_errors_are_summarised_and_nothing_is_written(client, world):
    login(client, world.gp.requester)
    data = new_user_form(world, world.gp, given_name="", email="info@example.nhs.uk", position="",
                         date_of_birth_day="31", date_of_birth_month="2", temporary="yes")
    response = client.post("/requests/new/new_user", data)
    page = squash(response)
    assert response.status_code == 200
    assert "<title>Error: New user request" in page
    summary = summary_of(page)
    assert "Date of birth must be a real date" in summary and 'href="#date_of_birth_day"' in summary
    assert not AccessRequest.objects.exists()

    data["date_of_birth_day"] = "2"
    page = squash(client.post("/requests/new/new_user", data))
    summary = summary_of(page)
    assert 'href="#given_name"' in summary
    assert "looks like a generic or shared address" in summary and 'href="#email"' in summary  # PP2
    assert 'href="#position"' in summary
    assert "Give the finishing date of temporary staff" in summary and 'href="#ends_on_day"' in summary  # CC9
    # Each message also sits by its field, and what was typed is kept.
    assert 'id="email-error"' in page and 'value="info@example.nhs.uk"' in page
    assert not AccessRequest.objects.exists()


def test_raising_needs_a_raising_position(client, world):
    auditor = testing.staff(world.icb, "auditor", given_name="Audrey", family_name="Tor")
    login(client, auditor)
    assert client.get("/requests/new").status_code == 403
    response = client.post("/requests/new/new_user", new_user_form(world, world.gp))
    assert response.status_code == 403
    assert not AccessRequest.objects.exists()


def test_raising_for_an_organisation_not_covered_is_refused(client, world):
    login(client, world.trust.requester)  # a sponsor at the trust, not at the practice
    response = client.post("/requests/new/new_user", new_user_form(world, world.gp))
    assert response.status_code == 403
    assert "may not raise requests for Organisation B86001" in squash(response)
    assert not AccessRequest.objects.exists()


def test_a_care_provider_request_from_someone_not_the_lead_is_refused(client, world):
    other = testing.staff(world.provider.organisation, "sponsor", given_name="Sid", family_name="Ponsor")
    login(client, other)
    response = client.post("/requests/new/new_user", new_user_form(world, world.provider))
    assert response.status_code == 403
    assert "lead correspondent raises requests" in squash(response)  # PP3


# --- queues ---

def test_queues_overdue_first_with_a_tag(client, world, clock):
    late = walk(world, world.gp, raise_new_user(world, world.gp), until="approved")
    clock.advance(dt.timedelta(days=10))  # past the 5 working days (CC7)
    fresh = walk(world, world.gp, raise_new_user(world, world.gp), until="approved")
    waiting = raise_new_user(world, world.gp)
    services.submit(world.gp.requester, waiting, version=waiting.version)

    login(client, world.fulfiller)
    page = squash(client.get("/requests/queues/back-office"))
    assert "Back office: to action" in page
    assert page.index(late.reference) < page.index(fresh.reference)
    assert page.count(">Overdue</strong>") == 1
    assert waiting.reference not in page  # not approved yet
    row = page[page.index(late.reference):page.index(fresh.reference)]
    assert ">Overdue</strong>" in row

    organisation = squash(client.get("/requests/"))
    for req in (late, fresh, waiting):
        assert req.reference in organisation  # the ICB oversees the practice

    login(client, world.gp.validator)
    authoriser = squash(client.get("/requests/queues/authoriser"))
    assert waiting.reference in authoriser and late.reference not in authoriser

    login(client, world.gp.requester)
    mine = squash(client.get("/requests/queues/mine"))
    assert all(r.reference in mine for r in (late, fresh, waiting))
    assert client.get("/requests/queues/nonsense").status_code == 404


def test_the_desk_queue(client, world):
    req = services.raise_request(world.trust.requester, kind="new_user", organisation=world.trust.organisation,
                                 service=world.service, details=world.new_user_details(world.trust), submit=True)
    login(client, world.trust.validator)
    assert client.get("/requests/queues/to-validate").url == "/requests/queues/desk"
    page = squash(client.get("/requests/queues/desk"))
    assert req.reference in page
    login(client, world.gp.validator)
    assert req.reference not in squash(client.get("/requests/queues/desk"))


# --- a request's page ---

def test_the_request_page_walks_a_request_through(client, world):
    req = raise_new_user(world, world.gp)
    services.submit(world.gp.requester, req, version=req.version)
    login(client, world.gp.validator)
    page = squash(client.get(f"/requests/{req.reference}"))
    assert 'id="do-validate"' in page and 'id="do-reject"' in page and 'id="do-approve"' not in page
    assert "TD-1 intended position: Clinician" in page
    response = client.post(f"/requests/{req.reference}/validate", {"validate-version": "2"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.state == "validated"

    login(client, world.gp.approver)
    # CC9: the confirmations are each summarised when missing.
    page = squash(client.post(f"/requests/{req.reference}/approve", {"approve-version": str(req.version)}))
    summary = summary_of(page)
    assert 'href="#approve-least_role"' in summary
    assert 'href="#approve-told_not_to_view_own_records"' in summary
    assert "Give the date the user completed information governance (IG) training" in summary
    assert 'href="#approve-ig_training_on_day"' in summary
    req.refresh_from_db()
    assert req.state == "validated"
    response = client.post(f"/requests/{req.reference}/approve", {
        "approve-version": str(req.version), "approve-least_role": "on",
        "approve-told_not_to_view_own_records": "on", "approve-ig_training_on_day": "1",
        "approve-ig_training_on_month": "3", "approve-ig_training_on_year": "2026"})
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.state == "approved" and req.approval["ig_training_on"] == "2026-03-01"

    login(client, world.fulfiller)
    response = client.post(f"/requests/{req.reference}/fulfil", {"fulfil-version": str(req.version)})
    assert response.status_code == 302
    page = squash(client.get(response.url))
    assert ">Fulfilled</strong>" in page and "Nothing: this request is closed." in page
    assert "jane.smitha" in page  # the username (never the password) in the outcome
    history = page[page.index('id="history"'):]
    for step in ("Raised", "Submitted", "Validated", "Approved", "Fulfilled"):
        assert f">{step}</td>" in history  # plain text: the back office may not read the audit ledger
    assert history.index(">Raised</td>") < history.index(">Fulfilled</td>")
    assert 'href="/audit/' not in history
    assert "Bo" in history  # who fulfilled it


def test_reject_needs_reasons(client, world):
    req = raise_new_user(world, world.gp)
    services.submit(world.gp.requester, req, version=req.version)
    login(client, world.gp.validator)
    page = squash(client.post(f"/requests/{req.reference}/reject", {"reject-version": "2", "reject-reason": " "}))
    assert "Say why the request is rejected" in summary_of(page) and 'href="#reject-reason"' in page
    assert '<details class="nhsuk-details" open id="details-reject">' in page
    client.post(f"/requests/{req.reference}/reject", {"reject-version": "2", "reject-reason": "Wrong practice"})
    req.refresh_from_db()
    assert req.state == "rejected" and req.reason == "Wrong practice"


def test_ask_for_and_provide_more_information(client, world):
    req = raise_new_user(world, world.gp)
    services.submit(world.gp.requester, req, version=req.version)
    login(client, world.gp.validator)
    client.post(f"/requests/{req.reference}/request_information",
                {"request_information-version": "2", "request_information-reason": "Which ward?"})
    req.refresh_from_db()
    assert req.state == "information_requested"
    login(client, world.gp.requester)
    page = squash(client.get(f"/requests/{req.reference}"))
    assert "Asked: Which ward?" in page
    client.post(f"/requests/{req.reference}/provide_information",
                {"provide_information-version": str(req.version), "provide_information-information": "Ward 7"})
    req.refresh_from_db()
    assert req.state == "submitted"


def test_a_stale_version_is_a_clear_conflict(client, world):
    req = raise_new_user(world, world.gp)
    services.submit(world.gp.requester, req, version=req.version)
    login(client, world.gp.validator)
    shown = squash(client.get(f"/requests/{req.reference}"))
    assert 'name="validate-version" value="2"' in shown
    # Meanwhile another member of staff rejects it.
    other = testing.staff(world.gp.organisation, "sponsor", given_name="Olive", family_name="Other")
    services.reject(other, req, version=2, reason="Duplicate")
    response = client.post(f"/requests/{req.reference}/validate", {"validate-version": "2"})
    assert response.status_code == 409
    page = squash(response)
    assert "Someone else acted on this request first; reload the page" in summary_of(page)
    assert ">Rejected</strong>" in page
    req.refresh_from_db()
    assert req.state == "rejected"


def test_a_lost_race_inside_the_service_is_the_same_conflict(client, world, monkeypatch):
    req = raise_new_user(world, world.gp)
    services.submit(world.gp.requester, req, version=req.version)
    login(client, world.gp.validator)
    real = services.validate

    def after_someone_else(actor, request, **kwargs):  # the other click lands between read and write
        AccessRequest.objects.filter(pk=req.pk).update(version=9)
        return real(actor, request, **kwargs)

    monkeypatch.setitem(services.TRANSITION_FUNCTIONS, "validate", after_someone_else)
    response = client.post(f"/requests/{req.reference}/validate", {"validate-version": "2"})
    assert response.status_code == 409
    assert "Someone else acted on this request first" in squash(response)


def test_separation_of_duties_and_strangers_are_refused(client, world):
    req = raise_new_user(world, world.gp)
    services.submit(world.gp.requester, req, version=req.version)
    login(client, world.gp.requester)  # DS5: the requester never validates their own request
    response = client.post(f"/requests/{req.reference}/validate", {"validate-version": "2"})
    assert response.status_code == 403
    assert "separation of duties, rule DS5" in squash(response)
    login(client, world.trust.validator)  # another organisation's desk may not even read it
    assert client.get(f"/requests/{req.reference}").status_code == 403
    assert client.post(f"/requests/{req.reference}/validate", {"validate-version": "2"}).status_code == 403
    req.refresh_from_db()
    assert req.state == "submitted" and req.version == 2
    assert client.get("/requests/REQ-NOSUCH99").status_code in (403, 404)
    login(client, world.gp.validator)
    assert client.get("/requests/REQ-NOSUCH99").status_code == 404
    assert client.post(f"/requests/{req.reference}/dance", {}).status_code == 404


def test_actions_need_csrf(world):
    from django.test import Client

    req = raise_new_user(world, world.gp)
    client = Client(enforce_csrf_checks=True)
    login(client, world.gp.requester)
    response = client.post(f"/requests/{req.reference}/submit", {"submit-version": "1"})
    assert response.status_code == 403
    req.refresh_from_db()
    assert req.state == "draft"


def test_checks_are_recorded_before_a_change_of_name_is_fulfilled(client, world):
    subject = testing.person("Nia", "Oldname")
    directory.create_assignment(testing.SYSTEM, subject, world.gp.clinician)
    req = services.raise_request(world.gp.requester, kind="change_of_name", organisation=world.gp.organisation,
                                 details={"person": subject.uid, "given_name": "Nia", "family_name": "Newname"},
                                 submit=True)
    req = walk(world, world.gp, req, until="approved")
    login(client, world.fulfiller)
    page = squash(client.get(f"/requests/{req.reference}"))
    assert "face-to-face check with proof" in page and 'id="missing"' in page
    response = client.post(f"/requests/{req.reference}/fulfil", {"fulfil-version": str(req.version)})
    assert response.status_code == 409
    assert "face-to-face check" in summary_of(squash(response))
    empty = squash(client.post(f"/requests/{req.reference}/evidence", {"evidence-kind": "face_to_face"}))
    assert "Describe what was checked" in summary_of(empty)
    login(client, world.ra_agent)
    client.post(f"/requests/{req.reference}/evidence",
                {"evidence-kind": "face_to_face", "evidence-details": "Passport and marriage certificate seen"})
    login(client, world.fulfiller)
    assert client.post(f"/requests/{req.reference}/fulfil", {"fulfil-version": str(req.version)}).status_code == 302
    req.refresh_from_db()
    assert req.state == "fulfilled"


# --- batches ---

BATCH_HEADER = "given_name,family_name,date_of_birth,ni_number,email,phone,position,service_role\n"


def _csv(world, rows: list[str]) -> SimpleUploadedFile:
    return SimpleUploadedFile("intake.csv", (BATCH_HEADER + "\n".join(rows) + "\n").encode(), "text/csv")


def test_batch_upload_reports_every_bad_row_then_confirms(client, world):
    login(client, world.gp.requester)
    assert 'type="file"' in squash(client.get("/requests/batches/new"))
    pos = world.gp.clinician.pk
    good = [f"Amir,Khan,1990-01-0{i},JC90000{i}A,amir.khan{i}@example.nhs.uk,0113 496 000{i},{pos},care-professional"
            for i in range(1, 4)]
    bad = [f"Bea,Lee,1990-02-01,JC800001A,info@example.nhs.uk,0113 496 0001,{pos},care-professional",
           f"Cal,Moe,1990-02-31,JC800002A,cal.moe@example.nhs.uk,0113 496 0002,{pos},surgeon"]
    form = {"organisation": world.gp.organisation.code, "service": world.service.code}
    page = squash(client.post("/requests/batches/new", {**form, "file": _csv(world, good[:1] + bad + good[1:])}))
    assert "2 of 5 rows have problems" in summary_of(page) and 'href="#file"' in page
    report = page[page.index('id="report"'):]
    assert "generic or shared address" in report
    assert ">2</td>" in report and ">3</td>" in report and "service_role" in report and "date_of_birth" in report
    assert not AccessRequest.objects.exists() and not Batch.objects.exists()

    page = squash(client.post("/requests/batches/new", {**form, "file": _csv(world, good)}))
    assert "Check the batch before creating it" in page and "3 requests will be raised" in page
    assert not AccessRequest.objects.exists()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    response = client.post("/requests/batches/confirm", {"token": token})
    batch = Batch.objects.get()
    assert response.status_code == 302 and response.url == f"/requests/batches/{batch.reference}"
    assert batch.requests.filter(state="submitted").count() == 3
    page = squash(client.get(response.url))
    assert f"Batch {batch.reference} raised: 3 requests" in page
    assert all(r.reference in page for r in batch.requests.all())
    # The token is spent: a second confirm creates nothing more.
    client.post("/requests/batches/confirm", {"token": token})
    assert Batch.objects.count() == 1

    # The batch moves together (SC11): the practice's authoriser validates all, then approves all.
    login(client, world.gp.validator)
    page = squash(client.get(response.url))
    assert 'id="batch-actions"' in page and 'id="do-validate"' in page
    assert client.post(f"{response.url}/validate", {}).status_code == 302
    assert set(batch.requests.values_list("state", flat=True)) == {"validated"}
    login(client, world.gp.approver)
    page = squash(client.post(f"{response.url}/approve", {"approve-least_role": "on"}))
    assert 'href="#approve-told_not_to_view_own_records"' in summary_of(page)
    assert set(batch.requests.values_list("state", flat=True)) == {"validated"}  # all or none
    assert client.post(f"{response.url}/approve", {
        "approve-least_role": "on", "approve-told_not_to_view_own_records": "on",
        "approve-ig_training_on_day": "1", "approve-ig_training_on_month": "3",
        "approve-ig_training_on_year": "2026"}).status_code == 302
    assert set(batch.requests.values_list("state", flat=True)) == {"approved"}
    assert "Request approved: it is now with the back office (3 requests)" in squash(client.get(response.url))


def test_batch_upload_errors(client, world):
    login(client, world.gp.requester)
    empty = squash(client.post("/requests/batches/new", {}))
    summary = summary_of(empty)
    assert "Select the organisation the batch is for" in summary and "Select a CSV file" in summary
    wrong = SimpleUploadedFile("intake.csv", b"name,shoe size\nAmir,9\n", "text/csv")
    page = squash(client.post("/requests/batches/new", {"organisation": world.gp.organisation.code, "file": wrong}))
    assert "unknown columns name, shoe size" in summary_of(page)
    login(client, world.trust.requester)
    assert client.post("/requests/batches/new", {"organisation": world.gp.organisation.code,
                                                 "file": _csv(world, [])}).status_code == 200  # not offered
    auditor = testing.staff(world.icb, "auditor", given_name="Audrey", family_name="Tor")
    login(client, auditor)
    assert client.get("/requests/batches/new").status_code == 403


def test_home_page_links_the_request_pages(client, world):
    login(client, world.gp.requester)
    home = squash(client.get("/"))
    assert 'href="/requests/new"' in home and 'href="/requests/"' in home
    login(client, world.fulfiller)
    assert 'href="/requests/queues/back-office"' in squash(client.get("/"))

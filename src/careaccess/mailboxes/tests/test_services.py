"""Applications, assessment, decisions, provisioning, shared mailboxes and ongoing management
(NM1-NM12, PP2, CC8), each refusal checked to change nothing."""

from __future__ import annotations

import pytest

from careaccess.access_requests.models import AccessRequest
from careaccess.core.audit.models import Head
from careaccess.core.errors import Conflict, Forbidden, InvalidInput
from careaccess.core.outbox.models import Message
from careaccess.directory import testing
from careaccess.directory.models import Account, OrganisationalUnit, Person
from careaccess.mailboxes import policy, rules, selectors, services
from careaccess.mailboxes.models import Application, HelpdeskDelegation, Mailbox, Membership, SharedMailbox

from .conftest import PDF, application_data

REPORT = services.Report("ig report.pdf", PDF)


def state():
    return (Application.objects.count(), Mailbox.objects.count(), SharedMailbox.objects.count(),
            Membership.objects.count(), OrganisationalUnit.objects.count(), Message.objects.count(),
            Head.objects.size())


def submitted(world, **overrides) -> Application:
    return services.submit_application(application_data(**overrides), REPORT, client="203.0.113.9")


def approved(world, **overrides) -> Application:
    app = submitted(world, **overrides)
    services.assess(world.admin, app, ig_toolkit_checked=True)
    return services.approve(world.admin, app)


# --- NM1, NM2, NM12 ---

def test_nm1_nm2_application_stored_receipt_with_sponsor_timescale(world, settings):
    settings.CAREACCESS_MAILBOX_DECISION_TIMESCALES = {"QWO": "15 working days"}
    app = submitted(world)
    assert app.state == "submitted" and app.sponsor == world.icb and len(app.individuals) == 2
    receipt = Message.objects.get(to=["pat.manager@roselodge.example"])
    assert app.reference in receipt.body and "15 working days" in receipt.body
    stored = services.report_path(app)
    assert stored.read_bytes() == PDF and stored.parent == policy.upload_dir()
    assert "ig" not in stored.name and len(stored.stem) == 32  # random name, never the uploaded one


def test_nm1_incomplete_application_refused_with_every_error_and_nothing_changed(world):
    before = state()
    with pytest.raises(InvalidInput) as refused:
        services.submit_application({"sponsor": "QWO"}, None)
    for field in ("applicant_name", "applicant_email", "home_name", "home_postcode", "home_phone", "cqc_number",
                  "ig_toolkit_completed", "exchanges_data", "benefits", "individuals-0-first_name"):
        assert field in refused.value.errors
    assert state() == before


@pytest.mark.parametrize("field,value", [
    ("cqc_number", "123456789"), ("cqc_number", "1-12AB"), ("cqc_number", "2-123456789"),
    ("home_phone", "12345"), ("home_postcode", "NOT A POSTCODE"), ("applicant_email", "not-an-email"),
    ("applicant_email", "info@roselodge.example"),  # PP2
    ("sponsor", "NOPE"), ("sponsor", "VN123"),  # a care home does not sponsor
])
def test_nm1_bad_input_refused(world, field, value):
    before = state()
    with pytest.raises(InvalidInput) as refused:
        submitted(world, **{field: value})
    assert field in refused.value.errors
    assert state() == before


def test_nm1_bad_individual_rows_refused(world):
    rows = [{"title": "", "first_name": "J0", "last_name": "Bloggs", "mobile": "0113 496 0000"}]
    with pytest.raises(InvalidInput) as refused:
        submitted(world, individuals=rows)
    assert set(refused.value.errors) >= {"individuals-0-title", "individuals-0-first_name", "individuals-0-mobile"}


@pytest.mark.parametrize("report,message", [
    (None, "Attach"), (services.Report("r.pdf", b"GIF89a not a pdf"), "must be a PDF"),
    (services.Report("big.pdf", b"%PDF-" + b"0" * 20_000), "smaller than"),
])
def test_nm1_report_must_be_a_small_pdf(world, report, message):
    before = state()
    with pytest.raises(InvalidInput) as refused:
        services.submit_application(application_data(), report)
    assert message in refused.value.errors["ig_report"]
    assert state() == before
    assert not policy.upload_dir().exists() or not list(policy.upload_dir().iterdir())  # nothing stored


def test_nm1_duplicate_submission_detected(world):
    first = submitted(world)
    before = state()
    with pytest.raises(Conflict, match=first.reference):
        submitted(world, applicant_name="Someone Else")
    assert state() == before
    assert len(list(policy.upload_dir().glob("*.pdf"))) == 1  # the refused upload is not kept


def test_nm12_group_home_needs_head_office_and_its_knowledge(world):
    with pytest.raises(InvalidInput) as refused:
        submitted(world, group_name="Sunrise Homes")
    assert {"head_office", "head_office_aware"} <= set(refused.value.errors)
    app = submitted(world, group_name="Sunrise Homes", head_office="Sunrise House, York", head_office_aware="yes")
    assert app.head_office_aware


# --- NM3, NM4, NM6 ---

def test_nm6_queue_is_for_the_sponsors_administrators_only(world):
    app = submitted(world)
    assert list(selectors.queue(world.admin)) == [app]
    assert list(selectors.queue(world.other_admin)) == []
    assert list(selectors.queue(world.sponsor)) == []


def test_nm6_other_organisations_administrator_cannot_assess_or_decide(world):
    app = submitted(world)
    before = state()
    with pytest.raises(Forbidden):
        services.assess(world.other_admin, app, ig_toolkit_checked=True)
    services.assess(world.admin, app, ig_toolkit_checked=True)
    before = state()
    for decide in (lambda: services.approve(world.other_admin, app),
                   lambda: services.reject(world.other_admin, app, reasons="no"),
                   lambda: services.approve(world.sponsor, app)):
        with pytest.raises(Forbidden):
            decide()
    assert state() == before
    assert Application.objects.get(pk=app.pk).state == "submitted"


def test_nm3_cqc_number_must_match_a_known_care_home(world):
    app = submitted(world, cqc_number="1-999999999")
    services.assess(world.admin, app, ig_toolkit_checked=True)
    before = state()
    with pytest.raises(InvalidInput, match="NM3"):
        services.approve(world.admin, app)
    assert state() == before


def test_nm3_ig_toolkit_must_be_confirmed(world):
    app = submitted(world)
    before = state()
    with pytest.raises(InvalidInput, match="IG toolkit") as refused:  # nothing ticked: not an assessment
        services.assess(world.admin, app, ig_toolkit_checked=False)
    assert list(refused.value.errors) == ["ig_toolkit_checked"] and "NM3" in refused.value.errors["ig_toolkit_checked"]
    assert state() == before
    app.refresh_from_db()
    assert app.assessed_at is None and app.cqc_home is None
    with pytest.raises(InvalidInput, match="Assess the application first"):
        services.approve(world.admin, app)


def test_nm3_an_unmatched_cqc_number_says_what_the_administrator_does(world):
    app = submitted(world, cqc_number="1-999999999")
    services.assess(world.admin, app, ig_toolkit_checked=True)
    with pytest.raises(InvalidInput) as refused:
        services.approve(world.admin, app)
    message = refused.value.errors["cqc_number"]
    assert "1-999999999" in message and "NM3" in message
    assert "reject it" in message and "RA manager" in message and "assess the application again" in message


def five(n=5):
    return [{"title": "Ms", "first_name": f"Ann{chr(97 + i)}", "last_name": "Carer", "mobile": f"0770090001{i}"}
            for i in range(n)]


def test_nm4_more_than_four_accounts_get_four(world):
    app = approved(world, individuals=five())
    assert Mailbox.objects.filter(application=app).count() == 3 and SharedMailbox.objects.count() == 1
    approval = Message.objects.filter(subject__contains="approved").get()
    assert "only 4 have been created" in approval.body


def test_nm4_accepted_justification_gets_all(world):
    app = submitted(world, individuals=five())
    with pytest.raises(InvalidInput):
        services.assess(world.admin, app, ig_toolkit_checked=True, justification_accepted=True)
    services.assess(world.admin, app, ig_toolkit_checked=True, justification="Three shifts, 40 staff",
                    justification_accepted=True)
    services.approve(world.admin, app)
    assert Mailbox.objects.filter(application=app).count() == 5


# --- NM5 ---

def test_nm5_rejection_emails_reasons_and_alternatives(world):
    app = submitted(world)
    with pytest.raises(InvalidInput):
        services.reject(world.admin, app, reasons=" ")
    services.reject(world.admin, app, reasons="The home does not exchange patient data")
    mail = Message.objects.get(subject__contains="rejected")
    assert "does not exchange patient data" in mail.body and policy.secure_email_url() in mail.body
    assert Mailbox.objects.count() == 0 and OrganisationalUnit.objects.count() == 0
    submitted(world)  # a rejected home may apply again
    with pytest.raises(Conflict):
        services.reject(world.admin, app, reasons="again")


# --- NM7, NM8, NM9, CC8 ---

def test_nm7_nm8_nm9_approval_provisions_the_home(world):
    app = approved(world)
    unit = app.unit
    assert unit.organisation == world.icb and unit.name == "Rose Lodge"  # NM7
    zoe = Mailbox.objects.get(person__given_name="Zoë")
    assert zoe.address == "zoe.obrien@mail.example.org" and zoe.display_name == "Zoë O'Brien"  # NM8
    assert zoe.person.title == "Mrs" and zoe.must_change_password and zoe.unit == unit
    assert Account.objects.get(person=zoe.person, service=world.service).username == zoe.address
    shared = SharedMailbox.objects.get()
    assert shared.address == "qwoicb.roselodgeleeds@mail.example.org"  # NM9
    rules.check_shared_display_name(shared.display_name)
    # CC8: username and password in two separate messages, the password never beside the username
    username_mail = Message.objects.get(subject="New mailbox account for Zoë O'Brien")
    password_mail = Message.objects.get(subject="Temporary password for Zoë O'Brien")
    assert zoe.address in username_mail.body and zoe.address not in password_mail.body
    password = password_mail.body.split()[-1]
    assert zoe.person.user.check_password(password) and password not in username_mail.body


def test_nm8_same_names_get_unique_addresses(world):
    approved(world)
    testing.organisation("VN124", kind="care_home", parent="QWO", cqc_number="1-123456780")
    approved(world, cqc_number="1-123456780", home_name="Rose Lodge", home_town="London East",
             applicant_email="kim@other.example", shared_wanted="no",
             individuals=[{"title": "Mr", "first_name": "Jo", "last_name": "Bloggs", "mobile": "07700900009"}])
    assert sorted(Mailbox.objects.filter(person__given_name="Jo").values_list("address", flat=True)) == [
        "jo.bloggs1@mail.example.org", "jo.bloggs@mail.example.org"]


def test_nm9_same_home_name_needs_a_telling_location(world):
    app1 = approved(world)
    testing.organisation("VN124", kind="care_home", parent="QWO", cqc_number="1-123456780")
    app2 = submitted(world, cqc_number="1-123456780", applicant_email="kim@other.example")
    services.assess(world.admin, app2, ig_toolkit_checked=True)
    before = state()
    with pytest.raises(InvalidInput, match="more precise location"):
        services.approve(world.admin, app2)
    assert state() == before
    with pytest.raises(InvalidInput) as refused:
        services.approve(world.admin, app2, location="Leeds North", shared_display_name="Rose Lodge 2")
    assert "shared_display_name" in refused.value.errors
    services.approve(world.admin, app2, location="Leeds North", shared_display_name="RoseLodgeNorth", hidden=True)
    assert SharedMailbox.objects.get(application=app2).address == "qwoicb.roselodgeleedsnorth@mail.example.org"
    assert app1.shared_mailboxes.get().address != app2.shared_mailboxes.get().address


def test_nm9_members_send_as_or_full_access_same_organisation_only(world):
    app = approved(world)
    testing.organisation("VN124", kind="care_home", parent="QWO", cqc_number="1-123456780")
    other = approved(world, cqc_number="1-123456780", home_name="Oak House", applicant_email="kim@oak.example",
                     individuals=[{"title": "Mr", "first_name": "Kim", "last_name": "Oak", "mobile": "07700900009"}])
    shared = app.shared_mailboxes.get()
    zoe = Mailbox.objects.get(person__given_name="Zoë")
    services.add_member(world.admin, shared, zoe, "send_as")
    services.add_member(world.admin, shared, zoe, "full_access")
    before = state()
    with pytest.raises(InvalidInput, match="another organisation"):
        services.add_member(world.admin, shared, other.mailboxes.get(), "send_as")
    with pytest.raises(InvalidInput):
        services.add_member(world.admin, shared, zoe, "owner")
    with pytest.raises(Forbidden):
        services.add_member(world.other_admin, shared, zoe, "send_as")
    with pytest.raises(Conflict):
        services.add_member(world.admin, shared, zoe, "send_as")
    assert state() == before


def test_nm9_bad_shared_mailbox_names_refused(world):
    app = approved(world, shared_wanted="no")
    before = state()
    for name in ("Rose Lodge", "Referrals2", "A" * 30, "Rose&Co"):
        with pytest.raises(InvalidInput):
            services.create_shared_mailbox(world.admin, app.unit, display_name=name, location="Leeds")
    assert state() == before
    shared = services.create_shared_mailbox(world.admin, app.unit, display_name="Referrals", location="Leeds")
    assert shared.address == "qwoicb.roselodgeleeds@mail.example.org"


# --- first sign-in (NM8) ---

def test_nm8_first_sign_in_changes_password_accepts_aup_completes_profile_then_welcome(world):
    approved(world)
    zoe = Mailbox.objects.get(person__given_name="Zoë")
    assert services.pending_first_sign_in(zoe.person) == zoe
    with pytest.raises(InvalidInput) as refused:
        services.complete_first_sign_in(zoe.person, new_password="short", confirm_password="other", accept_aup=False,
                                        job_title="", mobile="123")
    assert set(refused.value.errors) == {"new_password", "confirm_password", "accept_aup", "job_title", "mobile"}
    assert services.pending_first_sign_in(zoe.person) is not None
    services.complete_first_sign_in(zoe.person, new_password="Correct-Horse-42", confirm_password="Correct-Horse-42",
                                    accept_aup=True, job_title="Senior carer", mobile="07700 900001")
    zoe.refresh_from_db()
    assert services.pending_first_sign_in(zoe.person) is None and zoe.aup_accepted_at and zoe.job_title == "Senior carer"
    assert zoe.person.user.check_password("Correct-Horse-42")
    assert Message.objects.filter(to=[zoe.address], subject="Welcome to your mailbox").exists()


# --- NM10 ---

def test_nm10_directory_search_people_and_visible_shared_mailboxes(world):
    app = approved(world)
    zoe = Mailbox.objects.get(person__given_name="Zoë")
    services.complete_first_sign_in(zoe.person, new_password="Correct-Horse-42", confirm_password="Correct-Horse-42",
                                    accept_aup=True, job_title="Senior carer", mobile="07700 900001")
    shared = app.shared_mailboxes.get()
    services.add_member(world.admin, shared, zoe, "full_access")
    assert [e.address for e in selectors.search(name="zoë")] == [zoe.address]
    assert [e.address for e in selectors.search(role="carer")] == [zoe.address]
    everyone = selectors.search(organisation="Rose Lodge")
    assert {e.kind for e in everyone} == {"person", "shared"} and len(everyone) == 3
    assert all(not hasattr(e, "members") for e in everyone)
    services.set_hidden(world.admin, shared, True)
    assert shared.address not in [e.address for e in selectors.search(organisation="Rose Lodge")]
    assert selectors.search(name=shared.display_name) == []


# --- NM11 ---

def test_nm11_helpdesk_delegation_unlock_and_password_reset(world):
    app = approved(world)
    jo = Mailbox.objects.get(person__given_name="Jo")
    helper = testing.person(given_name="Hal", family_name="Desk")
    from careaccess.core import permissions
    helpdesk = permissions.actor_for_person(helper)
    with pytest.raises(Forbidden, match="NM11"):
        services.reset_password(helpdesk, jo)
    with pytest.raises(Forbidden):
        services.delegate_helpdesk(world.other_admin, app.unit, helper)
    services.delegate_helpdesk(world.admin, app.unit, helper)
    assert HelpdeskDelegation.objects.count() == 1
    Mailbox.objects.filter(pk=jo.pk).update(must_change_password=False, state="locked")
    services.unlock(helpdesk, jo)
    services.reset_password(helpdesk, jo)
    jo.refresh_from_db()
    assert jo.state == "active" and jo.must_change_password
    mail = Message.objects.filter(to=[jo.address], subject="Your temporary password").get()
    assert jo.person.user.check_password(mail.body.split()[5])


def test_nm11_home_reports_account_no_longer_needed_becomes_deletion_request(world):
    approved(world)
    zoe, jo = Mailbox.objects.get(person__given_name="Zoë"), Mailbox.objects.get(person__given_name="Jo")
    from careaccess.core import permissions
    with pytest.raises(InvalidInput):
        services.report_unneeded(permissions.actor_for_person(zoe.person), jo, reason="")
    req = services.report_unneeded(permissions.actor_for_person(zoe.person), jo, reason="Jo has left")
    assert isinstance(req, AccessRequest) and req.kind == "deletion" and req.subject == jo.person
    assert req.state == "submitted" and req.organisation == world.icb and "Jo has left" in req.note
    stranger = permissions.actor_for_person(testing.person(given_name="Nobody", family_name="Else"))
    with pytest.raises(Forbidden):
        services.report_unneeded(stranger, zoe, reason="prank")


def test_nm8_address_taken_by_an_existing_account_on_the_mail_service_is_skipped(world):
    from careaccess.directory import services as directory
    someone = testing.person(given_name="Other", family_name="Jo")
    directory.create_account(testing.SYSTEM, someone, world.service, username="jo.bloggs@mail.example.org")
    approved(world)
    assert Mailbox.objects.get(person__given_name="Jo").address == "jo.bloggs1@mail.example.org"


def test_pp9_every_step_is_audited(world):
    from careaccess.core.audit.models import Entry

    app = approved(world)
    shared = app.shared_mailboxes.get()
    zoe = Mailbox.objects.get(person__given_name="Zoë")
    services.add_member(world.admin, shared, zoe, "send_as")
    services.set_hidden(world.admin, shared, True)
    services.complete_first_sign_in(zoe.person, new_password="Correct-Horse-42", confirm_password="Correct-Horse-42",
                                    accept_aup=True, job_title="Carer", mobile="07700900001")
    actions = set(Entry.objects.filter(action__startswith="mailbox.").values_list("action", flat=True))
    assert actions >= {"mailbox.application_submitted", "mailbox.application_assessed", "mailbox.application_approved",
                       "mailbox.created", "mailbox.shared_created", "mailbox.member_added",
                       "mailbox.shared_visibility", "mailbox.first_sign_in"}
    approval = Entry.objects.get(action="mailbox.application_approved")
    assert approval.actor_uid == world.admin.person_uid and approval.organisation_code == "QWO"
    assert Entry.objects.filter(action="unit.created", organisation_code="QWO").exists()  # NM7

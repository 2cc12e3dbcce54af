"""Notifications through the outbox (CC8, CC5, NM2-like receipts): written in the transaction of
the step that causes them."""

import pytest

from careaccess.access_requests import services
from careaccess.access_requests.tests.conftest import outbox, person_of, walk
from careaccess.core.errors import Forbidden
from careaccess.core.outbox.models import Message

pytestmark = pytest.mark.django_db


def new_user(world, site, **overrides):
    return services.raise_request(site.requester, kind="new_user", organisation=site.organisation,
                                  service=world.service, details=world.new_user_details(site, **overrides))


def test_receipt_tells_the_expected_timescale(world):
    # rule CC7 via the receipt
    site = world.gp
    req = services.submit(site.requester, new_user(world, site))
    [receipt] = outbox(req.reference)
    assert receipt.to == [person_of(site.requester).email]
    assert receipt.subject == f"Received: {req.title} ({req.reference})"
    assert "within 5 working days of reaching the back office" in receipt.body


def test_titles_follow_cc5(world):
    # rule CC5
    req = new_user(world, world.gp, given_name="Jane", family_name="Smith")
    assert req.title == "Connecting Care starter Jane Smith"


def test_a_new_account_sends_username_and_password_separately(world):
    # rule CC8
    site = world.gp
    req = walk(world, site, new_user(world, site))
    messages = outbox(req.reference)
    credentials = [m for m in messages if m.kind.startswith("credentials.")]
    assert sorted(m.kind for m in credentials) == ["credentials.password", "credentials.username"]
    username = next(m for m in credentials if m.kind == "credentials.username")
    password = next(m for m in credentials if m.kind == "credentials.password")
    assert username.to == password.to == [req.details["email"]]
    assert req.outcome["username"] in username.body and "Temporary password" not in username.body
    assert req.outcome["username"] not in password.body and "Temporary password" in password.body
    kinds = [m.subject.split(":")[0] for m in messages if m.kind == "request"]
    assert sorted(kinds) == ["Approved", "Received", "Resolved"]
    resolved = next(m for m in messages if m.subject.startswith("Resolved"))
    # the requester and the authoriser get the resolution message
    assert set(resolved.to) == {person_of(site.requester).email, person_of(site.approver).email}


def test_credentials_go_to_the_nominated_person_where_set(world):
    # rule CC8: a nominated person receives them for onward handing
    site = world.gp
    services.set_credentials_nominee(world.fulfiller, site.organisation, name="Nora Nominee",
                                     email="nora.nominee@example.nhs.uk")
    req = walk(world, site, new_user(world, site))
    credentials = [m for m in outbox(req.reference) if m.kind.startswith("credentials.")]
    assert len(credentials) == 2
    assert all(m.to == ["nora.nominee@example.nhs.uk"] and "hand it on" in m.body for m in credentials)
    assert req.outcome["credentials_to"] == "nominee"


def test_only_back_office_staff_set_the_nominee(world):
    with pytest.raises(Forbidden):
        services.set_credentials_nominee(world.gp.requester, world.gp.organisation, name="X", email="x.y@z.org")


def test_rejection_states_the_reasons(world):
    site = world.gp
    req = services.submit(site.requester, new_user(world, site))
    services.reject(site.validator, req, reason="the position asked for is wrong; ask for Receptionist")
    rejection = next(m for m in outbox(req.reference) if m.subject.startswith("Rejected"))
    assert "ask for Receptionist" in rejection.body and rejection.to == [person_of(site.requester).email]


def test_more_information_needed(world):
    # rule CC10
    site = world.gp
    req = services.submit(site.requester, new_user(world, site))
    services.request_information(site.validator, req, reason="which team will they join?")
    asked = next(m for m in outbox(req.reference) if m.subject.startswith("More information needed"))
    assert "which team" in asked.body


def test_other_outcomes_are_notified_by_email(world):
    # rule CC8: e.g. a reactivation
    from careaccess.directory import services as directory
    from careaccess.directory import testing

    site = world.trust
    person = testing.person(given_name="Ria", family_name="Back")
    directory.create_assignment(testing.SYSTEM, person, site.admin)
    account = directory.create_account(testing.SYSTEM, person, world.service, username="ria.back", state="suspended")
    req = services.raise_request(site.requester, kind="reactivation", organisation=site.organisation,
                                 service=world.service, details={"person": person.uid})
    req = walk(world, site, req)
    to_user = [m for m in outbox(req.reference) if m.to == [person.email]]
    assert len(to_user) == 1 and "reactivated" in to_user[0].body
    assert account.pk == req.outcome["account"]


def test_a_refused_step_queues_nothing(world):
    site = world.gp
    req = new_user(world, site)
    before = Message.objects.count()
    with pytest.raises(Exception):
        services.approve(site.approver, req)
    assert Message.objects.count() == before


def test_the_temporary_password_signs_the_new_person_in(world):
    # rule CC8: the password sent is the person's real careaccess sign-in, and only it works
    from django.contrib.auth import authenticate

    site = world.gp
    req = walk(world, site, new_user(world, site))
    message = next(m for m in outbox(req.reference) if m.kind == "credentials.password")
    password = message.body.split(": ", 1)[1].split("\n", 1)[0].strip()
    uid = req.outcome["person"]
    assert authenticate(username=uid, password=password) is not None
    assert authenticate(username=uid, password=password + "x") is None


def test_the_directory_changes_of_a_fulfilment_link_to_the_request(world):
    # rules PP9, PP15: every entry leads back to the request that caused it
    from careaccess.core.audit.models import Entry

    site = world.gp
    req = walk(world, site, new_user(world, site))
    linked = set(Entry.objects.filter(access_request=req.reference).values_list("action", flat=True))
    assert {"person.created", "assignment.created", "account.created", "person.signin_created"} <= linked
    assert Entry.objects.filter(person_uid=req.outcome["person"], access_request__isnull=True).count() == 0

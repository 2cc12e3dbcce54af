"""Rules PP8 and PP13: a suspended person asks from the address on the account; staff check name
and address before reinstating, through a reactivation request."""

import datetime as dt

import pytest

from careaccess.access_requests import services as requests
from careaccess.core.errors import Conflict, Forbidden, InvalidInput
from careaccess.directory.models import Account
from careaccess.lifecycle import reinstatement, sweeps
from careaccess.lifecycle.models import Reinstatement

from .conftest import ledger_size, messages_to


@pytest.fixture
def suspended(world, clock):
    person, account = world.user(world.provider, given_name="Rae", last_used_at=clock.now())
    clock.advance(dt.timedelta(days=61))
    sweeps.inactivity()
    account.refresh_from_db()
    assert account.state == Account.State.SUSPENDED
    return world, person, account


def _token_from_email(email: str) -> str:
    body = [m for m in messages_to(email) if m.subject.startswith("Confirm your request")][-1].body
    link = next(line for line in body.splitlines() if "/lifecycle/reinstate/confirm/" in line)
    return link.rsplit("/", 1)[1]


def test_pp13_reinstated_through_a_reactivation_request_after_name_and_address_match(suspended, clock):
    world, person, account = suspended
    rows = reinstatement.ask(given_name="rae ", family_name=person.family_name.upper(), email=person.email.upper())
    assert len(rows) == 1 and rows[0].state == Reinstatement.State.AWAITING_CONFIRMATION
    row = reinstatement.confirm(_token_from_email(person.email))
    assert row.state == Reinstatement.State.CONFIRMED
    match = reinstatement.matches(row)
    assert match.name and match.address

    row = reinstatement.reinstate(world.back_office, row)
    req = row.access_request
    assert row.state == Reinstatement.State.REQUESTED
    assert req.kind == "reactivation" and req.state == "submitted" and req.details["requested_from"] == person.email
    # The request goes the usual way: validated and approved by the lead correspondent, fulfilled by the back office.
    req = requests.validate(world.lead, req, version=req.version)
    req = requests.approve(world.lead, req, version=req.version, confirmations=requests.Confirmations(
        least_role=True, told_not_to_view_own_records=True, ig_training_on=clock.today() - dt.timedelta(days=30)))
    requests.fulfil(world.back_office, req, version=req.version)
    account.refresh_from_db()
    assert account.state == Account.State.ACTIVE


def test_pp13_a_request_from_a_different_address_is_refused_and_changes_nothing(suspended, clock):
    world, person, account = suspended
    size = ledger_size()
    rows = reinstatement.ask(given_name="Rae", family_name=person.family_name, email="rae.personal@example.com")
    assert rows == [] and not Reinstatement.objects.exists() and ledger_size() == size
    refusal = messages_to("rae.personal@example.com")[-1]
    assert "from the email address on the account" in refusal.body
    account.refresh_from_db()
    assert account.state == Account.State.SUSPENDED


def test_pp13_staff_cannot_reinstate_when_the_name_does_not_match(suspended, clock):
    world, person, account = suspended
    reinstatement.ask(given_name="Someone", family_name="Else", email=person.email)
    row = reinstatement.confirm(_token_from_email(person.email))
    assert not reinstatement.matches(row).name
    with pytest.raises(Forbidden) as refused:
        reinstatement.reinstate(world.back_office, row)
    assert "does not match" in refused.value.message
    row.refresh_from_db()
    assert row.state == Reinstatement.State.CONFIRMED and row.access_request is None
    with pytest.raises(Forbidden):
        reinstatement.reinstate(world.lead, row)  # not back-office staff
    row = reinstatement.refuse(world.back_office, row, reason="the name does not match the account")
    assert row.state == Reinstatement.State.REFUSED
    assert "not reinstated" in messages_to(person.email)[-1].subject


def test_pp13_the_link_expires_and_a_tampered_link_is_refused(suspended, clock):
    world, person, _ = suspended
    reinstatement.ask(given_name="Rae", family_name=person.family_name, email=person.email)
    token = _token_from_email(person.email)
    with pytest.raises(InvalidInput):
        reinstatement.confirm(token[:-2] + "xx")
    clock.advance(dt.timedelta(hours=25))
    with pytest.raises(Conflict):
        reinstatement.confirm(token)
    assert Reinstatement.objects.get().state == Reinstatement.State.AWAITING_CONFIRMATION


def test_pp13_the_form_checks_its_fields(world):
    with pytest.raises(InvalidInput) as bad:
        reinstatement.ask(given_name="", family_name="", email="not an address")
    assert set(bad.value.errors) == {"given_name", "family_name", "email"}

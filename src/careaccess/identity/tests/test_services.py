"""Identity checks (DS1, DS5, DS7), terms (SC1, DS10), training (CC9) and RA agent appointments (DS10)."""

import datetime as dt

import pytest

from careaccess.core import permissions
from careaccess.core.audit.models import Entry, Head
from careaccess.core.errors import Conflict, Forbidden, InvalidInput
from careaccess.directory import testing
from careaccess.directory.models import Assignment, Person
from careaccess.identity import selectors, services
from careaccess.identity.models import IdentityCheck, RaAgentAppointment, TermsAcceptance

pytestmark = pytest.mark.django_db


def ledger_size() -> int:
    return Head.objects.size()


@pytest.fixture
def world(clock):
    testing.staff_catalogue()
    icb = testing.organisation("QWO", kind="icb", oversees_descendants=True)
    practice = testing.organisation("B86001", parent="QWO")

    class W:
        pass

    w = W()
    w.icb, w.practice = icb, practice
    w.agent = testing.staff(icb, "ra_agent", given_name="Rita", family_name="Agent")
    w.manager = testing.staff(icb, "ra_manager", given_name="Manny", family_name="Manager")
    w.sponsor = testing.staff(practice, "sponsor", given_name="Sam", family_name="Sponsor")
    w.applicant = testing.person(given_name="April", family_name="Applicant")
    return w


def evidence(**overrides):
    data = dict(document_type="photocard_driving_licence", issuing_country="gb", document_number="morga657054sm9ij",
                document_expires_on="2030-01-31", address_proof_kind="water bill",
                address_proof_issuer="Wessex Water", address_proof_issued_on="2026-04-15", photo=b"\x89PNG-photo")
    data.update(overrides)
    return data


def test_an_ra_agent_records_the_evidence_and_the_assurance_level(world):
    # rules DS1, DS7
    size = ledger_size()
    check = services.verify_identity(world.agent, world.applicant, **evidence())
    assert check.document_number == "MORGA657054SM9IJ" and check.issuing_country == "GB"
    assert check.assurance_level == 3 and selectors.assurance_level(world.applicant) == 3
    assert check.checked_by_id == world.agent.person_id
    entry = Entry.objects.get(index=size)
    assert entry.action == "identity.verified" and entry.person_uid == world.applicant.uid
    assert "MORGA657054SM9IJ" not in entry.after and "9IJ" in entry.after  # only the number's end is logged


def test_only_ra_agents_check_identity(world):
    # rule DS5: only RA agents check identity
    with pytest.raises(Forbidden):
        services.verify_identity(world.sponsor, world.applicant, **evidence())


def test_nobody_checks_their_own_identity(world):
    me = Person.objects.get(id=world.agent.person_id)
    size = ledger_size()
    with pytest.raises(Forbidden, match="their own identity"):
        services.verify_identity(world.agent, me, **evidence())
    assert ledger_size() == size and not IdentityCheck.objects.filter(person=me).exists()


def test_the_sponsor_of_the_request_never_checks_identity_for_it(world):
    # rule DS5
    both = testing.staff(world.icb, "ra_agent", "sponsor", given_name="Both")
    sponsor = Person.objects.get(id=both.person_id)
    with pytest.raises(Forbidden, match="sponsor of this request"):
        services.verify_identity(both, world.applicant, sponsor=sponsor, **evidence())
    services.verify_identity(world.agent, world.applicant, sponsor=sponsor, request_reference="SD-1", **evidence())


def test_expired_documents_and_stale_proofs_are_refused_with_every_reason(world):
    # rule DS7: proof of address dated within the last 3 months; in-date documents
    size = ledger_size()
    with pytest.raises(InvalidInput) as refused:
        services.verify_identity(world.agent, world.applicant, **evidence(
            document_expires_on="2026-05-31", address_proof_issued_on="2026-02-28", address_proof_issuer="utility bill",
            issuing_country="GBR"))
    assert set(refused.value.errors) == {"document_expires_on", "address_proof_issued_on", "address_proof_issuer",
                                         "issuing_country"}
    assert "expired on 2026-05-31" in refused.value.errors["document_expires_on"]
    assert "more than 3 months ago" in refused.value.errors["address_proof_issued_on"]
    assert ledger_size() == size and not IdentityCheck.objects.exists()


def test_the_proof_of_address_window_follows_the_clock(world, clock):
    services.verify_identity(world.agent, world.applicant, **evidence(address_proof_issued_on="2026-03-01"))
    clock.advance(dt.timedelta(days=1))
    with pytest.raises(InvalidInput, match="3 months"):
        services.verify_identity(world.agent, world.applicant, **evidence(address_proof_issued_on="2026-03-01"))


def test_the_proof_of_address_age_is_a_setting(world, settings):
    settings.CAREACCESS_ADDRESS_PROOF_MAX_AGE_MONTHS = 1
    with pytest.raises(InvalidInput, match="1 months"):
        services.verify_identity(world.agent, world.applicant, **evidence(address_proof_issued_on="2026-04-15"))


def test_without_a_photo_the_level_is_lower(world):
    check = services.verify_identity(world.agent, world.applicant, **evidence(photo=None))
    assert check.assurance_level == 2 and check.photo_sha256 == ""


# --- terms (SC1, DS10) ---

def test_terms_are_versioned_and_accepted_by_the_person_themselves(world):
    # rule SC1: accepted at registration (and at every sign-in: credentials/tests/test_signin.py)
    with pytest.raises(Forbidden):
        services.publish_terms(world.agent, kind="user", version="1", title="Terms", text="...")
    services.publish_terms(world.manager, kind="user", version="1", title="Terms of use", text="Keep it safe.")
    with pytest.raises(Conflict):
        services.publish_terms(world.manager, kind="user", version="1", title="Terms of use", text="again")
    me = permissions.actor_for_person(world.applicant)
    with pytest.raises(Forbidden, match="themselves"):
        services.accept_terms(world.agent, world.applicant, version="1")
    services.accept_terms(me, world.applicant, version="1")
    services.publish_terms(world.manager, kind="user", version="2", title="Terms of use", text="Keep it safer.")
    with pytest.raises(InvalidInput, match="read and accept version 2"):
        services.accept_terms(me, world.applicant, version="1")
    services.accept_terms(me, world.applicant, version="2")
    assert selectors.has_accepted(world.applicant, selectors.current_terms("user"))
    assert TermsAcceptance.objects.filter(person=world.applicant).count() == 2


# --- training and RA agent appointments ---

def test_ig_training_is_recorded(world):
    # rule CC9: IG training current
    with pytest.raises(InvalidInput, match="future"):
        services.record_training(world.sponsor, world.applicant, kind="ig", completed_on="2026-06-02")
    services.record_training(world.sponsor, world.applicant, kind="ig", completed_on="2026-05-01")
    assert selectors.latest_training(world.applicant).completed_on == dt.date(2026, 5, 1)


@pytest.fixture
def ra_position(world):
    return testing.position(world.practice, "RA agent", capabilities=["ra_agent"])


def test_a_new_ra_agent_is_appointed_by_a_sponsor_and_trained_by_the_deadline(world, ra_position, clock):
    # rule DS10
    with pytest.raises(Forbidden):
        services.appoint_ra_agent(world.agent, world.applicant, ra_position)  # an RA agent is not a sponsor
    appointment = services.appoint_ra_agent(world.sponsor, world.applicant, ra_position)
    assert appointment.training_due_on == dt.date(2026, 6, 1) + dt.timedelta(days=90)
    assert permissions.can(permissions.actor_for_person(world.applicant), "identity.verify")
    services.publish_terms(world.manager, kind="ra_agent", version="2026", title="RA agent terms", text="...")
    services.accept_terms(permissions.actor_for_person(world.applicant), world.applicant, kind="ra_agent",
                          version="2026", occasion="appointment")
    with pytest.raises(Forbidden):
        services.record_training(world.sponsor, world.applicant, kind="ra_agent", completed_on="2026-06-01")
    clock.advance(dt.timedelta(days=30))
    services.record_training(world.manager, world.applicant, kind="ra_agent", completed_on="2026-06-20")
    appointment.refresh_from_db()
    assert appointment.state == RaAgentAppointment.State.TRAINED and appointment.terms_acceptance is not None
    clock.advance(dt.timedelta(days=100))
    assert services.remove_untrained_ra_agents(testing.SYSTEM) == []


def test_an_untrained_ra_agent_loses_the_role_after_the_deadline(world, ra_position, clock, settings):
    # rule DS10: training by a deadline (a setting) or the role is removed by the lifecycle job
    settings.CAREACCESS_RA_AGENT_TRAINING_DAYS = 30
    appointment = services.appoint_ra_agent(world.sponsor, world.applicant, ra_position)
    clock.advance(dt.timedelta(days=30))
    assert services.remove_untrained_ra_agents(testing.SYSTEM) == []  # due today: not yet overdue
    clock.advance(dt.timedelta(days=1))
    size = ledger_size()
    removed = services.remove_untrained_ra_agents(testing.SYSTEM)
    assert [a.id for a in removed] == [appointment.id]
    assert Assignment.objects.get(id=appointment.assignment_id).state == Assignment.State.ENDED
    assert not permissions.can(permissions.actor_for_person(world.applicant), "identity.verify")
    assert {"assignment.updated", "ra_agent.removed"} <= set(
        Entry.objects.filter(index__gte=size).values_list("action", flat=True))


def test_appointing_needs_an_ra_agent_position_and_another_person(world):
    plain = testing.position(world.practice, "Receptionist")
    with pytest.raises(InvalidInput, match="RA agent activity"):
        services.appoint_ra_agent(world.sponsor, world.applicant, plain)
    ra = testing.position(world.practice, "RA agent 2", capabilities=["ra_agent"])
    with pytest.raises(Forbidden, match="themselves"):
        services.appoint_ra_agent(world.sponsor, Person.objects.get(id=world.sponsor.person_id), ra)

"""Smartcard management: issue (DS1, DS5), PINs (lock after 3), unlock (DS3, DS8), renewal and
repair (SC9, DS11, DS13), cancel and replace (SC6, DS12, DS14), one person for good (SC10),
misuse (SC3) and self-service unlock (DS9)."""

import datetime as dt
import re

import pytest
from cryptography import x509

from careaccess.core.audit.models import Entry, Head
from careaccess.core.errors import Forbidden, InvalidInput, NotFound
from careaccess.core.outbox.models import Message
from careaccess.credentials import selectors, services, testing
from careaccess.credentials.models import Card, Certificate, CrlIssue, MisuseReport, UnlockCode
from careaccess.directory import services as directory_services
from careaccess.directory import testing as directory_testing
from careaccess.directory.models import Assignment

pytestmark = pytest.mark.django_db


def ledger_size() -> int:
    return Head.objects.size()


def crl_serials() -> set[str]:
    crl = x509.load_der_x509_crl(bytes(CrlIssue.objects.order_by("-id").first().der))
    return {format(r.serial_number, "x") for r in crl}


@pytest.fixture
def holder(world):
    return testing.verified_person(world.practice, given_name="Holly", family_name="Holder")


@pytest.fixture
def card(holder, world):
    return testing.card_for(holder, actor=world.agent)


def lock(card):
    for _ in range(3):
        with pytest.raises(services.Refused):
            services.verify_pin(card.serial, "999999")
    card.refresh_from_db()
    assert card.locked


# --- issue ---

def test_a_card_needs_an_identity_check_first(world):
    # rule DS1: a new card needs an RA agent's identity check
    unchecked = directory_testing.person(given_name="Una")
    size, cards = ledger_size(), Card.objects.count()
    with pytest.raises(services.Refused, match="identity has not been checked"):
        services.issue_card(world.agent, unchecked, pin="123456")
    assert ledger_size() == size and Card.objects.count() == cards


def test_the_sponsor_of_the_request_never_issues_the_card(world, holder):
    # rule DS5: the sponsor is never the person who issues the card
    sponsor_and_agent = directory_testing.staff(world.icb, "ra_agent", "sponsor", given_name="Both")
    from careaccess.directory.models import Person

    sponsor_person = Person.objects.get(id=sponsor_and_agent.person_id)
    with pytest.raises(Forbidden, match="DS5"):
        services.issue_card(sponsor_and_agent, holder, pin="123456", sponsor=sponsor_person)
    card = services.issue_card(world.agent, holder, pin="123456", sponsor=sponsor_person)
    assert card.person == holder


def test_only_ra_staff_issue_cards_and_never_to_themselves(world, holder):
    # rule DS5: the sponsor never issues; nobody issues their own card
    from careaccess.directory.models import Person
    from careaccess.identity import services as identity_services

    with pytest.raises(Forbidden):
        services.issue_card(world.sponsor, holder, pin="123456")
    agent = directory_testing.staff(world.icb, "ra_agent", given_name="Self")
    myself = Person.objects.get(id=agent.person_id)
    identity_services.verify_identity(world.agent, myself, document_type="passport", issuing_country="GB",
                                      document_number="987654321", document_expires_on="2030-01-01",
                                      address_proof_kind="gas bill", address_proof_issuer="British Gas",
                                      address_proof_issued_on="2026-05-20")
    with pytest.raises(Forbidden, match="themselves"):
        services.issue_card(agent, myself, pin="123456")
    assert not myself.cards.exists()


@pytest.mark.parametrize("pin", ["12345", "123456789", "12ab56", "", "１２３４５６", None])
def test_pins_are_six_to_eight_digits(world, holder, pin):
    size = ledger_size()
    with pytest.raises(InvalidInput) as refused:
        services.issue_card(world.agent, holder, pin=pin)
    assert "6 to 8 digits" in refused.value.errors["pin"]
    assert ledger_size() == size and not holder.cards.exists()


def test_the_pin_is_stored_only_as_a_hash(card):
    # rule DS16: the PIN is kept encrypted (here: only an Argon2 hash), never in clear
    stored = Card.objects.get(id=card.id)
    assert stored.pin_hash.startswith("argon2$") and testing.PIN not in stored.pin_hash
    for entry in Entry.objects.filter(target_type="credentials.card", target_id=str(card.id)):
        assert testing.PIN not in entry.after and "argon2" not in entry.after


# --- PINs and unlocking ---

def test_three_wrong_pins_lock_the_card_and_each_is_counted_and_audited(card):
    size = ledger_size()
    with pytest.raises(services.Refused, match="2 tries left"):
        services.verify_pin(card.serial, "111111")
    with pytest.raises(services.Refused, match="1 try left"):
        services.verify_pin(card.serial, "111111")
    with pytest.raises(services.Refused, match="now locked after 3 wrong PINs"):
        services.verify_pin(card.serial, "1111")  # a PIN of the wrong length is a wrong PIN too
    assert ledger_size() == size + 3
    assert list(Entry.objects.filter(index__gte=size).values_list("action", flat=True)) == ["card.pin_wrong"] * 3
    card.refresh_from_db()
    assert card.lock_reason == Card.LockReason.PIN_TRIES and card.pin_tries == 3
    with pytest.raises(services.Refused, match="locked"):
        services.verify_pin(card.serial, testing.PIN)  # even the right PIN, once locked


def test_a_right_pin_resets_the_counter(card):
    with pytest.raises(services.Refused):
        services.verify_pin(card.serial, "111111")
    services.verify_pin(card.serial, testing.PIN)
    card.refresh_from_db()
    assert card.pin_tries == 0


def test_unlocking_needs_the_holder_present_setting_a_new_pin(card, world):
    # rule DS3: never remote; the holder enters their own new PIN
    lock(card)
    size = ledger_size()
    with pytest.raises(Forbidden, match="DS3"):
        services.unlock_card(world.agent, card, new_pin="135790", holder_present=False)
    with pytest.raises(InvalidInput):
        services.unlock_card(world.agent, card, new_pin="12", holder_present=True)
    assert ledger_size() == size
    services.unlock_card(world.agent, card, new_pin="135790", holder_present=True)
    card.refresh_from_db()
    assert not card.locked and card.pin_tries == 0
    services.verify_pin(card.serial, "135790")
    with pytest.raises(services.Refused, match="not locked"):
        services.unlock_card(world.agent, card, new_pin="135790", holder_present=True)


def test_a_sponsor_of_the_holders_organisation_unlocks_but_not_another_sponsor(card, world):
    # rules DS8, SC9: sponsors unlock; they must know the person (their own organisation)
    lock(card)
    with pytest.raises(Forbidden):
        services.unlock_card(world.other_sponsor, card, new_pin="135790", holder_present=True)
    services.unlock_card(world.sponsor, card, new_pin="135790", holder_present=True)


def test_a_pharmacist_at_the_site_unlocks_but_not_a_locum_or_another_pharmacy(world):
    # rule DS8: a pharmacist holding a position at that site, not a locum
    directory_services.upsert_job_role(testing.SYSTEM, code="S8000:G8000:R8003", name="Health Professional Access Role")
    dispenser = testing.verified_person(world.pharmacy, given_name="Dee")
    card = testing.card_for(dispenser)
    lock(card)
    pharmacist_post = directory_services.create_position(testing.SYSTEM, world.pharmacy, name="Pharmacist",
                                                         job_roles=["S8000:G8000:R8003"])
    locum_post = directory_services.create_position(testing.SYSTEM, world.pharmacy, name="Locum pharmacist",
                                                    job_roles=["S8000:G8000:R8003"])
    other_pharmacy = directory_testing.organisation("FA002", parent="QWO", kind="pharmacy")
    elsewhere_post = directory_services.create_position(testing.SYSTEM, other_pharmacy, name="Pharmacist",
                                                        job_roles=["S8000:G8000:R8003"])
    from careaccess.core import permissions

    def pharmacist(post, **assignment):
        person = directory_testing.person(given_name="Phil")
        directory_services.create_assignment(testing.SYSTEM, person, post, **assignment)
        return permissions.actor_for_person(person)

    locum = pharmacist(pharmacist_post, ends_on=dt.date(2026, 6, 30))
    named_locum = pharmacist(locum_post)
    elsewhere = pharmacist(elsewhere_post)
    for actor in (locum, named_locum, elsewhere):
        with pytest.raises(Forbidden, match="pharmacist"):
            services.unlock_card(actor, card, new_pin="135790", holder_present=True)
    resident = pharmacist(pharmacist_post)
    services.unlock_card(resident, card, new_pin="135790", holder_present=True)
    entry = Entry.objects.filter(action="card.unlocked").order_by("-index").first()
    assert entry.actor_position.startswith("Pharmacist, ")


def test_a_holder_cannot_unlock_their_own_card_in_person(card, holder):
    from careaccess.core import permissions

    lock(card)
    with pytest.raises(Forbidden, match="own card"):
        services.unlock_card(permissions.actor_for_person(holder), card, new_pin="135790", holder_present=True)


def test_the_holder_changes_their_pin(card, holder):
    from careaccess.core import permissions

    me = permissions.actor_for_person(holder)
    with pytest.raises(services.Refused, match="wrong PIN"):
        services.change_pin(me, card, old_pin="000000", new_pin="11223344")
    services.change_pin(me, card, old_pin=testing.PIN, new_pin="11223344")
    services.verify_pin(card.serial, "11223344")


# --- renewal and repair ---

def test_assisted_renewal_of_an_unexpired_certificate(card, world):
    # rule SC9: sponsors renew unexpired certificates
    old = card.certificate
    services.renew_assisted(world.sponsor, card)
    card.refresh_from_db()
    assert card.renewals == 1 and card.certificate != old
    assert Certificate.objects.get(id=old.id).status == Certificate.Status.REVOKED
    assert old.serial in crl_serials()
    testing.sign_in(card)


def test_self_renewal_opens_90_days_before_expiry(card, holder, clock):
    # rule DS13: self-renewal in the 90 days before the 2-year certificate expires
    from careaccess.core import permissions

    me = permissions.actor_for_person(holder)
    clock.advance(dt.timedelta(days=730 - 91))
    size = ledger_size()
    with pytest.raises(services.Refused, match="too early: self-renewal opens 90 days before"):
        services.self_renew(me, card)
    assert ledger_size() == size
    clock.advance(dt.timedelta(days=2))
    services.self_renew(me, card)
    card.refresh_from_db()
    assert card.renewals == 1
    assert card.certificate.not_after - card.certificate.not_before == dt.timedelta(days=730)


def test_at_most_three_renewals_then_the_card_is_replaced(card, holder, clock):
    # rule DS13: a card self-renews at most 3 times
    from careaccess.core import permissions

    me = permissions.actor_for_person(holder)
    for _ in range(3):
        clock.advance(dt.timedelta(days=700))
        services.self_renew(me, card)
        testing.sign_in(card)
    clock.advance(dt.timedelta(days=700))
    with pytest.raises(services.Refused, match="renewed 3 times, the most allowed"):
        services.self_renew(me, card)


@pytest.mark.parametrize("series", ["01", "02", "03"])
def test_series_01_to_03_never_renew(world, series, clock):
    # rule DS11: cards of series 01, 02 or 03 cannot renew certificates
    person = testing.verified_person(world.practice)
    card = testing.card_for(person, serial=f"{series}12345678")
    from careaccess.core import permissions

    with pytest.raises(services.Refused, match="DS11"):
        services.renew_assisted(world.agent, card)
    clock.advance(dt.timedelta(days=700))
    with pytest.raises(services.Refused, match="DS11"):
        services.self_renew(permissions.actor_for_person(person), card)
    clock.advance(dt.timedelta(days=40))
    with pytest.raises(services.Refused, match="DS11"):
        services.repair_card(world.agent, card, in_person=True)
    replacement = services.replace_card(world.agent, card, reason="series_not_renewable")
    assert replacement.series == "06"


def test_an_expired_certificate_is_repaired_by_an_ra_agent_in_person(card, world, clock):
    # rule SC9: repair cards whose certificates expired
    with pytest.raises(services.Refused, match="renew it instead"):
        services.repair_card(world.agent, card, in_person=True)
    clock.advance(dt.timedelta(days=731))
    with pytest.raises(services.Refused, match="repairs the card in person"):
        services.renew_assisted(world.agent, card)
    with pytest.raises(Forbidden):
        services.repair_card(world.sponsor, card, in_person=True)
    with pytest.raises(Forbidden, match="in person"):
        services.repair_card(world.agent, card, in_person=False)
    services.repair_card(world.agent, card, in_person=True)
    testing.sign_in(card)


# --- cancel and replace ---

def test_a_lost_card_is_cancelled_revoked_and_checked_for_misuse(card, world):
    # rule SC6: a lost card is cancelled and replaced; loss or theft triggers a misuse check
    messages = Message.objects.count()
    services.cancel_card(world.agent, card, reason="lost", note="left on a train")
    card.refresh_from_db()
    assert card.state == Card.State.CANCELLED
    assert card.certificate.serial in crl_serials()
    report = MisuseReport.objects.get(card=card)
    assert report.kind == MisuseReport.Kind.LOSS_OR_THEFT and report.outcome == MisuseReport.Outcome.OPEN
    assert Message.objects.count() == messages + 1
    assert Message.objects.order_by("-created_at").first().to == ["ra-team@careaccess.localhost"]


def test_a_damaged_card_is_cancelled_without_a_misuse_check(card, world):
    services.cancel_card(world.agent, card, reason="damaged")
    assert not MisuseReport.objects.filter(card=card).exists()
    with pytest.raises(services.Refused, match="already cancelled"):
        services.cancel_card(world.agent, card, reason="lost")
    with pytest.raises(InvalidInput):
        services.cancel_card(world.agent, card, reason="bored")


def test_a_replacement_needs_a_reason_and_is_issued_locked(card, world, holder):
    # rule DS12: a stated reason, no second authorisation
    # rule DS14: a replacement is issued locked; the holder unlocks it with an RA agent
    size = ledger_size()
    with pytest.raises(InvalidInput, match="state why"):
        services.replace_card(world.agent, card, reason="")
    with pytest.raises(InvalidInput, match="say why"):
        services.replace_card(world.agent, card, reason="other")
    assert ledger_size() == size
    new = services.replace_card(world.agent, card, reason="damaged")
    card.refresh_from_db()
    assert card.state == Card.State.CANCELLED and new.replaces == card
    assert new.person == holder  # rule SC10
    assert new.lock_reason == Card.LockReason.ISSUED_LOCKED and new.pin_hash == ""
    assert not new.collect_in_person
    with pytest.raises(services.Refused, match="issued locked"):
        testing.sign_in(new)
    # The holder unlocks it with an RA agent; a sponsor may not (DS14).
    with pytest.raises(Forbidden):
        services.unlock_card(world.sponsor, new, new_pin="13572468", holder_present=True)
    services.unlock_card(world.agent, new, new_pin="13572468", holder_present=True)
    testing.sign_in(new, pin="13572468")


def test_a_lost_pharmacy_card_is_collected_in_person(world):
    # rule DS12: lost or stolen pharmacy cards are collected in person
    dispenser = testing.verified_person(world.pharmacy)
    card = testing.card_for(dispenser)
    new = services.replace_card(world.agent, card, reason="stolen")
    assert new.collect_in_person
    assert MisuseReport.objects.filter(card=card, kind="loss_or_theft").exists()


def test_a_card_belongs_to_one_person_for_good(card, world, holder):
    # rule SC10: a card belongs to one person; a leaver keeps it and loses only the positions
    card.person = directory_testing.person(given_name="Someone", family_name="Else")
    with pytest.raises(ValueError, match="SC10"):
        card.save()
    assignment = Assignment.objects.get(person=holder)
    directory_services.update_assignment(testing.SYSTEM, assignment, state="ended", ends_on=dt.date(2026, 6, 1))
    card.refresh_from_db()
    assert card.person == holder and card.state == Card.State.ACTIVE
    testing.sign_in(card)


# --- misuse ---

def test_misuse_can_suspend_or_revoke_the_card_with_the_reason(card, world):
    # rule SC3: misuse can lead to suspension or revocation of card access
    report = services.report_misuse(world.sponsor, card, description="looked up a neighbour's record")
    with pytest.raises(Forbidden):
        services.decide_misuse(world.agent, report, outcome="revoked", reason="confirmed")
    with pytest.raises(InvalidInput):
        services.decide_misuse(world.manager, report, outcome="revoked", reason="")
    services.decide_misuse(world.manager, report, outcome="revoked", reason="misuse confirmed by the Caldicott Guardian")
    card.refresh_from_db()
    assert card.state == Card.State.REVOKED and card.certificate.serial in crl_serials()
    entry = Entry.objects.filter(action="card.misuse_decided").order_by("-index").first()
    assert entry.reason == "misuse confirmed by the Caldicott Guardian"
    with pytest.raises(services.Refused, match="misuse"):
        services.replace_card(world.agent, card, reason="other", note="wants a new one")


def test_misuse_is_decided_by_an_ra_manager_whose_position_covers_the_holder(card, world):
    # rule SC3 with SC10: a report about a holder is for the RA managers over their organisations;
    # to any other it is as a report nobody made, listed nowhere
    other_icb = directory_testing.organisation("QXX", kind="icb", oversees_descendants=True)
    far_manager = directory_testing.staff(other_icb, "ra_manager", given_name="Fay", family_name="Faraway")
    report = services.report_misuse(world.sponsor, card, description="looked up a neighbour's record")
    assert report in selectors.open_misuse_reports(world.manager)
    assert report not in selectors.open_misuse_reports(far_manager)
    size = ledger_size()
    with pytest.raises(NotFound, match=f"no misuse report has the id {report.id}"):
        services.decide_misuse(far_manager, report, outcome="revoked", reason="confirmed")
    card.refresh_from_db()
    assert card.state == Card.State.ACTIVE and ledger_size() == size
    services.decide_misuse(world.manager, report, outcome="no_action", reason="a colleague's check, agreed")


# --- self-service unlock (DS9) ---

@pytest.fixture
def mailbox(holder):
    from careaccess.directory.models import Service

    service = Service.objects.filter(code="nhsmail").first() or directory_services.create_service(
        testing.SYSTEM, code="nhsmail", name="NHSmail")
    directory_services.create_account(testing.SYSTEM, holder, service, username="holly.holder@nhs.net", state="active")
    return "holly.holder@nhs.net"


def _code_from_outbox() -> str:
    message = Message.objects.filter(kind="unlock_code").order_by("-created_at").first()
    return re.search(r"is (\d{8})\.", message.body).group(1)


def test_self_service_unlock_needs_registration_and_a_mailbox(card, holder):
    # rule DS9: self-service unlock needs prior registration and a mailbox account
    from careaccess.core import permissions

    me = permissions.actor_for_person(holder)
    with pytest.raises(services.Refused, match="mailbox"):
        services.register_self_unlock(me, card)
    lock(card)
    with pytest.raises(services.Refused, match="not registered"):
        services.request_unlock_code(card.serial)


def test_at_most_five_unlock_codes_a_day_are_mailed_for_a_card(card, holder, mailbox, clock, settings):
    # rule DS9, CAREACCESS_UNLOCK_CODES_PER_DAY: whoever reads a serial may ask, so the holder's
    # mailbox is not flooded and their last code not spent without end
    from careaccess.core import permissions

    services.register_self_unlock(permissions.actor_for_person(holder), card)
    lock(card)
    for _ in range(5):
        services.request_unlock_code(card.serial)
        clock.advance(dt.timedelta(hours=1))
    live = UnlockCode.objects.filter(card=card).order_by("-created_at").first()
    sent, size = Message.objects.filter(kind="unlock_code").count(), ledger_size()
    with pytest.raises(services.Refused, match="5 unlock codes were sent .* in the last 24 hours"):
        services.request_unlock_code(card.serial)
    live.refresh_from_db()
    assert live.used_at is None  # the last code still works
    assert Message.objects.filter(kind="unlock_code").count() == sent and ledger_size() == size
    clock.advance(dt.timedelta(hours=19, minutes=1))  # the first code is now more than a day old
    services.request_unlock_code(card.serial)
    settings.CAREACCESS_UNLOCK_CODES_PER_DAY = 10
    services.request_unlock_code(card.serial)


def test_self_service_unlock_by_a_one_time_code_valid_15_minutes(card, holder, mailbox, clock):
    # rule DS9
    from careaccess.core import permissions

    services.register_self_unlock(permissions.actor_for_person(holder), card)
    lock(card)
    services.request_unlock_code(card.serial)
    message = Message.objects.filter(kind="unlock_code").order_by("-created_at").first()
    assert message.to == [mailbox]
    code = _code_from_outbox()
    assert code not in str(list(Entry.objects.filter(action="card.unlock_code_sent").values_list("after", flat=True)))
    # A wrong code is counted (audited); the card stays locked.
    size = ledger_size()
    with pytest.raises(services.Refused, match="wrong code"):
        services.self_unlock(card.serial, code="00000000" if code != "00000000" else "11111111", new_pin="97531864")
    assert ledger_size() == size + 1 and UnlockCode.objects.get(card=card).attempts == 1
    # Expired after 15 minutes: refused, nothing changed.
    clock.advance(dt.timedelta(minutes=15))
    size = ledger_size()
    with pytest.raises(services.Refused, match="expired"):
        services.self_unlock(card.serial, code=code, new_pin="97531864")
    assert ledger_size() == size
    # A new code works once.
    services.request_unlock_code(card.serial)
    code = _code_from_outbox()
    services.self_unlock(card.serial, code=code, new_pin="97531864")
    card.refresh_from_db()
    assert not card.locked
    lock(card)
    with pytest.raises(services.Refused, match="used"):
        services.self_unlock(card.serial, code=code, new_pin="97531864")

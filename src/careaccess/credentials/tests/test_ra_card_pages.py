"""The registration authority's smartcard pages (issue 5: "pages, API and CLI"): finding a person's
cards, issuing one (DS1, DS5, SC10), unlocking with the holder present (DS3, DS8), assisted renewal
and repair (SC9, DS11, DS13), cancelling (SC6), replacing (DS12, DS14), misuse reports and their
decisions (SC3) and reinstating a suspended card. Each page calls the service the API and the CLI
call: a refusal is an NHS.UK error summary at the field it is about, 422 (403 when not allowed),
with nothing changed and nothing audited."""

import datetime as dt
import re

import pytest
from django.test import Client

from careaccess.core.audit.models import Entry
from careaccess.core.outbox.models import Message
from careaccess.credentials import services, testing
from careaccess.credentials.models import Card, MisuseReport
from careaccess.directory import services as directory_services
from careaccess.identity import services as identity_services
from careaccess.web.tests.conftest import organisation, person, place, sign_in, squash, staff_catalogue

pytestmark = pytest.mark.django_db

NEW_PIN = "13572468"


class Office:
    pass


@pytest.fixture
def office(db, clock, pki_dir):
    """A national RA over two ICBs. Wessex ICB's RA oversees a practice, another practice and a
    pharmacy; Holly works at the practice (identity checked), Una at the practice (not checked)."""
    staff_catalogue()
    o = Office()
    national = organisation("X26", name="National RA", kind="icb", oversees_descendants=True)
    o.icb = organisation("QWO", name="Wessex ICB", kind="icb", oversees_descendants=True, parent="X26")
    o.practice = organisation("B86001", name="Riverside Surgery", parent="QWO")
    o.other_practice = organisation("B86002", name="Hillside Surgery", parent="QWO")
    o.pharmacy = organisation("FA001", name="High Street Pharmacy", parent="QWO", kind="pharmacy")
    elsewhere = organisation("QXX", name="Northern ICB", kind="icb", oversees_descendants=True, parent="X26")
    o.agent, o.manager, o.auditor = person("Rita", "Agent"), person("Manny", "Manager"), person("Audrey", "Auditor")
    place(o.agent, o.icb, "RA agent", "ra_agent")
    place(o.manager, o.icb, "RA manager", "ra_manager")
    place(o.auditor, o.icb, "Auditor", "auditor")
    o.national_agent, o.far_agent = person("Nat", "National"), person("Fay", "Faraway")
    place(o.national_agent, national, "RA agent", "ra_agent")
    place(o.far_agent, elsewhere, "RA agent", "ra_agent")
    o.sponsor, o.other_sponsor = person("Sam", "Sponsor"), person("Olive", "Othersponsor")
    place(o.sponsor, o.practice, "Practice manager", "sponsor")
    place(o.other_sponsor, o.other_practice, "Practice manager", "sponsor")
    o.holder = verified(person("Holly", "Holder", password=None), o.practice, "Receptionist")
    o.unchecked = person("Una", "Unchecked")
    place(o.unchecked, o.practice, "Clerk")
    return o


def verified(who, org, position: str):
    """Placed at `org`, their identity checked by an RA agent (rule DS1)."""
    place(who, org, position)
    identity_services.verify_identity(
        testing.SYSTEM, who, document_type="passport", issuing_country="GB", document_number="123456789",
        document_expires_on=dt.date(2029, 1, 1), address_proof_kind="water bill", address_proof_issuer="Wessex Water",
        address_proof_issued_on=dt.date(2026, 5, 20), photo=b"\x89PNG...")
    return who


def signed_in(who, **options) -> Client:
    client = Client(**options)
    sign_in(client, who.uid)
    return client


def ledger_size() -> int:
    """Audit entries other than signing in (each test client signs in, audited)."""
    return Entry.objects.exclude(action__startswith="signin.").count()


def cards_url(who) -> str:
    return f"/account/people/{who.uid}/cards"


def action_url(card, action: str) -> str:
    return f"/account/people/{card.person.uid}/cards/{card.serial}/{action}"


def summary_links(html: str) -> list[str]:
    box = re.search(r'class="nhsuk-error-summary".*?</div>\s*</div>', html, re.S)
    return re.findall(r'href="#([^"]+)"', box.group(0)) if box else []


def refused(response, status: int, field: str, words: str) -> str:
    """The page refused with the error summary linking to `field`, the message naming the fix."""
    html = squash(response)
    assert response.status_code == status, html[:2000]
    assert "<title>Error: " in html and "There is a problem" in html
    assert field in summary_links(html) and f'id="{field}"' in html
    assert words in html, html
    return html


def issued(o, **extra) -> Card:
    return testing.card_for(o.holder, actor=testing.SYSTEM, **extra)


def lock(card) -> None:
    for _ in range(3):
        with pytest.raises(services.Refused):
            services.verify_pin(card.serial, "999999")


def without_csrf(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", squash(response))


# --- finding the person, and who sees whom ---

def test_the_person_page_links_to_the_cards_only_for_those_who_may_act(office):
    o = office

    def links(who):
        html = squash(signed_in(who).get(f"/people/{o.holder.uid}"))
        return html[html.index('id="actions"'):html.index('id="identity"')] if 'id="actions"' in html else ""

    href = f'href="{cards_url(o.holder)}"'
    agent = links(o.agent)
    assert f'{href}>Issue, unlock, renew, repair, cancel or replace their smartcards</a>' in agent
    assert f'{href}>Unlock or renew their smartcards</a>' in links(o.sponsor)  # rules DS8, SC9
    assert f'{href}>See their smartcards, or report suspected misuse of one</a>' in links(o.auditor)
    assert href not in links(o.other_sponsor)  # another practice's sponsor does not know them (SC9)
    # Nobody issues, unlocks, renews, repairs or replaces their own card here (DS5, DS3), but may cancel it.
    own = squash(signed_in(o.agent).get(f"/people/{o.agent.uid}"))
    assert f'href="{cards_url(o.agent)}">Cancel their smartcards</a>' in own


def test_home_pages_list_the_card_pages_with_the_other_ra_pages(office):
    o = office
    agent = squash(signed_in(o.agent).get("/"))
    assert '<a href="/account/cards">Issue smartcards</a>' in agent
    assert '<a href="/account/people">Remove a lost authenticator app or security key</a>' in agent
    manager = squash(signed_in(o.manager).get("/"))
    assert '<a href="/account/cards/misuse-reports">Decide on reports of smartcard misuse</a>' in manager
    assert '<a href="/account/cards">Unlock smartcards</a>' in squash(signed_in(o.sponsor).get("/"))


def test_the_find_page_gives_one_answer_for_nobody_and_for_someone_out_of_sight(office):
    o = office
    agent = signed_in(o.agent)
    assert agent.get("/account/cards", {"uid": o.holder.uid}).url == cards_url(o.holder)
    empty = agent.get("/account/cards", {"uid": ""})
    assert empty.status_code == 422 and "Enter the person&#39;s user ID" in squash(empty)
    far = signed_in(o.far_agent)
    nobody = far.get("/account/cards", {"uid": "999999999999"})
    hidden = far.get("/account/cards", {"uid": o.holder.uid})
    assert nobody.status_code == hidden.status_code == 422
    assert "No person in the organisations you act for has the user ID" in squash(hidden)
    assert without_csrf(nobody).replace("999999999999", o.holder.uid) == without_csrf(hidden)


def test_a_person_out_of_sight_and_an_unknown_user_id_get_the_same_answer(office):
    # Someone at another organisation: 403, as for a user ID nobody has, so existence is not told.
    o = office
    for who, url in ((o.far_agent, cards_url(o.holder)), (o.other_sponsor, cards_url(o.holder)),
                     (o.far_agent, f"{cards_url(o.holder)}/issue")):
        client = signed_in(who)
        hidden = client.get(url)
        nobody = client.get(url.replace(o.holder.uid, "999999999999"))
        assert hidden.status_code == nobody.status_code == 403
        assert without_csrf(hidden).replace(o.holder.uid, "X") == without_csrf(nobody).replace("999999999999", "X")
    card = issued(o)
    size = ledger_size()
    far = signed_in(o.far_agent)
    assert far.post(action_url(card, "cancel"), {"reason": "lost"}).status_code == 403
    assert far.post(f"{cards_url(o.holder)}/issue", {"pin": "246810", "pin_again": "246810"}).status_code == 403
    assert ledger_size() == size and Card.objects.get(pk=card.pk).state == Card.State.ACTIVE
    # Whoever sees every organisation's cards is told plainly: nobody has it.
    national = signed_in(o.national_agent)
    missing = national.get(cards_url(o.holder).replace(o.holder.uid, "999999999999"))
    assert missing.status_code == 404 and "No person has the user ID 999999999999" in squash(missing)
    assert national.get(cards_url(o.holder)).status_code == 200


def test_an_unknown_serial_or_page_is_not_found(office):
    o = office
    card = issued(o)
    agent = signed_in(o.agent)
    missing = agent.get(f"{cards_url(o.holder)}/0612345678/cancel")
    assert missing.status_code == 404 and "Holly Holder has no card with the serial 0612345678" in squash(missing)
    other = issued(o)
    other_person_card = testing.card_for(verified(person("Ian", "Other", password=None), o.practice, "Porter"))
    assert agent.get(f"{cards_url(o.holder)}/{other_person_card.serial}/cancel").status_code == 404
    assert agent.get(action_url(card, "explode")).status_code == 404
    assert agent.get(action_url(other, "cancel")).status_code == 200


def test_the_list_shows_each_card_with_its_state_certificate_expiry_and_actions(office, clock):
    o = office
    old = issued(o)
    lock(old)
    new = issued(o)
    html = squash(signed_in(o.agent).get(cards_url(o.holder)))
    assert "Smartcards of Holly Holder" in html and "Identity check: level" in html
    assert f"{old.serial} </td>" in html and "Active, locked: too many wrong pins" in html
    assert "Expires 31 May 2028" in html
    assert f'href="{action_url(old, "unlock")}"' in html and f'href="{action_url(new, "renew")}"' in html
    assert f'href="{action_url(new, "unlock")}"' not in html
    sponsor = squash(signed_in(o.sponsor).get(cards_url(o.holder)))
    assert f'href="{action_url(old, "unlock")}"' in sponsor and f'href="{action_url(new, "cancel")}"' not in sponsor
    assert "Issue a card" not in sponsor
    assert signed_in(o.auditor).get(cards_url(o.holder)).status_code == 200


# --- issue (DS1, DS5, SC10) ---

def test_an_ra_agent_issues_a_card_and_sees_it_confirmed(office):
    o = office
    agent = signed_in(o.agent)
    form = squash(agent.get(f"{cards_url(o.holder)}/issue"))
    assert "cards are software cards" in form and "card middleware" in form
    assert 'type="password"' in form and 'id="pin_again"' in form
    done = agent.post(f"{cards_url(o.holder)}/issue", {"pin": "24681012", "pin_again": "24681012",
                                                        "sponsor": o.sponsor.uid, "request_reference": "R-1"})
    assert done.status_code == 302 and done.url == cards_url(o.holder)
    card = Card.objects.get(person=o.holder)
    entry = Entry.objects.get(action="card.issued", person_uid=o.holder.uid)
    assert entry.actor_uid == o.agent.uid and '"sponsor":"' + o.sponsor.uid + '"' in entry.after
    assert "24681012" not in entry.after
    panel = squash(agent.get(done.url))
    assert 'id="confirmation"' in panel and "Card issued" in panel
    assert f"Card {card.serial}: certificate valid until 31 May 2028" in panel
    assert 'id="confirmation"' not in squash(agent.get(done.url))  # shown once
    testing.sign_in(card, pin="24681012")  # the software card works


@pytest.mark.parametrize("form, status, field, words", [
    ({"pin": "246810", "pin_again": "246811"}, 422, "pin_again", "The two PINs differ"),
    ({"pin": "2468", "pin_again": "2468"}, 422, "pin", "6 to 8 digits"),  # issue 5: PINs of 6 to 8 digits
    ({"pin": "246810", "pin_again": "246810", "serial": "12"}, 422, "serial", "8 to 20 digits"),
    ({"pin": "246810", "pin_again": "246810", "sponsor": "999999999999"}, 422, "sponsor", "person you may look up"),
])
def test_issuing_refuses_bad_input_by_field_and_changes_nothing(office, form, status, field, words):
    o = office
    size = ledger_size()
    refused(signed_in(o.agent).post(f"{cards_url(o.holder)}/issue", form), status, field, words)
    assert ledger_size() == size and not Card.objects.filter(person=o.holder).exists()


def test_issuing_refuses_an_unchecked_identity_the_sponsor_oneself_and_a_taken_serial(office):
    o = office
    both = person("Bo", "Both")
    place(both, o.icb, "RA agent and sponsor", "ra_agent", "sponsor")
    verified(o.agent, o.practice, "Locum clerk")
    agent, sponsor, sponsoring_agent = signed_in(o.agent), signed_in(o.sponsor), signed_in(both)
    pins = {"pin": "246810", "pin_again": "246810"}
    size = ledger_size()
    # rule DS1: an RA agent's identity check first
    html = refused(agent.post(f"{cards_url(o.unchecked)}/issue", pins), 422, "identity",
                   "identity has not been checked")
    assert "DS1" in html
    # rule DS5: the sponsor of the request never issues its card
    refused(sponsoring_agent.post(f"{cards_url(o.holder)}/issue", {**pins, "sponsor": both.uid}), 403, "sponsor", "DS5")
    # rule DS5: nobody issues their own card
    refused(agent.post(f"{cards_url(o.agent)}/issue", pins), 403, "holder-details", "for themselves (rule DS5)")
    # a sponsor is not RA staff: the form is refused, and so is a submission
    assert sponsor.get(f"{cards_url(o.holder)}/issue").status_code == 403
    refused(sponsor.post(f"{cards_url(o.holder)}/issue", pins), 403, "holder-details", "may not issue")
    assert ledger_size() == size and not Card.objects.exists()
    taken = testing.card_for(o.holder)
    size = ledger_size()
    refused(agent.post(f"{cards_url(o.holder)}/issue", {**pins, "serial": taken.serial}), 422, "serial",
            "already exists")
    assert ledger_size() == size and Card.objects.count() == 1


# --- unlock (DS3, DS8, DS14) ---

def test_unlocking_needs_the_holder_present_typing_a_new_pin_twice(office):
    o = office
    card = issued(o)
    lock(card)
    agent = signed_in(o.agent)
    url = action_url(card, "unlock")
    size = ledger_size()
    refused(agent.post(url, {"new_pin": NEW_PIN, "new_pin_again": NEW_PIN}), 403, "holder_present", "DS3")
    refused(agent.post(url, {"holder_present": "yes", "new_pin": NEW_PIN, "new_pin_again": "13572460"}), 422,
            "new_pin_again", "The two PINs differ")
    html = refused(agent.post(url, {"holder_present": "yes", "new_pin": "12", "new_pin_again": "12"}), 422, "new_pin",
                   "6 to 8 digits")
    assert 'value="12"' not in html  # a PIN is never shown again
    assert ledger_size() == size and Card.objects.get(pk=card.pk).locked
    done = agent.post(url, {"holder_present": "yes", "new_pin": NEW_PIN, "new_pin_again": NEW_PIN})
    assert done.status_code == 302
    assert "Card unlocked" in squash(agent.get(done.url))
    entry = Entry.objects.get(action="card.unlocked")
    assert entry.actor_uid == o.agent.uid and '"holder_present":true' in entry.after
    testing.sign_in(card, pin=NEW_PIN)
    size = ledger_size()
    refused(agent.post(url, {"holder_present": "yes", "new_pin": NEW_PIN, "new_pin_again": NEW_PIN}), 422,
            "card-details", "is not locked")
    assert ledger_size() == size


def test_a_sponsor_and_a_resident_pharmacist_unlock_but_not_a_locum(office):
    # rule DS8: an RA agent, a sponsor, or a pharmacist holding a position at that site (not a locum)
    o = office
    card = issued(o)
    lock(card)
    form = {"holder_present": "yes", "new_pin": NEW_PIN, "new_pin_again": NEW_PIN}
    assert signed_in(o.sponsor).post(action_url(card, "unlock"), form).status_code == 302

    directory_services.upsert_job_role(testing.SYSTEM, code="S8000:G8000:R8003", name="Health Professional Access Role")
    dispenser = verified(person("Dee", "Dispenser", password=None), o.pharmacy, "Dispenser")
    their_card = testing.card_for(dispenser)
    lock(their_card)
    resident, locum = person("Phil", "Pharmacist"), person("Lou", "Locum")
    place(resident, o.pharmacy, "Pharmacist", job_roles=["S8000:G8000:R8003"])
    place(locum, o.pharmacy, "Locum pharmacist", job_roles=["S8000:G8000:R8003"])
    url = action_url(their_card, "unlock")
    size = ledger_size()
    hidden = signed_in(locum).post(url, form)
    assert hidden.status_code == 403 and ledger_size() == size  # a locum: as if out of sight
    pharmacist = signed_in(resident)
    assert pharmacist.get(cards_url(dispenser)).status_code == 200
    assert pharmacist.post(url, form).status_code == 302
    entry = Entry.objects.filter(action="card.unlocked").order_by("-index").first()
    assert entry.actor_uid == resident.uid and entry.actor_position.startswith("Pharmacist")
    assert pharmacist.get(cards_url(o.holder)).status_code == 403  # not at the practice


def test_a_replacement_issued_locked_is_unlocked_with_an_ra_agent_not_a_sponsor(office):
    # rule DS14
    o = office
    new = services.replace_card(testing.SYSTEM, issued(o), reason="damaged")
    form = {"holder_present": "yes", "new_pin": NEW_PIN, "new_pin_again": NEW_PIN}
    size = ledger_size()
    refused(signed_in(o.sponsor).post(action_url(new, "unlock"), form), 403, "card-details", "may not replace")
    assert ledger_size() == size
    assert signed_in(o.agent).post(action_url(new, "unlock"), form).status_code == 302
    testing.sign_in(new, pin=NEW_PIN)


# --- assisted renewal and repair (SC9, DS11, DS13) ---

def test_assisted_renewal_at_most_three_times(office):
    o = office
    card = issued(o)
    sponsor = signed_in(o.sponsor)  # rule SC9: sponsors renew
    for n in range(3):
        done = sponsor.post(action_url(card, "renew"))
        assert done.status_code == 302, squash(done)
    assert "Certificate renewed" in squash(sponsor.get(done.url))
    assert Card.objects.get(pk=card.pk).renewals == 3
    size = ledger_size()
    refused(sponsor.post(action_url(card, "renew")), 422, "card-details",
            "renewed 3 times, the most allowed (rule DS13)")
    assert ledger_size() == size and Card.objects.get(pk=card.pk).renewals == 3


@pytest.mark.parametrize("series", ["01", "02", "03"])
def test_cards_of_series_01_to_03_are_never_renewed(office, series):
    # rule DS11
    o = office
    card = issued(o, serial=f"{series}12345678")
    size = ledger_size()
    refused(signed_in(o.agent).post(action_url(card, "renew")), 422, "card-details", "(rule DS11); replace the card")
    assert ledger_size() == size


def test_an_expired_certificate_is_repaired_by_an_ra_agent_in_person_not_renewed(office, clock):
    o = office
    card = issued(o)
    agent = signed_in(o.agent)
    size = ledger_size()
    refused(agent.post(action_url(card, "repair"), {"in_person": "yes"}), 422, "card-details", "renew it instead")
    clock.advance(dt.timedelta(days=731))
    agent = signed_in(o.agent)
    refused(agent.post(action_url(card, "renew")), 422, "card-details", "repairs the card in person")
    refused(agent.post(action_url(card, "repair")), 403, "in_person", "in person")
    sponsor = signed_in(o.sponsor)
    assert sponsor.get(action_url(card, "repair")).status_code == 403  # RA agents only
    refused(sponsor.post(action_url(card, "repair"), {"in_person": "yes"}), 403, "card-details", "may not repair")
    assert ledger_size() == size
    assert "Expired 31 May 2028" in squash(agent.get(cards_url(o.holder)))
    done = agent.post(action_url(card, "repair"), {"in_person": "yes"})
    assert done.status_code == 302 and "Card repaired" in squash(agent.get(done.url))
    assert Entry.objects.get(action="card.repaired").actor_uid == o.agent.uid
    testing.sign_in(card)


# --- cancel (SC6) and replace (DS12, DS14) ---

def test_a_lost_card_is_cancelled_and_checked_for_misuse(office):
    o = office
    card = issued(o)
    agent = signed_in(o.agent)
    url = action_url(card, "cancel")
    size = ledger_size()
    refused(agent.post(url, {"note": "gone"}), 422, "reason", "Choose one of: lost, stolen, damaged")
    refused(signed_in(o.sponsor).post(url, {"reason": "lost"}), 403, "card-details", "may not cancel")
    assert ledger_size() == size
    done = agent.post(url, {"reason": "lost", "note": "left on a train"})
    assert done.status_code == 302
    panel = squash(agent.get(done.url))
    assert "Card cancelled" in panel and "A check for misuse is open" in panel  # rule SC6
    assert Card.objects.get(pk=card.pk).state == Card.State.CANCELLED
    assert MisuseReport.objects.get(card=card).kind == MisuseReport.Kind.LOSS_OR_THEFT
    assert Message.objects.filter(kind="misuse_report").exists()
    size = ledger_size()
    refused(agent.post(url, {"reason": "stolen"}), 422, "card-details", "is already cancelled")
    assert ledger_size() == size


def test_a_replacement_needs_a_reason_and_is_issued_locked(office):
    o = office
    card = issued(o)
    agent = signed_in(o.agent)
    url = action_url(card, "replace")
    size = ledger_size()
    refused(agent.post(url, {}), 422, "reason", "State why the card is replaced")  # rule DS12
    refused(agent.post(url, {"reason": "other"}), 422, "note", "Say why the card is replaced")
    refused(agent.post(url, {"reason": "damaged", "serial": card.serial}), 422, "serial", "already exists")
    refused(signed_in(o.sponsor).post(url, {"reason": "damaged"}), 403, "card-details", "may not replace")
    assert ledger_size() == size and Card.objects.count() == 1
    done = agent.post(url, {"reason": "damaged", "note": "cracked"})
    assert done.status_code == 302
    new = Card.objects.get(replaces=card)
    assert new.person == o.holder and new.lock_reason == Card.LockReason.ISSUED_LOCKED  # rules SC10, DS14
    panel = squash(agent.get(done.url))
    assert "Replacement card issued locked" in panel and f"New card {new.serial} replaces card {card.serial}" in panel
    size = ledger_size()
    refused(agent.post(url, {"reason": "damaged"}), 422, "card-details", "has already been replaced")
    assert ledger_size() == size


# --- misuse (SC3) and reinstatement ---

def test_suspected_misuse_is_reported_decided_and_the_card_reinstated(office):
    o = office
    card = issued(o)
    auditor = signed_in(o.auditor)  # every member of staff may report misuse
    size = ledger_size()
    refused(auditor.post(action_url(card, "misuse"), {"description": " "}), 422, "description",
            "Describe the suspected misuse")
    assert ledger_size() == size
    done = auditor.post(action_url(card, "misuse"), {"description": "looked up a neighbour's record"})
    assert done.status_code == 302 and "Suspected misuse reported" in squash(auditor.get(done.url))
    report = MisuseReport.objects.get(card=card)

    manager = signed_in(o.manager)
    queue = squash(manager.get("/account/cards/misuse-reports"))
    decide_url = f"/account/cards/misuse-reports/{report.id}"
    assert f'href="{decide_url}"' in queue
    assert f'href="{decide_url}"' in squash(manager.get(cards_url(o.holder)))
    agent = signed_in(o.agent)
    assert agent.get("/account/cards/misuse-reports").status_code == 403  # RA managers decide
    assert agent.post(decide_url, {"outcome": "revoked", "reason": "x"}).status_code == 403
    size = ledger_size()
    refused(manager.post(decide_url, {"reason": "seen the log"}), 422, "outcome", "Choose one of")
    refused(manager.post(decide_url, {"outcome": "suspended"}), 422, "reason", "Give the reason")
    assert ledger_size() == size
    decided = manager.post(decide_url, {"outcome": "suspended", "reason": "while the Caldicott Guardian looks"})
    assert decided.status_code == 302 and decided.url == "/account/cards/misuse-reports"
    assert "Misuse report" in squash(manager.get(decided.url)) and Card.objects.get(pk=card.pk).state == "suspended"
    size = ledger_size()
    refused(manager.post(decide_url, {"outcome": "revoked", "reason": "again"}), 422, "outcome", "already decided")
    refused(agent.post(action_url(card, "replace"), {"reason": "lost"}), 422, "card-details", "an RA manager decides")
    assert ledger_size() == size

    assert agent.get(action_url(card, "reinstate")).status_code == 403
    refused(manager.post(action_url(card, "reinstate"), {"reason": ""}), 422, "reason", "Give the reason")
    done = manager.post(action_url(card, "reinstate"), {"reason": "no misuse found"})
    assert done.status_code == 302 and "Card reinstated" in squash(manager.get(done.url))
    assert Card.objects.get(pk=card.pk).state == Card.State.ACTIVE
    refused(manager.post(action_url(card, "reinstate"), {"reason": "again"}), 422, "card-details", "not suspended")
    assert manager.get("/account/cards/misuse-reports/999999").status_code == 404


# --- forms ---

def test_forms_need_the_csrf_token(office):
    o = office
    card = issued(o)
    client = signed_in(o.agent)
    client.handler.enforce_csrf_checks = True  # as a browser meets it (the test client skips it by default)
    assert client.post(action_url(card, "cancel"), {"reason": "lost"}).status_code == 403
    assert Card.objects.get(pk=card.pk).state == Card.State.ACTIVE
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', squash(client.get(action_url(card, "cancel"))))
    done = client.post(action_url(card, "cancel"), {"reason": "damaged", "csrfmiddlewaretoken": token.group(1)})
    assert done.status_code == 302 and Card.objects.get(pk=card.pk).state == Card.State.CANCELLED

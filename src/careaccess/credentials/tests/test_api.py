"""The identity and card API: happy paths, problems on refusal, and a card sign-in over HTTP."""

import base64

import pytest
from cryptography import x509

from careaccess.api.testing import ApiClient, client_for, ledger_size
from careaccess.core.audit.models import Entry
from careaccess.core.outbox.models import Message
from careaccess.credentials import signin, testing
from careaccess.credentials.cards import SoftwareCard
from careaccess.credentials.models import Card
from careaccess.directory import testing as directory_testing

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _urls(settings):
    settings.ROOT_URLCONF = "careaccess.credentials.tests.urls_for_tests"


def ok(response, status=200):
    assert response.status_code == status, response.content
    return response.json()


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


EVIDENCE = {"document_type": "photocard_driving_licence", "issuing_country": "GB",
            "document_number": "morga657054sm9ij", "document_expires_on": "2030-01-31",
            "address_proof_kind": "council tax bill", "address_proof_issuer": "Poole Borough Council",
            "address_proof_issued_on": "2026-05-02", "photo": base64.b64encode(b"photo").decode()}


def test_identity_check_then_card_issue_then_sign_in_over_http(world):
    # rules DS1, DS5, DS7, SC1, SC2
    agent = client_for(actor=world.agent)
    applicant = directory_testing.person(given_name="Ada", family_name="Applicant")
    refused = problem(agent.post(f"/identity/people/{applicant.uid}/checks",
                                 {**EVIDENCE, "address_proof_issued_on": "2026-01-01"}), 422)
    assert "3 months" in refused["errors"]["address_proof_issued_on"]
    check = ok(agent.post(f"/identity/people/{applicant.uid}/checks", EVIDENCE), 201)
    assert check["document_number"] == "MORGA657054SM9IJ" and check["assurance"] == "high"
    assert ok(agent.get(f"/identity/people/{applicant.uid}/assurance"))["level"] == 3

    problem(client_for(actor=world.sponsor).post("/cards", {"person": applicant.uid, "pin": "123456"}), 403)
    bad_pin = problem(agent.post("/cards", {"person": applicant.uid, "pin": "12"}), 422)
    assert "6 to 8 digits" in bad_pin["errors"]["pin"]
    card = ok(agent.post("/cards", {"person": applicant.uid, "pin": "24681357"}), 201)
    assert card["person"] == applicant.uid and not card["locked"] and "pin_hash" not in card
    assert card["certificate"]["status"] == "valid"

    manager = client_for(actor=world.manager)
    ok(manager.post("/identity/terms", {"kind": "user", "version": "RA01", "title": "Terms", "text": "Be careful."}), 201)

    anonymous = ApiClient()
    ca = ok(anonymous.get("/cards/ca"))
    assert "BEGIN CERTIFICATE" in ca["root"]
    challenge = ok(anonymous.post("/cards/sign-in/challenge"), 201)
    row = Card.objects.get(serial=card["serial"])
    soft = SoftwareCard.open(row)
    soft.verify_pin("24681357")
    signed = soft.sign(base64.b64decode(challenge["challenge"]))
    body = {"nonce": challenge["nonce"], "certificate": base64.b64encode(bytes(row.certificate.der)).decode(),
            "signature": base64.b64encode(signed).decode()}
    refused = problem(anonymous.post("/cards/sign-in", body), 401)
    assert "RA01" in refused["detail"]
    size = ledger_size()
    result = ok(anonymous.post("/cards/sign-in", {**body, "accept_terms_version": "RA01"}))
    assert result["uid"] == applicant.uid and result["card"] == card["serial"]
    assert set(Entry.objects.filter(index__gte=size).values_list("action", flat=True)) == {"card.signed_in",
                                                                                          "terms.accepted"}
    replay = problem(anonymous.post("/cards/sign-in", {**body, "accept_terms_version": "RA01"}), 401)
    assert "replay" in replay["detail"]

    # rule DS2: the holder sees their own card and its certificate expiry
    holder = client_for(person=applicant)
    mine = ok(holder.get("/cards", person=applicant.uid))
    assert [c["serial"] for c in mine] == [card["serial"]] and mine[0]["certificate"]["not_after"]
    problem(client_for(actor=world.other_sponsor).get(f"/cards/{card['serial']}"), 403)


def test_lock_unlock_cancel_replace_and_crl_over_http(world):
    holder = testing.verified_person(world.practice)
    card = testing.card_for(holder)
    for _ in range(3):
        with pytest.raises(Exception):
            testing.sign_in(card, pin="000000")
    agent = client_for(actor=world.agent)
    assert ok(agent.get(f"/cards/{card.serial}"))["locked"]
    problem(agent.post(f"/cards/{card.serial}/unlock", {"new_pin": "13572468", "holder_present": False}), 403)
    sponsor = client_for(actor=world.sponsor)
    assert not ok(sponsor.post(f"/cards/{card.serial}/unlock", {"new_pin": "13572468", "holder_present": True}))["locked"]
    ok(sponsor.post(f"/cards/{card.serial}/renew", {"mode": "assisted"}))
    cancelled = ok(agent.post(f"/cards/{card.serial}/cancel", {"reason": "lost", "note": "on the bus"}))
    assert cancelled["state"] == "cancelled"
    replacement = ok(agent.post(f"/cards/{card.serial}/replace", {"reason": "lost"}), 201)
    assert replacement["locked"] and replacement["lock_reason"] == "issued_locked" and replacement["replaces"] == card.serial
    manager = client_for(actor=world.manager)
    reports = ok(manager.get("/cards/misuse-reports"))
    assert [r["kind"] for r in reports if r["card"] == card.serial] == ["loss_or_theft"]
    decided = ok(manager.post(f"/cards/misuse-reports/{reports[0]['id']}/decision",
                              {"outcome": "no_action", "reason": "no use since the loss"}))
    assert decided["outcome"] == "no_action"
    crl = ApiClient().client.get("/pki/crl.der")
    assert crl.status_code == 200
    revoked = {format(r.serial_number, "x") for r in x509.load_der_x509_crl(crl.content)}
    assert card.certificate.serial in revoked


def test_self_service_unlock_over_http(world):
    # rule DS9
    from careaccess.directory import services as directory_services

    holder = testing.verified_person(world.practice, given_name="Selma", family_name="Self")
    service = directory_services.create_service(testing.SYSTEM, code="nhsmail", name="NHSmail")
    directory_services.create_account(testing.SYSTEM, holder, service, username="selma.self@nhs.net", state="active")
    card = testing.card_for(holder)
    me = client_for(person=holder)
    assert ok(me.post(f"/cards/{card.serial}/self-unlock/registration"))["self_service_unlock"]
    for _ in range(3):
        with pytest.raises(Exception):
            testing.sign_in(card, pin="000000")
    anonymous = ApiClient()
    sent = ok(anonymous.post(f"/cards/{card.serial}/self-unlock/code"), 202)
    assert sent["sent_to"] == "s*********@nhs.net"
    body = Message.objects.filter(kind="unlock_code").order_by("-created_at").first().body
    code = body.split(" is ")[1][:8]
    problem(anonymous.post(f"/cards/{card.serial}/self-unlock", {"code": code, "new_pin": "1"}), 422)
    unlocked = ok(anonymous.post(f"/cards/{card.serial}/self-unlock", {"code": code, "new_pin": "86420864"}))
    assert not unlocked["locked"]
    problem(anonymous.post(f"/cards/{card.serial}/self-unlock", {"code": code, "new_pin": "86420864"}), 409)


def test_training_terms_and_ra_agent_appointment_over_http(world):
    # rules DS10, CC9
    recruit = directory_testing.person(given_name="Rory", family_name="Recruit")
    position = directory_testing.position(world.practice, "RA agent", capabilities=["ra_agent"])
    sponsor = client_for(actor=world.sponsor)
    appointment = ok(sponsor.post("/identity/ra-agent-appointments", {"person": recruit.uid, "position": position.id}), 201)
    assert appointment["state"] == "awaiting_training" and not appointment["terms_accepted"]
    manager = client_for(actor=world.manager)
    ok(manager.post("/identity/terms", {"kind": "ra_agent", "version": "1", "title": "RA agent terms", "text": "..."}), 201)
    recruit_client = client_for(person=recruit)
    assert ok(recruit_client.get("/identity/terms/ra_agent"))["version"] == "1"
    ok(recruit_client.post(f"/identity/people/{recruit.uid}/terms-acceptances",
                           {"kind": "ra_agent", "version": "1", "occasion": "appointment"}), 201)
    problem(sponsor.post(f"/identity/people/{recruit.uid}/training", {"kind": "ra_agent", "completed_on": "2026-05-30"}), 403)
    ok(manager.post(f"/identity/people/{recruit.uid}/training", {"kind": "ra_agent", "completed_on": "2026-05-30"}), 201)
    ok(sponsor.post(f"/identity/people/{recruit.uid}/training", {"kind": "ig", "completed_on": "2026-05-01"}), 201)
    listed = ok(manager.get("/identity/ra-agent-appointments"))
    mine = [a for a in listed if a["person"] == recruit.uid][0]
    assert mine["state"] == "trained" and mine["terms_accepted"]
    assert len(ok(recruit_client.get(f"/identity/people/{recruit.uid}/training"))) == 2


def test_the_challenge_endpoint_gives_the_bytes_to_sign(world):
    challenge = ok(ApiClient().post("/cards/sign-in/challenge"), 201)
    assert base64.b64decode(challenge["challenge"]) == signin.challenge_bytes(challenge["nonce"])


def test_the_openapi_document_describes_the_routers(db):
    schema = ok(ApiClient().get("/openapi.json"))
    assert "/api/v1/cards/sign-in" in schema["paths"] and "/api/v1/identity/people/{uid}/checks" in schema["paths"]

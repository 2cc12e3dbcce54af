"""The card sign-in page (issue 5, item 5): the page's challenge signed by the software card signs
the holder in; a replayed challenge, a forged signature and a locked card are refused."""

import base64
import re

import pytest
from django.contrib.auth import get_user_model

from careaccess.credentials import testing
from careaccess.credentials.cards import SoftwareCard
from careaccess.directory.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture
def holder_card(clock, pki_dir):
    holder = testing.verified_person(given_name="Holly", family_name="Holder")
    user = get_user_model().objects.create_user(username=holder.uid, password="not used here 123")
    Person.objects.filter(pk=holder.pk).update(user=user)
    return holder, testing.card_for(holder)


def answer(client, card, *, pin=testing.PIN, tamper=False):
    page = client.get("/account/card-sign-in").content.decode()
    # the callout's explanation is shown (the macro ignored an "HTML" key), under an h2 after the h1
    assert "Browsers cannot talk to a smartcard reader" in page and "careaccess cards answer SERIAL" in page
    assert re.search(r"<h2[^>]*>\s*<span role=\"text\">\s*<span[^>]*>Important: </span>No card reader", page)
    nonce = re.search(r'data-nonce="([^"]+)"', page).group(1)
    challenge = base64.b64decode(re.search(r'id="challenge"[^>]*>([^<]+)<', page).group(1))
    soft = SoftwareCard.open(card)
    soft.verify_pin(pin)
    signature = soft.sign(challenge + (b"x" if tamper else b""))
    card.refresh_from_db()
    return nonce, {"nonce": nonce, "certificate": base64.b64encode(bytes(card.certificate.der)).decode(),
                   "signature": base64.b64encode(signature).decode()}


def test_the_software_card_signs_the_challenge_and_the_holder_is_signed_in(client, holder_card):
    holder, card = holder_card
    _, form = answer(client, card)
    response = client.post("/account/card-sign-in", form)
    assert response.status_code == 302 and response.url == "/"
    assert client.session["careaccess.amr"] == ["sc"]  # what relying services are told (OIDC amr)
    assert "Holly Holder" in client.get("/account/").content.decode()
    client.post("/sign-out")
    replay = client.post("/account/card-sign-in", form)
    assert replay.status_code == 422 and "already used" in replay.content.decode()


def test_a_forged_signature_is_refused(client, holder_card):
    _, card = holder_card
    _, form = answer(client, card, tamper=True)
    response = client.post("/account/card-sign-in", form)
    assert response.status_code == 422 and "does not verify" in response.content.decode()
    assert client.get("/account/").status_code == 302


def test_garbage_is_refused_with_a_reason(client, holder_card):
    response = client.post("/account/card-sign-in", {"nonce": "x", "certificate": "!!", "signature": "!!"})
    assert response.status_code == 422 and "Your card could not sign you in" in response.content.decode()

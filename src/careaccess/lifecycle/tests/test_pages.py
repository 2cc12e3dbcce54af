"""The lifecycle pages: the public reinstatement form and confirmation (PP13), the staff check,
and the reviewer's campaign page (PP6) with its error summary."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model

from careaccess.directory.models import Account, Person
from careaccess.lifecycle import sweeps
from careaccess.lifecycle.models import Campaign, CampaignItem, Reinstatement

from .conftest import messages_to, person_of

PASSWORD = "correct horse battery staple"


def give_sign_in(person: Person) -> None:
    user = get_user_model().objects.create_user(username=person.uid, password=PASSWORD)
    Person.objects.filter(pk=person.pk).update(user=user)


def sign_in(client, person: Person):
    give_sign_in(person)
    response = client.post("/sign-in", {"username": person.uid, "password": PASSWORD})
    assert response.status_code == 302, response.content[:500]


@pytest.fixture(autouse=True)
def _fast_hashers(settings):
    settings.PASSWORD_HASHERS = ["careaccess.credentials.testing.QuickArgon2PasswordHasher"]


def test_pp13_public_form_sends_a_link_and_confirming_shows_it_to_staff(world, clock, client):
    person, account = world.user(given_name="Rae", last_used_at=clock.now())
    clock.advance(dt.timedelta(days=61))
    sweeps.inactivity()

    page = client.get("/lifecycle/reinstate")
    assert page.status_code == 200 and "Ask for your account to be reinstated" in page.content.decode()
    bad = client.post("/lifecycle/reinstate", {"given_name": "", "family_name": "X", "email": "nope"})
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "Error: Ask for your account" in html and "Enter your first name" in html and 'href="#given_name"' in html

    sent = client.post("/lifecycle/reinstate", {"given_name": "Rae", "family_name": person.family_name,
                                                "email": person.email})
    assert sent.status_code == 200 and "Check your email" in sent.content.decode()
    body = [m for m in messages_to(person.email) if m.subject.startswith("Confirm")][-1].body
    path = next(line for line in body.splitlines() if "/lifecycle/reinstate/confirm/" in line).split("8000", 1)[1]
    assert client.get(path).status_code == 200
    assert Reinstatement.objects.get().state == Reinstatement.State.AWAITING_CONFIRMATION  # GET changes nothing
    assert "Request confirmed" in client.post(path).content.decode()

    sign_in(client, person_of(world.back_office))
    listing = client.get("/lifecycle/reinstatements").content.decode()
    assert f"Rae {person.family_name}" in listing
    row = Reinstatement.objects.get()
    assert client.post(f"/lifecycle/reinstatements/{row.pk}", {"action": "reinstate"}).status_code == 302
    row.refresh_from_db()
    assert row.state == Reinstatement.State.REQUESTED and row.access_request.kind == "reactivation"


def test_pp6_review_page_errors_and_refusal_for_someone_not_the_reviewer(world, clock, client):
    world.user(world.provider, given_name="Pat")
    sweeps.run("campaigns")
    campaign = Campaign.objects.get(organisation=world.provider)
    item = campaign.items.order_by("id").first()

    sign_in(client, person_of(world.sponsor))  # a sponsor elsewhere: not this campaign's reviewer
    assert client.get(f"/lifecycle/reviews/{campaign.pk}").status_code == 403
    client.post("/sign-out")

    sign_in(client, person_of(world.lead))
    assert f"/lifecycle/reviews/{campaign.pk}" in client.get("/lifecycle/reviews").content.decode()
    response = client.post(f"/lifecycle/reviews/{campaign.pk}", {f"decision-{item.pk}": "revoke"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "There is a problem" in html and f'href="#reason-{item.pk}"' in html
    item.refresh_from_db()
    assert item.decision == ""
    response = client.post(f"/lifecycle/reviews/{campaign.pk}", {f"decision-{item.pk}": "keep",
                                                                 f"reason-{item.pk}": "still works here"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.decision == CampaignItem.Decision.KEEP and item.reason == "still works here"


def test_pp6_the_reviewers_own_access_is_shown_for_someone_else_and_refused_if_posted(world, clock, client):
    from careaccess.core.audit.models import Head
    from careaccess.directory import services as directory
    from careaccess.directory import testing

    lead = person_of(world.lead)
    directory.create_account(testing.SYSTEM, lead, world.service, username=f"user{lead.uid}",
                             state=Account.State.ACTIVE)
    world.user(world.provider, given_name="Pat")
    sweeps.run("campaigns")
    campaign = Campaign.objects.get(organisation=world.provider)
    own = campaign.items.get(person=lead)
    other = campaign.items.exclude(person=lead).order_by("id").first()

    sign_in(client, lead)
    html = client.get(f"/lifecycle/reviews/{campaign.pk}").content.decode()
    assert "To be decided by someone else" in html and f'id="item-{own.pk}"' in html
    assert f'name="decision-{own.pk}"' not in html and f'name="decision-{other.pk}"' in html
    size = Head.objects.size()
    response = client.post(f"/lifecycle/reviews/{campaign.pk}", {
        f"decision-{own.pk}": "keep", f"reason-{own.pk}": "I still need it",
        f"decision-{other.pk}": "keep", f"reason-{other.pk}": "still works here"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "There is a problem" in html and f'href="#item-{own.pk}"' in html and "their own access" in html
    own.refresh_from_db(), other.refresh_from_db()
    assert own.decision == "" and other.decision == ""  # nothing decided, not even the allowed item
    assert Head.objects.size() == size
    client.post("/sign-out")

    sign_in(client, person_of(world.ra_manager))  # covers the provider: decides the lead's own access
    assert f"/lifecycle/reviews/{campaign.pk}" in client.get("/lifecycle/reviews").content.decode()
    html = client.get(f"/lifecycle/reviews/{campaign.pk}").content.decode()
    assert f'name="decision-{own.pk}"' in html and f'name="decision-{other.pk}"' not in html
    response = client.post(f"/lifecycle/reviews/{campaign.pk}", {f"decision-{own.pk}": "keep",
                                                                 f"reason-{own.pk}": "checked with the provider"})
    assert response.status_code == 302
    own.refresh_from_db()
    assert own.decision == "keep" and own.decided_by_id == world.ra_manager.person_id

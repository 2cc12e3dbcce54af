"""Rule PP6: review campaigns every review_months per service, opened, decided, escalated."""

import datetime as dt
import json

import pytest

from careaccess.access_requests.models import AccessRequest
from careaccess.core.audit.models import Entry
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.directory.models import Account, Assignment
from careaccess.lifecycle import campaigns, sweeps
from careaccess.lifecycle.models import Campaign, CampaignItem

from .conftest import ledger_size, messages_to, person_of


@pytest.fixture
def opened(world, clock):
    world.user(world.provider, given_name="Pat")
    world.user(world.provider, given_name="Kim")
    world.user(world.gp, given_name="Gus")
    result = sweeps.run("campaigns")[0]
    return world, result


def test_pp6_a_campaign_opens_per_organisation_with_an_item_per_live_assignment_and_account(opened, clock):
    world, result = opened
    provider = Campaign.objects.get(organisation=world.provider)
    gp = Campaign.objects.get(organisation=world.gp)
    assert result.counts["campaigns opened"] == 2
    assert provider.reviewer_id == world.lead.person_id  # a care provider: its lead correspondent
    assert gp.reviewer_id == world.sponsor.person_id  # otherwise the sponsor
    assert provider.items.filter(kind=CampaignItem.Kind.ASSIGNMENT).count() == 2
    assert provider.items.filter(kind=CampaignItem.Kind.ACCOUNT).count() == 2
    assert provider.due_on == clock.today() + dt.timedelta(days=28)
    assert any("Review the Provider Portal access" in m.subject for m in messages_to(person_of(world.lead).email))


def test_pp6_opening_records_one_audit_entry_per_campaign(opened):  # rule PP9
    world, _ = opened
    entries = {e.target_id: e for e in Entry.objects.filter(action="review.campaign_opened")}
    campaigns_made = {str(c.pk): c for c in Campaign.objects.select_related("organisation")}
    assert set(entries) == set(campaigns_made)
    for target_id, entry in entries.items():
        assert entry.organisation_code == campaigns_made[target_id].organisation.code
        assert json.loads(entry.after)["items"] == campaigns_made[target_id].items.count()


def test_pp6_opening_twice_opens_nothing_and_again_after_review_months(opened, clock):
    world, _ = opened
    size = ledger_size()
    assert sweeps.run("campaigns")[0].changed == 0
    assert ledger_size() == size
    clock.advance(dt.timedelta(days=85))
    assert sweeps.run("campaigns", dry_run=True)[0].changed == 0
    clock.advance(dt.timedelta(days=8))  # 3 months on
    dry = sweeps.run("campaigns", dry_run=True)[0]
    assert dry.counts["campaigns opened"] == 2 and Campaign.objects.count() == 2  # dry run: nothing made
    assert sweeps.run("campaigns")[0].counts["campaigns opened"] == 2
    assert Campaign.objects.count() == 4


def test_pp6_reviewer_keeps_and_revokes_with_reasons_revocations_become_removal_requests(opened, clock):
    world, _ = opened
    campaign = Campaign.objects.get(organisation=world.provider)
    assignment_item, other_assignment = campaign.items.filter(kind="assignment").order_by("id")
    account_item = campaign.items.filter(kind="account").order_by("id").first()

    kept = campaigns.decide(world.lead, other_assignment, decision="keep", reason="still cares for clients")
    assert kept.decision == "keep" and kept.access_request is None

    revoked = campaigns.decide(world.lead, assignment_item, decision="revoke", reason="moved to the office")
    request = AccessRequest.objects.get(pk=revoked.access_request_id)
    assert request.kind == "position_removal" and request.state == "submitted"
    assert request.assignment_id == assignment_item.assignment_id

    revoked_account = campaigns.decide(world.lead, account_item, decision="revoke", reason="no longer needs it")
    assert AccessRequest.objects.get(pk=revoked_account.access_request_id).kind == "deletion"

    progress = campaigns.progress_by_organisation(organisation=world.provider).get()
    assert (progress.total, progress.kept, progress.revoked, progress.undecided) == (4, 1, 2, 1)


def test_pp6_only_the_reviewer_decides_and_a_reason_is_needed(opened, clock):
    world, _ = opened
    item = Campaign.objects.get(organisation=world.provider).items.first()
    size = ledger_size()
    with pytest.raises(Forbidden) as refused:
        campaigns.decide(world.sponsor, item, decision="keep", reason="looks fine")
    assert "not the reviewer" in refused.value.message
    with pytest.raises(Forbidden):
        campaigns.decide(world.ra_manager, item, decision="keep", reason="looks fine")  # not escalated yet
    with pytest.raises(InvalidInput) as missing:
        campaigns.decide(world.lead, item, decision="revoke", reason="  ")
    assert list(missing.value.errors) == [f"reason-{item.pk}"]
    item.refresh_from_db()
    assert item.decision == "" and ledger_size() == size
    assert not AccessRequest.objects.filter(kind="position_removal").exists()


def test_pp6_undecided_items_escalate_to_the_ra_manager_at_the_deadline(opened, clock):
    world, _ = opened
    campaign = Campaign.objects.get(organisation=world.provider)
    first = campaign.items.order_by("id").first()
    campaigns.decide(world.lead, first, decision="keep", reason="fine")

    clock.advance(dt.timedelta(days=28))  # the deadline day: not yet
    assert sweeps.run("escalations")[0].changed == 0
    clock.advance(dt.timedelta(days=1))
    result = sweeps.run("escalations")[0]
    assert result.counts["items escalated"] == 3 + 2  # provider's 3 undecided, the practice's 2
    campaign.refresh_from_db()
    assert campaign.state == Campaign.State.ESCALATED
    assert campaign.items.filter(escalated_at__isnull=False).count() == 3
    assert any("Escalated" in m.subject for m in messages_to(person_of(world.ra_manager).email))
    # No suspension unless the service's review policy says so.
    assert not Account.objects.filter(state=Account.State.SUSPENDED).exists()
    assert sweeps.run("escalations")[0].changed == 0  # twice: nothing more

    item = campaign.items.filter(decision="").order_by("id").first()
    with pytest.raises(Forbidden):
        campaigns.decide(world.lead, item, decision="keep", reason="late")  # now the RA manager's
    decided = campaigns.decide(world.ra_manager, item, decision="revoke", reason="nobody vouched for it")
    assert decided.access_request is not None and decided.decided_by_id == world.ra_manager.person_id


def test_pp6_escalation_suspends_where_the_service_says_so(world, clock):
    campaigns.set_review_policy(sweeps.SYSTEM, world.service, suspend_undecided=True, decision_days=10)
    person, account = world.user(world.provider)
    sweeps.run("campaigns")
    clock.advance(dt.timedelta(days=11))
    result = sweeps.run("escalations")[0]
    account.refresh_from_db()
    assert account.state == Account.State.SUSPENDED
    assert Assignment.objects.get(person=person).state == Assignment.State.SUSPENDED
    assert result.counts["accounts suspended"] == 1 and result.counts["assignments suspended"] == 1
    assert not CampaignItem.objects.filter(suspended_at__isnull=True, decision="").exists()


def test_pp6_one_item_per_assignment_and_per_account_and_organisation_however_many_roles_or_positions(world, clock):
    """Rule PP6: a position carrying two of the service's roles gives its assignment one item; an
    account gives one item in each organisation where its holder has a live assignment, however
    many there; an organisation reached only through accounts gets its campaign; a suspended
    account gets none."""
    from careaccess.directory import services as directory
    from careaccess.directory import testing

    rota = directory.create_service(testing.SYSTEM, code="rota", name="Rota", roles=[
        {"code": "planner", "name": "Planner"}, {"code": "viewer", "name": "Viewer"}])
    both = testing.position(world.provider, "Rota lead", service_roles=["rota:planner", "rota:viewer"])
    pat, _ = world.user(world.provider, given_name="Pat")  # also in the provider's Carer position
    directory.create_assignment(testing.SYSTEM, pat, both)
    directory.create_assignment(testing.SYSTEM, pat, world.gp_carer)
    gus, _ = world.user(world.gp, given_name="Gus")
    sid, _ = world.user(world.gp, given_name="Sid")
    for person, state in ((pat, Account.State.ACTIVE), (gus, Account.State.ACTIVE), (sid, Account.State.SUSPENDED)):
        directory.create_account(testing.SYSTEM, person, rota, username=f"rota-{person.uid}", state=state)
    result = campaigns.open_due_campaigns(services=[rota])
    items = {(c.organisation_id, i.kind, i.person_id, i.assignment_id is not None)
             for c in Campaign.objects.filter(service=rota) for i in c.items.all()}
    assert CampaignItem.objects.filter(campaign__service=rota).count() == len(items) == 4
    assert items == {(world.provider.id, CampaignItem.Kind.ASSIGNMENT, pat.id, True),
                     (world.provider.id, CampaignItem.Kind.ACCOUNT, pat.id, False),
                     (world.gp.id, CampaignItem.Kind.ACCOUNT, pat.id, False),
                     (world.gp.id, CampaignItem.Kind.ACCOUNT, gus.id, False)}
    assert sorted(result.changes) == ["opened a Rota review for B86001 (2 items)",
                                      "opened a Rota review for VN123 (2 items)"]
    assert campaigns.open_due_campaigns(services=[rota]).changed == 0


@pytest.fixture
def reviewer_in_scope(world, clock):
    """The provider's lead correspondent also works as a Carer there with a portal account: the
    provider's campaign then holds two items about the reviewer's own access."""
    from careaccess.directory import services as directory
    from careaccess.directory import testing

    lead = person_of(world.lead)
    directory.create_assignment(testing.SYSTEM, lead, world.provider_carer)
    directory.create_account(testing.SYSTEM, lead, world.service, username=f"user{lead.uid}",
                             state=Account.State.ACTIVE)
    world.user(world.provider, given_name="Pat")
    sweeps.run("campaigns")
    campaign = Campaign.objects.get(organisation=world.provider)
    assert campaign.reviewer_id == lead.pk
    own = list(campaign.items.filter(person=lead).order_by("id"))
    assert [i.kind for i in own] == ["assignment", "account"]
    return campaign, own


def test_pp6_nobody_decides_the_review_of_their_own_access(world, reviewer_in_scope):
    # rule PP6, read with SC2 and DS5 (the holder answers for their use; nobody approves for themselves)
    campaign, (own_position, own_account) = reviewer_in_scope
    size = ledger_size()
    for item in (own_position, own_account):
        with pytest.raises(Forbidden) as refused:
            campaigns.decide(world.lead, item, decision="keep", reason="I still need it")
        assert "their own access" in refused.value.message and "RA manager" in refused.value.message
        item.refresh_from_db()
        assert item.decision == ""
    assert ledger_size() == size and not AccessRequest.objects.exists()
    answers = campaigns.decidable(world.lead, campaign, list(campaign.items.order_by("id")))
    assert len(answers) == 4  # the reviewer's two, Pat's position and account
    assert {pk for pk, why in answers.items() if why} == {own_position.pk, own_account.pk}


def test_pp6_the_reviewers_own_access_is_decided_by_another_lead_or_sponsor_there_or_an_ra_manager(
        world, reviewer_in_scope):
    from careaccess.directory import testing

    campaign, (own_position, own_account) = reviewer_in_scope
    second_lead = testing.staff(world.provider, "lead_correspondent", given_name="Lou", family_name="Second")
    # A sponsor of another organisation may not: the reviewer's own items are for someone who may review here.
    with pytest.raises(Forbidden) as refused:
        campaigns.decide(world.sponsor, own_position, decision="keep", reason="fine")
    assert "reviewer's own access" in refused.value.message
    # Neither may the second lead decide the reviewer's ordinary items: those are the reviewer's.
    ordinary = campaign.items.exclude(person_id=campaign.reviewer_id).first()
    with pytest.raises(Forbidden):
        campaigns.decide(second_lead, ordinary, decision="keep", reason="fine")

    assert [c.pk for c in campaigns.reviewers_own_to_decide(second_lead)] == [campaign.pk]
    assert [c.pk for c in campaigns.reviewers_own_to_decide(world.ra_manager)] == [campaign.pk]
    assert not campaigns.reviewers_own_to_decide(world.lead).exists()
    assert not campaigns.reviewers_own_to_decide(world.sponsor).exists()
    assert campaigns.may_open(second_lead, campaign) and not campaigns.may_open(world.sponsor, campaign)

    kept = campaigns.decide(second_lead, own_position, decision="keep", reason="still visits clients")
    assert kept.decided_by_id == second_lead.person_id
    revoked = campaigns.decide(world.ra_manager, own_account, decision="revoke", reason="uses the office login")
    assert revoked.decided_by_id == world.ra_manager.person_id
    assert AccessRequest.objects.get(pk=revoked.access_request_id).kind == "deletion"
    entry = Entry.objects.filter(action="review.item_decided", target_id=str(own_account.pk)).get()
    assert entry.actor.startswith("Manny Manager")
    # Nothing of the reviewer's own waits any more: the page is the reviewer's alone again.
    assert not campaigns.reviewers_own_to_decide(second_lead).exists()
    assert not campaigns.may_open(second_lead, campaign)

"""Review campaigns (rule PP6): every `review_months` a service's campaign opens for each
organisation, one item per live assignment (a position carrying one of the service's roles) or
account (on the service, held by someone with a live position there); the lead correspondent (or
sponsor) keeps or revokes each with a reason; revocations become removal requests; what is left
undecided at the deadline escalates to the RA manager and, where the service's review policy
says so, is suspended.

Opening is set-based: a handful of queries per service whatever the number of organisations, the
campaigns bulk-inserted, their items by INSERT ... SELECT, one audit entry per campaign appended a
batch at a time (`ledger.record_many`; opening a review changes nobody's access, the decisions are
audited one by one).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict

from django.db import transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, Forbidden, InvalidInput
from careaccess.directory.models import Account, Assignment, Organisation, Person, Position, Service
from careaccess.directory.selectors import ancestors, live_assignment_filter

from . import policy
from .models import Campaign, CampaignItem, ReviewPolicy
from .sweeps import SYSTEM, Progress, SweepResult, batched, change_assignments, queue_messages, suspend_accounts


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def review_policy(service: Service) -> tuple[bool, int]:
    row = ReviewPolicy.objects.filter(service=service).first()
    days = row.decision_days if row and row.decision_days else policy.review_decision_days()
    return bool(row and row.suspend_undecided), days


@transaction.atomic
def set_review_policy(actor: Actor, service: Service, *, suspend_undecided: bool,
                      decision_days: int | None = None) -> ReviewPolicy:
    if decision_days is not None and (not isinstance(decision_days, int) or decision_days < 1):
        raise InvalidInput({"decision_days": "enter a whole number of days, 1 or more"})
    acting = permissions.authorise(actor, "service.update")
    row = ReviewPolicy.objects.select_for_update().filter(service=service).first() or ReviewPolicy(
        service=service, updated_at=clock.now())
    before = {"suspend_undecided": row.suspend_undecided, "decision_days": row.decision_days}
    row.suspend_undecided, row.decision_days, row.updated_at = bool(suspend_undecided), decision_days, clock.now()
    row.save()
    ledger.record("review.policy_set", actor=acting, target_type="service", target_id=service.pk, before=before,
                  after={"suspend_undecided": row.suspend_undecided, "decision_days": row.decision_days})
    return row


def _staff_code(capability: str) -> str:
    return permissions.capability_codes()[capability]


def _reviewers(service: Service, org_ids: list[int], today: dt.date) -> dict[int, int]:
    """Organisation id -> the reviewer's person id: the lead correspondent where the service's
    approver is the lead correspondent or the organisation is a care provider (PP6), else the
    sponsor; the other when there is none; the earliest assignment first."""
    codes = {_staff_code("lead_correspondent"): "lead_correspondent", _staff_code("sponsor"): "sponsor"}
    found: dict[int, dict[str, int]] = defaultdict(dict)
    kinds: dict[int, str] = {}
    for chunk in batched(org_ids, 5000):
        staff = Assignment.objects.filter(live_assignment_filter(today), position__organisation_id__in=list(chunk),
                                          position__activities__code__in=list(codes)).order_by()
        firsts = list(staff.values_list("position__organisation_id", "position__organisation__kind",
                                        "position__activities__code").annotate(first=Min("id")))
        people = dict(Assignment.objects.filter(id__in=[first for *_, first in firsts]).values_list("id", "person_id"))
        for org_id, kind, code, first in firsts:
            found[org_id][codes[code]] = people[first]
            kinds[org_id] = kind
    result = {}
    for org_id, by_role in found.items():
        lead_first = (service.approver_kind == Service.ApproverKind.LEAD_CORRESPONDENT
                      or kinds[org_id] == Organisation.Kind.CARE_PROVIDER)
        order = ("lead_correspondent", "sponsor") if lead_first else ("sponsor", "lead_correspondent")
        result[org_id] = next(by_role[r] for r in order if r in by_role)
    return result


def _in_scope(service: Service, today: dt.date):
    """The live assignments a review of the service covers: those of positions carrying one of its
    roles (an item each), and those of people holding an active account on it (an item per account
    and organisation)."""
    live = Assignment.objects.filter(live_assignment_filter(today)).order_by()
    return (live.filter(position__in=Position.objects.filter(service_roles__service=service)),
            live.filter(person__in=Account.objects.filter(service=service, state=Account.State.ACTIVE)
                        .values("person_id")))


ITEM_COLUMNS = ("campaign_id", "kind", "person_id", "assignment_id", "account_id", "decision", "reason")


def _insert_items(service: Service, today: dt.date, made) -> int:
    """The items of the campaigns `made` (a queryset), by two INSERT ... SELECT: one per live assignment
    of a position carrying one of the service's roles; one per active account on the service and
    organisation where its holder has a live assignment (several there: one item). On PostgreSQL the
    organisation -> campaign mapping is an array: joined to the campaigns just inserted, which the
    table's statistics do not know, the planner expects one row and probes the directory's indexes
    for each of millions of rows."""
    from django.db import connection

    if connection.vendor == "postgresql":
        campaign_of = dict(made.values_list("organisation_id", "id"))
        mapping = "unnest(%s::bigint[], %s::bigint[]) AS m (organisation_id, id)"
        mapping_params = [list(campaign_of), list(campaign_of.values())]
    else:
        sql, mapping_params = made.order_by().values_list("organisation_id", "id").query.sql_with_params()
        mapping = f"({sql}) AS m"
    carrying, holding = _in_scope(service, today)
    assignments, a_params = (carrying.annotate(o=F("position__organisation_id")).values_list("id", "person_id", "o")
                             .query.sql_with_params())
    held, h_params = (holding.annotate(o=F("position__organisation_id")).values_list("person_id", "o").distinct()
                      .query.sql_with_params())
    inserts = [
        (f"SELECT m.id, '{CampaignItem.Kind.ASSIGNMENT}', a.person_id, a.id, NULL, '', '' FROM ({assignments}) a "
         f"JOIN {mapping} ON m.organisation_id = a.o", [*a_params, *mapping_params]),
        (f"SELECT m.id, '{CampaignItem.Kind.ACCOUNT}', h.person_id, NULL, acc.id, '', '' FROM ({held}) h "
         f"JOIN {Account._meta.db_table} acc ON acc.person_id = h.person_id AND acc.service_id = %s "
         f"AND acc.state = %s JOIN {mapping} ON m.organisation_id = h.o",
         [*h_params, service.id, Account.State.ACTIVE, *mapping_params]),
    ]
    items = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Per (person, organisation) at national scale, the DISTINCT and the joins' hashes and sorts
            # outgrow the default work_mem and spill to disk; for this transaction only.
            cursor.execute("SET LOCAL work_mem = '64MB'")
        for select, params in inserts:
            cursor.execute(f"INSERT INTO {CampaignItem._meta.db_table} ({', '.join(ITEM_COLUMNS)}) {select}", params)
            items += cursor.rowcount
    return items


def open_due_campaigns(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None,
                       services: list[Service] | None = None) -> SweepResult:
    """Open a campaign for every organisation and service whose last one opened `review_months` ago
    or more (or never), with its items. A second run the same day opens nothing.

    Per service: one query for the organisations due, the campaigns bulk-inserted in batches, then
    their items with two INSERT ... SELECT statements (positions, accounts) mapped to the campaigns
    this run made (their `created_at` is this run's instant); one audit entry per campaign."""
    result = SweepResult("campaigns", dry_run)
    today = clock.today()
    for service in services or Service.objects.filter(status=Service.Status.ACTIVE).order_by("id"):
        cutoff = add_months(today, -service.review_months)
        recent = set(Campaign.objects.filter(service=service, opens_on__gt=cutoff)
                     .values_list("organisation_id", flat=True))
        carrying, holding = _in_scope(service, today)
        assignment_orgs = carrying.values_list("position__organisation_id", flat=True).distinct()
        account_orgs = holding.values_list("position__organisation_id", flat=True).distinct()
        org_ids = sorted((set(assignment_orgs) | set(account_orgs)) - recent)
        if dry_run:
            codes = dict(Organisation.objects.filter(id__in=org_ids).values_list("id", "code")) if len(org_ids) < 10000 else {}
            result.changes += [f"open a {service.name} review for {codes.get(o, o)}" for o in org_ids]
            result.add("campaigns opened", len(org_ids))
            continue
        if not org_ids:
            continue
        _, decision_days = review_policy(service)
        due_on = today + dt.timedelta(days=decision_days)
        reviewers = _reviewers(service, org_ids, today)
        with transaction.atomic():
            now = clock.now()
            done = 0
            for chunk in batched(org_ids, 5000):
                Campaign.objects.bulk_create(
                    [Campaign(service=service, organisation_id=o, reviewer_id=reviewers.get(o), opens_on=today,
                              due_on=due_on, created_at=now) for o in chunk], ignore_conflicts=True, batch_size=5000)
                done += len(chunk)
                if progress:
                    progress("campaigns opened", done, len(org_ids))
            # This run's campaigns (a concurrent run's, made at another instant, are left to it).
            mine = {"service": service.id, "opens_on": today, "created_at": now}
            items = _insert_items(service, today, Campaign.objects.filter(**mine))
            made = list(Campaign.objects.filter(**mine).annotate(n=Count("items")).order_by("id")
                        .values_list("id", "organisation_id", "organisation__code", "reviewer__email", "n"))
            why = f"periodic review every {service.review_months} months (rule PP6)"
            for batch in batched(made):
                ledger.record_many([
                    ledger.Change("review.campaign_opened", actor=actor, target_type="review_campaign", target_id=c,
                                  organisation_code=code, reason=why,
                                  after={"service": service.code, "due_on": due_on, "items": n})
                    for c, _, code, _, n in batch])
            queue_messages(
                (email or "", f"Review the {service.name} access of {code} by {due_on}",
                 f"A review of everyone with {service.name} access at {code} is open ({n} items). Keep or revoke "
                 f"each, with a reason, by {due_on.isoformat()} at {policy.site_url()}/lifecycle/reviews/{c} "
                 f"(rule PP6). Anything undecided then goes to the RA manager.\n", "lifecycle.review", f"review:{c}")
                for c, _, code, email, n in made)
            result.changes += [f"opened a {service.name} review for {code} ({n} items)"
                               for c, _, code, _, n in made[:10000]]
            result.add("campaigns opened", len(made))
            result.add("items", items)
    return result


# --- deciding ---

def _escalation_reviewer(actor: Actor, org: Organisation) -> Actor:
    return permissions.authorise(actor, "review.decide_escalated", org)


# Who decides an item. Nobody certifies their own access (PP6 read with SC2, DS5: the reviewer is
# answerable for each decision, and nobody approves their own request), so the reviewer's own items
# go to someone else who may review at the organisation: another lead correspondent or sponsor there
# (`review.decide`, as `_reviewers` picks them) or an RA manager covering it (`review.decide_escalated`,
# who decides what is left at the deadline). Not a setting: who may certify is a rule, not a number.
OWN, ESCALATED, REVIEWERS_OWN, REVIEWED = "own", "escalated", "reviewers_own", "reviewed"


def _category(actor: Actor, campaign: Campaign, item: CampaignItem | None) -> str:
    if item is not None and actor.kind == "person" and actor.person_id == item.person_id:
        return OWN
    if (item.escalated_at is not None) if item is not None else campaign.state == Campaign.State.ESCALATED:
        return ESCALATED
    if item is not None and campaign.reviewer_id is not None and item.person_id == campaign.reviewer_id:
        return REVIEWERS_OWN
    return REVIEWED


def someone_else_text(campaign: Campaign) -> str:
    org = campaign.organisation
    return (f"another lead correspondent or sponsor of {org.name} ({org.code}), or an RA manager covering it")


def _check(actor: Actor, campaign: Campaign, category: str) -> Actor:
    org = campaign.organisation
    if category == OWN:
        raise Forbidden(f"nobody decides the review of their own access: {someone_else_text(campaign)} decides "
                        f"it (rule PP6)")
    if category == ESCALATED:
        try:
            return _escalation_reviewer(actor, org)
        except Forbidden:
            raise Forbidden(f"this item was escalated to the RA manager at its deadline; only an RA manager for "
                            f"{org.name} may decide it now (rule PP6)") from None
    if category == REVIEWERS_OWN:
        for action in ("review.decide", "review.decide_escalated"):
            try:
                return permissions.authorise(actor, action, org)
            except Forbidden:
                pass
        raise Forbidden(f"this is the reviewer's own access: {someone_else_text(campaign)} decides it, not "
                        f"{actor.label} (rule PP6)")
    if actor.kind != "person" or campaign.reviewer_id is None or actor.person_id != campaign.reviewer_id:
        raise Forbidden(f"{actor.label} is not the reviewer of this campaign: only its reviewer (the lead "
                        f"correspondent or sponsor it was assigned to) keeps or revokes its items (rule PP6)")
    return actor


def _check_reviewer(actor: Actor, campaign: Campaign, item: CampaignItem | None) -> Actor:
    return _check(actor, campaign, _category(actor, campaign, item))


def may_decide(actor: Actor, campaign: Campaign, item: CampaignItem | None = None) -> bool:
    try:
        _check_reviewer(actor, campaign, item)
        return True
    except Forbidden:
        return False


def decidable(actor: Actor, campaign: Campaign, items: list[CampaignItem]) -> dict[int, str | None]:
    """Item id -> None where the actor may decide it, else why not (one permission check per kind of item)."""
    answers: dict[str, str | None] = {}
    result = {}
    for item in items:
        category = _category(actor, campaign, item)
        if category not in answers:
            try:
                _check(actor, campaign, category)
                answers[category] = None
            except Forbidden as refused:
                answers[category] = refused.message
        result[item.pk] = answers[category]
    return result


def _reviewers_own_waiting():
    return CampaignItem.objects.filter(campaign=OuterRef("pk"), decision="", escalated_at__isnull=True,
                                       person_id=OuterRef("reviewer_id"))


def may_open(actor: Actor, campaign: Campaign) -> bool:
    """The campaign's page: its reviewer, an RA manager once it escalated, and whoever may decide
    the reviewer's own items while some are undecided."""
    if may_decide(actor, campaign):
        return True
    if campaign.state == Campaign.State.CLOSED or actor.kind != "person" or actor.person_id == campaign.reviewer_id:
        return False
    if not Campaign.objects.filter(pk=campaign.pk).filter(Exists(_reviewers_own_waiting())).exists():
        return False
    try:
        _check(actor, campaign, REVIEWERS_OWN)
        return True
    except Forbidden:
        return False


def reviewers_own_to_decide(actor: Actor):
    """Open campaigns, not the actor's own, whose reviewer's own items wait for someone else, at the
    organisations where the actor may decide them (lead correspondent, sponsor, RA manager)."""
    if actor.kind != "person":
        return Campaign.objects.none()
    wanted = {*permissions.ACTIONS["review.decide"], *permissions.ACTIONS["review.decide_escalated"]}
    campaigns = (progress_by_organisation().exclude(state=Campaign.State.CLOSED)
                 .exclude(reviewer_id=actor.person_id).filter(Exists(_reviewers_own_waiting())))
    ids = permissions.covered_organisation_ids(actor, wanted)
    return campaigns if ids is None else campaigns.filter(organisation_id__in=ids)


@transaction.atomic
def decide(actor: Actor, item: CampaignItem | int, *, decision: str, reason: str) -> CampaignItem:
    """The reviewer keeps or revokes one item, with a reason; a revocation raises a removal request."""
    from careaccess.access_requests import services as requests
    from careaccess.access_requests.rules import Kind

    item_id = getattr(item, "pk", item)
    item = (CampaignItem.objects.select_for_update(of=("self",))
            .select_related("campaign__organisation", "campaign__service", "person", "assignment__position")
            .filter(pk=item_id).first())
    if item is None:
        raise InvalidInput({"item": f"there is no review item {item_id}"})
    campaign = item.campaign
    acting = _check_reviewer(actor, campaign, item)
    errors = {}
    if decision not in (CampaignItem.Decision.KEEP, CampaignItem.Decision.REVOKE):
        errors[f"decision-{item.pk}"] = "Select keep or revoke"
    reason = (reason or "").strip()
    if not reason:
        errors[f"reason-{item.pk}"] = "Give the reason for keeping or revoking this access"
    if errors:
        raise InvalidInput(errors)
    if item.decision:
        raise Conflict(f"this item was already decided ({item.decision}) on {item.decided_at:%d %B %Y}")
    if campaign.state == Campaign.State.CLOSED:
        raise Conflict("this campaign is closed")
    org = campaign.organisation
    request = None
    if decision == CampaignItem.Decision.REVOKE:
        if item.kind == CampaignItem.Kind.ASSIGNMENT:
            kind, service, details = Kind.POSITION_REMOVAL, None, {"assignment": item.assignment_id}
        else:
            kind, service, details = Kind.DELETION, campaign.service, {"person": item.person.uid,
                                                                       "cause": "no longer needed"}
        note = f"revoked in the {campaign.service.name} review of {org.code} (rule PP6): {reason}"
        try:
            request = requests.raise_request(actor, kind=kind, organisation=org, service=service, details=details,
                                             note=note, submit=True)
        except Forbidden:
            # The RA manager deciding an escalated item, or a reviewer the request rules do not let raise
            # for this organisation: the review itself is the authority; the request is raised on its behalf.
            request = requests.raise_request(Actor.system(f"review campaign {campaign.pk}, for {acting.label}"),
                                             kind=kind, organisation=org, service=service, details=details,
                                             note=note, submit=True)
    before = {"decision": item.decision}
    item.decision, item.reason, item.decided_at = decision, reason, clock.now()
    item.decided_by_id = acting.person_id
    item.access_request = request
    item.save(update_fields=["decision", "reason", "decided_at", "decided_by", "access_request"])
    ledger.record("review.item_decided", actor=acting, target_type="review_item", target_id=item.pk, before=before,
                  after={"decision": decision, "kind": item.kind, "assignment": item.assignment_id,
                         "account": item.account_id, "removal_request": request.reference if request else None},
                  person_uid=item.person.uid, organisation_code=org.code,
                  access_request=request.reference if request else None, reason=reason)
    if not CampaignItem.objects.filter(campaign=campaign, decision="").exists():
        Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.CLOSED)
        ledger.record("review.campaign_completed", actor=acting, target_type="review_campaign", target_id=campaign.pk,
                      before={"state": campaign.state}, after={"state": Campaign.State.CLOSED},
                      organisation_code=org.code)
    return item


# --- the deadline ---

def _ra_manager_emails(org: Organisation, today: dt.date) -> list[str]:
    chain = [org.id] + [a.id for a in ancestors(org) if a.oversees_descendants]
    emails = (Assignment.objects.filter(live_assignment_filter(today), position__organisation_id__in=chain,
                                        position__activities__code=_staff_code("ra_manager"))
              .values_list("person__email", flat=True).distinct())
    return sorted({e for e in emails if e}) or [policy.ra_email()]


def escalate_overdue(*, actor: Actor = SYSTEM, dry_run: bool = False, progress: Progress | None = None) -> SweepResult:
    """Items undecided after their campaign's deadline escalate to the RA manager; where the
    service's review policy says so, the access they stand for is suspended."""
    result = SweepResult("escalations", dry_run)
    today = clock.today()
    overdue = list(Campaign.objects.filter(state=Campaign.State.OPEN, due_on__lt=today)
                   .select_related("organisation", "service").order_by("due_on", "id"))
    for campaign in overdue:
        undecided = CampaignItem.objects.filter(campaign=campaign, decision="", escalated_at__isnull=True)
        rows = list(undecided.order_by("id").values_list("id", "kind", "assignment_id", "account_id", "person__uid"))
        result.changes.append(f"escalate {len(rows)} undecided items of the {campaign.service.name} review of "
                              f"{campaign.organisation.code} to the RA manager")
        result.add("items escalated", len(rows))
        suspend, _ = review_policy(campaign.service)
        if dry_run:
            if suspend:
                result.add("suspensions", len(rows))
            continue
        for batch in batched(rows):
            with transaction.atomic():
                now = clock.now()
                ids = list(undecided.select_for_update().filter(id__in=[r[0] for r in batch])
                           .values_list("id", flat=True))
                CampaignItem.objects.filter(id__in=ids).update(escalated_at=now)
                for item_id, kind, assignment_id, account_id, uid in batch:
                    if item_id in ids:
                        ledger.record("review.item_escalated", actor=actor, target_type="review_item",
                                      target_id=item_id, before={"escalated": False}, after={"escalated": True},
                                      person_uid=uid, organisation_code=campaign.organisation.code,
                                      reason=f"undecided at the deadline {campaign.due_on} (rule PP6)")
        with transaction.atomic():
            Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.ESCALATED)
            ledger.record("review.campaign_escalated", actor=actor, target_type="review_campaign",
                          target_id=campaign.pk, before={"state": Campaign.State.OPEN},
                          after={"state": Campaign.State.ESCALATED, "undecided": len(rows)},
                          organisation_code=campaign.organisation.code, reason="deadline passed (rule PP6)")
            queue_messages((to, f"Escalated: {campaign.service.name} review of {campaign.organisation.code}",
                            f"The {campaign.service.name} review of {campaign.organisation.name} "
                            f"({campaign.organisation.code}) had {len(rows)} items undecided at its deadline "
                            f"{campaign.due_on.isoformat()}. They are now yours to decide at {policy.site_url()}"
                            f"/lifecycle/reviews/{campaign.pk} (rule PP6)."
                            f"{' Their access has been suspended meanwhile.' if suspend else ''}\n",
                            "lifecycle.escalation", f"review:{campaign.pk}")
                           for to in _ra_manager_emails(campaign.organisation, today))
        if suspend and rows:
            reason = f"undecided in the {campaign.service.name} review at its deadline (rule PP6)"
            item_ids = [r[0] for r in rows]
            change_assignments(Assignment.objects.filter(id__in=[r[2] for r in rows if r[2]],
                                                         state=Assignment.State.ACTIVE),
                               state=Assignment.State.SUSPENDED, actor=actor, reason=reason, result=result,
                               dry_run=False, what="assignments suspended", action="assignment.suspended")
            suspend_accounts(Account.objects.filter(id__in=[r[3] for r in rows if r[3]]), actor=actor, reason=reason,
                             result=result, dry_run=False)
            with transaction.atomic():
                CampaignItem.objects.filter(id__in=item_ids).update(suspended_at=clock.now())
    return result


# --- reading ---

def progress_by_organisation(service: Service | None = None, organisation: Organisation | None = None):
    """Each campaign with its counts: items, kept, revoked, undecided, escalated (PP6 progress)."""
    campaigns = Campaign.objects.select_related("organisation", "service", "reviewer")
    if service is not None:
        campaigns = campaigns.filter(service=service)
    if organisation is not None:
        campaigns = campaigns.filter(organisation=organisation)
    return campaigns.annotate(
        total=Count("items"),
        kept=Count("items", filter=Q(items__decision=CampaignItem.Decision.KEEP)),
        revoked=Count("items", filter=Q(items__decision=CampaignItem.Decision.REVOKE)),
        undecided=Count("items", filter=Q(items__decision="")),
        escalated=Count("items", filter=Q(items__escalated_at__isnull=False)),
    ).order_by("organisation__code", "-opens_on")


def campaigns_for(actor: Actor):
    """The campaigns the actor reviews (open or escalated), with progress."""
    if actor.kind != "person":
        return Campaign.objects.none()
    return progress_by_organisation().filter(reviewer_id=actor.person_id).exclude(state=Campaign.State.CLOSED)

"""Reports (rules DS17, PP15, DS4): each is a set-based query, aggregated in SQL and read a page
(or, for CSV, a chunk) at a time, never a Python loop over the directory.

A report is a `Report`: its columns, a function giving the rows the actor may see as a queryset of
dicts (ordered so that a first page comes off an index), and optionally a chart (a few buckets
counted in SQL). Who may read: `report.read` (RA manager, auditor; sponsors and lead
correspondents for their own organisations); what they see is scoped to the organisations their
acting position covers. Every run is one ledger entry (`record_run`); the targeted audit reuses the
ledger search and its own recording (`audit.searched`).
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (BooleanField, Case, Count, DateTimeField, Exists, ExpressionWrapper, F, IntegerField,
                              OuterRef, Q, QuerySet, Subquery, Value, When)
from django.db.models.functions import Coalesce, TruncWeek

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger, search
from careaccess.core.context import Actor
from careaccess.core.errors import InvalidInput, NotFound
from careaccess.directory.models import Account, Activity, Assignment, Organisation, Person
from careaccess.directory.selectors import live_assignment_filter

CHART_WEEKS = 12


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    kind: str = "text"  # text, int, bool, uid
    default: Any = None
    hint: str = ""


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    description: str
    columns: tuple[tuple[str, str], ...]  # (key, heading)
    rows: Callable[[Actor, dict], QuerySet]
    params: tuple[Param, ...] = ()
    chart: Callable[[Actor, dict], list[tuple[str, int]]] | None = None
    chart_title: str = ""
    needs: str = "report.read"
    required: tuple[str, ...] = ()  # params that must be given (any one of them)


REPORTS: dict[str, Report] = {}


def _register(report: Report) -> Report:
    REPORTS[report.name] = report
    return report


def get(name: str) -> Report:
    try:
        return REPORTS[name]
    except KeyError:
        raise NotFound(f"no report is called {name}; choose one of: {', '.join(REPORTS)}") from None


# --- parameters and scope ---

def clean_params(report: Report, raw: dict[str, Any]) -> dict[str, Any]:
    """The report's parameters from strings (a query string, the CLI), with every problem at once."""
    errors, cleaned = {}, {}
    for p in report.params:
        value = raw.get(p.name)
        value = value.strip() if isinstance(value, str) else value
        if value in (None, ""):
            cleaned[p.name] = p.default
            continue
        if p.kind == "int":
            try:
                number = int(value)
                if not 1 <= number <= 3650:
                    raise ValueError
                cleaned[p.name] = number
            except (TypeError, ValueError):
                errors[p.name] = f"{p.label} must be a whole number from 1 to 3650"
        elif p.kind == "bool":
            cleaned[p.name] = str(value).lower() in ("1", "true", "yes", "on")
        elif p.kind == "uid":
            from careaccess.directory.rules import is_user_id

            value = "".join(str(value).split())
            if not is_user_id(value):
                errors[p.name] = f"{p.label} must be a 12-digit user ID, like 123456789012"
            cleaned[p.name] = value
        elif p.kind == "organisation":
            value = str(value).upper()
            if len(value) > 20:
                errors[p.name] = f"{p.label} must be 20 characters or fewer"
            cleaned[p.name] = value
        else:
            cleaned[p.name] = str(value)[:200]
    if report.required and not any(cleaned.get(n) for n in report.required) and not errors:
        labels = " or ".join(p.label.lower() for p in report.params if p.name in report.required)
        errors[report.required[0]] = f"Enter {labels}"
    if errors:
        raise InvalidInput(errors)
    return cleaned


def scope(actor: Actor) -> set[int] | None:
    """The ids of the organisations the actor's report-reading position covers; None for all of them."""
    return permissions.covered_organisations(actor, "report.read")


def _organisation(actor: Actor, params: dict) -> Organisation | None:
    code = params.get("organisation")
    if not code:
        return None
    found = Organisation.objects.filter(code=code).first()
    if found is None:
        raise InvalidInput({"organisation": f"No organisation has the code {code}"})
    permissions.authorise(actor, "report.read", found)
    return found


def authorise(actor: Actor, report: Report) -> Actor:
    return permissions.authorise(actor, report.needs)


def _in_scope(qs: QuerySet, actor: Actor, organisation_path: str) -> QuerySet:
    ids = scope(actor)
    return qs if ids is None else qs.filter(**{f"{organisation_path}__in": ids})


def _people_in_scope(qs: QuerySet, actor: Actor, person_path: str = "person") -> QuerySet:
    """Rows about people who hold (or held) a position at an organisation in the actor's scope."""
    ids = scope(actor)
    if ids is None:
        return qs
    placed = Assignment.objects.filter(person_id=OuterRef(f"{person_path}_id"), position__organisation_id__in=ids)
    return qs.filter(Exists(placed))


def _weeks(qs: QuerySet, date_field: str, since: dt.datetime) -> list[tuple[str, int]]:
    """Rows counted per week (Monday) from `since`, in SQL; every week shown, empty ones as 0."""
    counted = dict(
        qs.filter(**{f"{date_field}__gte": since}).order_by()
        .annotate(week=TruncWeek(date_field)).values_list("week").annotate(n=Count("pk")).values_list("week", "n")
    )
    by_day = {(k.date() if isinstance(k, dt.datetime) else k): v for k, v in counted.items() if k is not None}
    start = since.astimezone(clock.local_zone()).date()
    start -= dt.timedelta(days=start.weekday())
    end = clock.today()
    result = []
    while start <= end:
        result.append((start.isoformat(), by_day.get(start, 0)))
        start += dt.timedelta(days=7)
    return result


# --- people and their positions by organisation (DS17) ---

def people_positions(actor: Actor, params: dict) -> QuerySet:
    organisation = _organisation(actor, params)
    qs = Assignment.objects.all()
    if organisation is not None:
        qs = qs.filter(position__organisation=organisation)
    else:
        qs = _in_scope(qs, actor, "position__organisation_id")
    if not params.get("include_ended"):
        qs = qs.filter(live_assignment_filter(clock.today()))
    return qs.order_by("position__organisation__code", "position__name", "person__family_name",
                       "person__given_name", "id").values(
        organisation=F("position__organisation__code"), organisation_name=F("position__organisation__name"),
        position_name=F("position__name"), uid=F("person__uid"), given_name=F("person__given_name"),
        family_name=F("person__family_name"), starts=F("starts_on"), ends=F("ends_on"), assignment_state=F("state"),
    )


_register(Report(
    "people-positions", "People and their positions", "Everyone placed in a position, by organisation and position.",
    (("organisation", "Organisation"), ("organisation_name", "Organisation name"), ("position_name", "Position"),
     ("uid", "User ID"), ("given_name", "Given name"), ("family_name", "Family name"), ("starts", "From"),
     ("ends", "Until"), ("assignment_state", "State")),
    people_positions,
    (Param("organisation", "Organisation code", "organisation", hint="Leave empty for every organisation you cover"),
     Param("include_ended", "Include ended and suspended assignments", "bool", False)),
))


# --- inactive accounts (PP7) ---

def _inactive_since(params: dict) -> dt.datetime:
    return clock.now() - dt.timedelta(days=params.get("days") or 60)


def inactive_accounts(actor: Actor, params: dict) -> QuerySet:
    cutoff = _inactive_since(params)
    qs = Account.objects.filter(state=Account.State.ACTIVE).filter(
        Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created_at__lt=cutoff))
    qs = _people_in_scope(qs, actor)
    # Oldest use first, off the (state, last_used_at) index; accounts never used come after them.
    return qs.order_by(F("last_used_at").asc(nulls_last=True), "id").values(
        "username", uid=F("person__uid"), given_name=F("person__given_name"), family_name=F("person__family_name"),
        service_code=F("service__code"), last_used=F("last_used_at"), created=F("created_at"),
    )


def inactive_chart(actor: Actor, params: dict) -> list[tuple[str, int]]:
    """Active accounts by the week they passed (or pass) the limit: last use + N days."""
    days = params.get("days") or 60
    since = clock.now() - dt.timedelta(weeks=CHART_WEEKS)
    qs = _people_in_scope(Account.objects.filter(state=Account.State.ACTIVE), actor)
    crossed = ExpressionWrapper(F("last_used_at") + dt.timedelta(days=days), output_field=DateTimeField())
    qs = qs.filter(last_used_at__gte=since - dt.timedelta(days=days), last_used_at__lt=clock.now() - dt.timedelta(days=days))
    return _weeks(qs.annotate(crossed=crossed), "crossed", since)


_register(Report(
    "inactive-accounts", "Inactive accounts", "Active accounts not used for a number of days (rule PP7), "
    "least recently used first, then accounts never used (counted from when they were made).",
    (("uid", "User ID"), ("given_name", "Given name"), ("family_name", "Family name"), ("service_code", "Service"),
     ("username", "Username"), ("last_used", "Last used"), ("created", "Created")),
    inactive_accounts,
    (Param("days", "Not used for (days)", "int", 60),),
    chart=inactive_chart, chart_title="Accounts going inactive per week",
))


# --- expiring and revoked cards (DS13, SC3, SC6) ---

def expiring_cards(actor: Actor, params: dict) -> QuerySet:
    from careaccess.credentials.models import Card

    now = clock.now()
    qs = Card.objects.filter(state=Card.State.ACTIVE, certificate__not_after__gte=now,
                             certificate__not_after__lt=now + dt.timedelta(days=params.get("days") or 90))
    qs = _people_in_scope(qs, actor)
    return qs.order_by("certificate__not_after", "id").values(
        "serial", "series", "renewals", uid=F("person__uid"), given_name=F("person__given_name"),
        family_name=F("person__family_name"), expires=F("certificate__not_after"),
    )


_register(Report(
    "cards-expiring", "Expiring smartcards", "Active cards whose certificate expires within a number of days "
    "(rule DS13: certificates are valid 2 years), soonest first.",
    (("serial", "Card"), ("series", "Series"), ("uid", "User ID"), ("given_name", "Given name"),
     ("family_name", "Family name"), ("expires", "Certificate expires"), ("renewals", "Renewals")),
    expiring_cards,
    (Param("days", "Expiring within (days)", "int", 90),),
))


def _revoked_certificates(actor: Actor):
    from careaccess.credentials.models import Certificate

    qs = Certificate.objects.filter(status=Certificate.Status.REVOKED)
    return _people_in_scope(qs, actor, "card__person")


def revoked_cards(actor: Actor, params: dict) -> QuerySet:
    # A revoked certificate always has its revocation time: newest first, off the (status, revoked_at) index.
    return _revoked_certificates(actor).order_by("-revoked_at", "-id").values(
        card_serial=F("card__serial"), certificate=F("serial"), uid=F("card__person__uid"),
        given_name=F("card__person__given_name"), family_name=F("card__person__family_name"),
        card_state=F("card__state"), revoked=F("revoked_at"), reason=F("revocation_reason"),
    )


def revoked_chart(actor: Actor, params: dict) -> list[tuple[str, int]]:
    return _weeks(_revoked_certificates(actor), "revoked_at", clock.now() - dt.timedelta(weeks=CHART_WEEKS))


_register(Report(
    "cards-revoked", "Revoked smartcards", "Card certificates revoked (cancelled, replaced or misuse), newest first.",
    (("card_serial", "Card"), ("certificate", "Certificate"), ("uid", "User ID"), ("given_name", "Given name"),
     ("family_name", "Family name"), ("card_state", "Card state"), ("revoked", "Revoked"), ("reason", "Reason")),
    revoked_cards,
    chart=revoked_chart, chart_title="Certificates revoked per week",
))


# --- overdue requests (CC7) ---

def overdue_requests(actor: Actor, params: dict) -> QuerySet:
    from careaccess.access_requests.selectors import overdue

    qs = _in_scope(overdue(), actor, "organisation_id")
    organisation = _organisation(actor, params)
    if organisation is not None:
        qs = qs.filter(organisation=organisation)
    return qs.values(
        "reference", "title", organisation_code=F("organisation__code"),
        service_code=F("service__code"), approved=F("updated_at"), due=F("due_on"),
    )


_register(Report(
    "overdue-requests", "Overdue requests", "Approved requests the back office has not actioned by their due date "
    "(rule CC7), most overdue first.",
    (("reference", "Reference"), ("title", "Title"), ("organisation_code", "Organisation"), ("service_code", "Service"),
     ("approved", "Last changed"), ("due", "Due")),
    overdue_requests,
    (Param("organisation", "Organisation code", "organisation"),),
))


# --- sponsors and RA agents per organisation (DS4) ---

def holders_of(capability: str) -> list[int]:
    """Ids of the activities that give `capability`: its code and every activity including it."""
    code = settings.CAREACCESS_STAFF_ACTIVITIES[capability]
    found = set(Activity.objects.filter(code=code).values_list("id", flat=True))
    frontier = set(found)
    while frontier:  # the catalogue is small: a query per level of inclusion
        frontier = set(Activity.includes.through.objects.filter(to_activity_id__in=frontier)
                       .values_list("from_activity_id", flat=True)) - found
        found |= frontier
    return sorted(found)


def _live_holders(activity_ids: list[int]) -> QuerySet:
    return Assignment.objects.filter(live_assignment_filter(clock.today()), position__activities__in=activity_ids)


def _holders(activity_ids: list[int]) -> Subquery:
    """How many distinct people hold a live position at the outer organisation carrying one of the
    activities (evaluated only for the rows shown: a page, or the CSV's chunk)."""
    live = _live_holders(activity_ids).filter(position__organisation_id=OuterRef("pk"))
    counted = live.order_by().values("position__organisation_id").annotate(n=Count("person_id", distinct=True)).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


FLAGS = ("no sponsor or RA agent", "pharmacy with no sponsor", "pharmacy with fewer than two sponsors or RA agents")


def _flags() -> tuple[Q, Q, Q]:
    """Rule DS4's three flags as conditions on an organisation, in FLAGS' order (each organisation
    gets the first that applies). Each is an EXISTS that stops at the first live holder it finds,
    so walking the organisations in code order to the first page's flagged ones, or counting them
    all for the chart, never counts every holder in the country."""
    sponsor, either = holders_of("sponsor"), holders_of("sponsor") + holders_of("ra_agent")
    anyone = Exists(_live_holders(either).filter(position__organisation_id=OuterRef("pk")))
    a_sponsor = Exists(_live_holders(sponsor).filter(position__organisation_id=OuterRef("pk")))
    someone_else = _live_holders(either).filter(position__organisation_id=OuterRef("position__organisation_id")).exclude(
        person_id=OuterRef("person_id"))
    two = Exists(_live_holders(either).filter(Exists(someone_else), position__organisation_id=OuterRef("pk")))
    pharmacy = Q(kind=Organisation.Kind.PHARMACY)
    # Cheap and usually decisive tests first: PostgreSQL evaluates each AND from the left.
    return ~Q(anyone), pharmacy & ~Q(a_sponsor) & Q(anyone), pharmacy & Q(a_sponsor) & ~Q(two)


def _organisations(actor: Actor, params: dict) -> QuerySet:
    qs = _in_scope(Organisation.objects.exclude(status=Organisation.Status.CLOSED), actor, "id")
    if params.get("kind"):
        qs = qs.filter(kind=params["kind"])
    return qs


def sponsors_agents(actor: Actor, params: dict) -> QuerySet:
    sponsor, agent = holders_of("sponsor"), holders_of("ra_agent")
    pharmacy = Q(kind=Organisation.Kind.PHARMACY)
    qs = _organisations(actor, params)
    if params.get("flagged_only"):
        none, no_sponsor, fewer = _flags()
        qs = qs.filter(none | no_sponsor | fewer)
    # The counts and the flag are worked out for the rows read only (a page, or the CSV's chunk).
    qs = qs.annotate(sponsors=_holders(sponsor), ra_agents=_holders(agent), either=_holders(sponsor + agent)).annotate(
        flag=Case(
            When(either=0, then=Value(FLAGS[0])),
            When(pharmacy & Q(sponsors=0), then=Value(FLAGS[1])),
            When(pharmacy & Q(either__lt=2), then=Value(FLAGS[2])),
            default=Value(""),
        ),
    )
    return qs.order_by("code").values("code", "name", "kind", "sponsors", "ra_agents", "either", "flag")


def sponsors_chart(actor: Actor, params: dict) -> list[tuple[str, int]]:
    """How many organisations are flagged, by reason: one query counting with DS4's conditions.
    Drawn with the flagged organisations only, so the full list's first page stays an index walk."""
    if not params.get("flagged_only"):
        return []
    counted = _organisations(actor, params).aggregate(
        **{f"f{i}": Count("id", filter=condition) for i, condition in enumerate(_flags())})
    return [(flag, counted[f"f{i}"]) for i, flag in enumerate(FLAGS)]


_register(Report(
    "sponsors-agents", "Sponsors and RA agents per organisation", "How many people hold live sponsor and RA agent "
    "positions at each open organisation (rule DS4): a pharmacy needs at least two who are sponsors or RA agents, "
    "one of them a sponsor; an organisation with none is flagged.",
    (("code", "Organisation"), ("name", "Name"), ("kind", "Kind"), ("sponsors", "Sponsors"),
     ("ra_agents", "RA agents"), ("either", "Sponsors or RA agents"), ("flag", "Flag")),
    sponsors_agents,
    (Param("flagged_only", "Only organisations flagged", "bool", False),
     Param("kind", "Kind of organisation", hint="For example pharmacy, gp_practice, care_home")),
    chart=sponsors_chart, chart_title="Organisations flagged, by reason",
))


# --- review completion (PP6) ---

def _item_count(**conditions) -> Coalesce:
    """Items of the outer campaign (optionally with a decision), counted off the (campaign, decision) index."""
    from careaccess.lifecycle.models import CampaignItem

    items = CampaignItem.objects.filter(campaign_id=OuterRef("pk"), **conditions).order_by()
    counted = items.values("campaign_id").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def review_completion(actor: Actor, params: dict) -> QuerySet:
    from careaccess.lifecycle.models import Campaign, CampaignItem

    qs = _in_scope(Campaign.objects.all(), actor, "organisation_id")
    organisation = _organisation(actor, params)
    if organisation is not None:
        qs = qs.filter(organisation=organisation)
    if not params.get("include_closed"):
        qs = qs.exclude(state=Campaign.State.CLOSED)
    qs = qs.annotate(
        item_count=_item_count(), kept=_item_count(decision=CampaignItem.Decision.KEEP),
        revoked=_item_count(decision=CampaignItem.Decision.REVOKE),
        undecided=_item_count(decision=CampaignItem.Decision.UNDECIDED),
        escalated=_item_count(escalated_at__isnull=False),
    ).annotate(
        percent_done=Case(When(item_count=0, then=Value(100)),
                          default=(F("kept") + F("revoked")) * 100 / F("item_count"), output_field=IntegerField()),
    )
    return qs.order_by("due_on", "organisation__code", "id").values(
        "opens_on", "due_on", "state", "item_count", "kept", "revoked", "undecided", "escalated", "percent_done",
        organisation_code=F("organisation__code"), organisation_name=F("organisation__name"),
        service_code=F("service__code"), reviewer_uid=F("reviewer__uid"),
    )


def review_chart(actor: Actor, params: dict) -> list[tuple[str, int]]:
    from careaccess.lifecycle.models import CampaignItem

    items = _in_scope(CampaignItem.objects.filter(decided_at__isnull=False), actor, "campaign__organisation_id")
    return _weeks(items, "decided_at", clock.now() - dt.timedelta(weeks=CHART_WEEKS))


_register(Report(
    "review-completion", "Review completion", "Each access review campaign (rule PP6) with how many of its items "
    "were kept, revoked, are still undecided or were escalated, soonest due first.",
    (("organisation_code", "Organisation"), ("organisation_name", "Organisation name"), ("service_code", "Service"),
     ("reviewer_uid", "Reviewer"), ("opens_on", "Opened"), ("due_on", "Due"), ("state", "State"), ("item_count", "Items"),
     ("kept", "Kept"), ("revoked", "Revoked"), ("undecided", "Undecided"), ("escalated", "Escalated"),
     ("percent_done", "% decided")),
    review_completion,
    (Param("organisation", "Organisation code", "organisation"),
     Param("include_closed", "Include closed campaigns", "bool", False)),
    chart=review_chart, chart_title="Review items decided per week",
))


# --- a targeted audit of one person or organisation (PP15) ---

def targeted_audit(actor: Actor, params: dict) -> QuerySet:
    filters = search.EntryFilter(person=params.get("person") or None, organisation=params.get("organisation") or None)
    return search.entries(actor, filters).values(
        "index", "recorded_at", "action", "actor", "actor_position", "person_uid", "organisation_code",
        "access_request", "reason",
    )


_register(Report(
    "targeted-audit", "Targeted audit of a person or organisation", "Every ledger entry about one person (or made "
    "by them) or one organisation, newest first (rule PP15). Reading it is recorded in the ledger.",
    (("index", "Entry"), ("recorded_at", "Recorded"), ("action", "Kind"), ("actor", "By"),
     ("actor_position", "Acting as"), ("person_uid", "Person"), ("organisation_code", "Organisation"),
     ("access_request", "Request"), ("reason", "Reason")),
    targeted_audit,
    (Param("person", "Person's user ID", "uid"), Param("organisation", "Organisation code", "organisation")),
    needs="audit.read", required=("person", "organisation"),
))


# --- running a report, and recording it ---

@dataclass
class Page:
    rows: list[dict]
    number: int
    size: int
    has_next: bool
    chart: list[tuple[str, int]] = field(default_factory=list)

    @property
    def first(self) -> int:
        return (self.number - 1) * self.size + 1

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1


def run(actor: Actor, report: Report, params: dict, *, page: int = 1, size: int | None = None,
        fmt: str = "page") -> Page:
    """One page of the report (no total count: a first page stays fast on a national directory),
    its chart, and the ledger entry recording that it was read."""
    authorise(actor, report)
    size = size or settings.CAREACCESS_PAGE_SIZE
    page = max(1, page)
    with _short_queries():
        rows = list(report.rows(actor, params)[(page - 1) * size: page * size + 1])
        result = Page(rows=rows[:size], number=page, size=size, has_next=len(rows) > size)
        if report.chart is not None:
            result.chart = report.chart(actor, params)
    record_run(actor, report, params, shown=len(result.rows), fmt=fmt)
    return result


@contextmanager
def _short_queries():
    """A page's queries without PostgreSQL's JIT compilation, which it starts for any plan whose
    estimated cost is high: for a page's per-organisation subqueries compiling cost three times
    the query (DS4's chart at national scale: 2.9 s of CPU with it, 0.9 s without)."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        yield


def stream(actor: Actor, report: Report, params: dict, chunk_size: int = 2000) -> Iterable[dict]:
    """Every row, read from the database a chunk at a time (for CSV). Recorded once, before the first row."""
    authorise(actor, report)
    qs = report.rows(actor, params)
    record_run(actor, report, params, shown=None, fmt="csv")
    return qs.iterator(chunk_size=chunk_size)


def count(actor: Actor, report: Report, params: dict) -> int:
    """How many rows (the CLI's progress bar); not recorded by itself, the run is."""
    return report.rows(actor, params).order_by().count()


def record_run(actor: Actor, report: Report, params: dict, *, shown: int | None, fmt: str) -> None:
    """One ledger entry per report run (rule PP15). The targeted audit is recorded as a ledger search."""
    if report.name == "targeted-audit":
        filters = search.EntryFilter(person=params.get("person") or None, organisation=params.get("organisation") or None)
        search.record_search(actor, filters, shown)  # None: a CSV download, every row
        return
    acting = permissions.authorise(actor, report.needs)
    described = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in params.items()
                 if v not in (None, "", False) and not k.startswith("_")}
    ledger.atomic_record("report.read", actor=acting, target_type="report", target_id=report.name,
                         after={"report": report.name, "params": described, "format": fmt, "shown": shown},
                         organisation_code=params.get("organisation") or None)

"""Lifecycle pages on the NHS.UK shell: the public reinstatement form and its confirmation (PP13),
staff checking reinstatements, and the reviewer's campaign pages (PP6). Thin: the services decide."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from careaccess.core import permissions
from careaccess.core.errors import CareAccessError, Conflict, Forbidden, InvalidInput
from careaccess.directory.models import Service
from careaccess.web.auth import forbidden, staff_required
from careaccess.web.forms import error_summary

from . import campaigns, reinstatement
from .models import Campaign, CampaignItem, Reinstatement

REINSTATE_FIELDS = ("given_name", "family_name", "email")


@never_cache
@require_http_methods(["GET", "POST"])
def reinstate_ask(request):
    """Public (no sign-in): ask for a suspended account to be reinstated (PP13)."""
    values = {k: request.POST.get(k, "") for k in REINSTATE_FIELDS}
    services = list(Service.objects.filter(status=Service.Status.ACTIVE).order_by("name"))
    errors: dict[str, str] = {}
    if request.method == "POST":
        service = None
        code = request.POST.get("service", "")
        if code:
            service = next((s for s in services if s.code == code), None)
            if service is None:
                errors["service"] = "Select a service from the list"
        if not errors:
            try:
                reinstatement.ask(service=service, **values)
            except InvalidInput as exc:
                errors = exc.errors
            else:
                return render(request, "lifecycle/reinstate_sent.jinja", {"email": values["email"].strip()})
    return render(request, "lifecycle/reinstate.jinja",
                  {"values": values, "field_errors": errors,
                   "errors": error_summary(errors, [*REINSTATE_FIELDS, "service"], {"__all__": REINSTATE_FIELDS[0]}),
                   "services": services, "chosen": request.POST.get("service", "")},
                  status=422 if errors else 200)


@never_cache
@require_http_methods(["GET", "POST"])
def reinstate_confirm(request, token: str):
    """Public: the emailed link. GET shows a button (so a mail scanner following links confirms
    nothing); POST confirms."""
    if request.method == "GET":
        return render(request, "lifecycle/reinstate_confirm.jinja", {"done": False, "problem": None})
    try:
        reinstatement.confirm(token)
    except (InvalidInput, Conflict) as exc:
        return render(request, "lifecycle/reinstate_confirm.jinja", {"done": False, "problem": exc.message}, status=400)
    return render(request, "lifecycle/reinstate_confirm.jinja", {"done": True, "problem": None})


CHECKERS = ("local_administrator", "ra_agent", "ra_manager")


@never_cache
@require_http_methods(["GET"])
@staff_required(capabilities=CHECKERS)
def reinstatements(request):
    rows = [(row, reinstatement.matches(row)) for row in reinstatement.waiting(request.actor)[:200]]
    return render(request, "lifecycle/reinstatements.jinja", {"rows": rows})


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required(capabilities=CHECKERS)
def reinstatement_decide(request, pk: int):
    row = Reinstatement.objects.select_related("account__person", "account__service", "access_request").filter(pk=pk).first()
    if row is None:
        raise Http404("no such reinstatement request")
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            if request.POST.get("action") == "refuse":
                reinstatement.refuse(request.actor, row, reason=request.POST.get("reason", ""))
            else:
                reinstatement.reinstate(request.actor, row)
        except InvalidInput as exc:
            errors = exc.errors
        except Forbidden as exc:
            errors = {"__all__": exc.message}
        except CareAccessError as exc:
            errors = {"__all__": exc.message}
        else:
            return redirect(reverse("lifecycle:reinstatement", args=[row.pk]))
        row.refresh_from_db()
    return render(request, "lifecycle/reinstatement.jinja",
                  {"row": row, "match": reinstatement.matches(row), "field_errors": errors,
                   "errors": error_summary(errors, ["reason"], {"__all__": "reason"})},
                  status=422 if errors else 200)


@never_cache
@require_http_methods(["GET"])
@staff_required
def reviews(request):
    """The campaigns the acting person reviews, those whose reviewer's own access waits for them, and
    (for RA managers) the escalated ones, with progress."""
    actor = request.actor
    mine = list(campaigns.campaigns_for(actor)[:200])
    escalated = []
    if permissions.can(actor, "review.decide_escalated"):
        escalated = [c for c in campaigns.progress_by_organisation().filter(state=Campaign.State.ESCALATED)[:200]
                     if campaigns.may_decide(actor, c)]
    others = list(campaigns.reviewers_own_to_decide(actor)[:200])
    return render(request, "lifecycle/reviews.jinja", {"mine": mine, "escalated": escalated, "others": others})


def _items(campaign):
    return list(CampaignItem.objects.filter(campaign=campaign).select_related(
        "person", "assignment__position", "account__service", "access_request").order_by("id"))


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def review(request, pk: int):
    """One campaign: its items, each kept or revoked with a reason by the reviewer (PP6). Items the
    acting person may not decide (their own access above all) are shown without the controls."""
    actor = request.actor
    campaign = campaigns.progress_by_organisation().filter(pk=pk).first()
    if campaign is None:
        raise Http404("no such review campaign")
    if not campaigns.may_open(actor, campaign):
        return forbidden(request, message="Only this campaign's reviewer (or, once it is escalated, an RA manager) "
                                          "may open it.")
    items = _items(campaign)
    refusals = campaigns.decidable(actor, campaign, [i for i in items if not i.decision])
    errors: dict[str, str] = {}
    posted = {}
    status = 200
    if request.method == "POST":
        for item in items:
            decision = request.POST.get(f"decision-{item.pk}", "")
            reason = request.POST.get(f"reason-{item.pk}", "").strip()
            if not item.decision and (decision or reason):
                posted[item.pk] = (decision, reason)
        # Anything posted for an item the actor may not decide: refused, and nothing is decided.
        errors = {f"item-{item.pk}": f"{_label(item)}: {refusals[item.pk]}" for item in items
                  if item.pk in posted and refusals.get(item.pk)}
        if errors:
            status = 403
        else:
            for item in items:
                if item.pk not in posted:
                    continue
                decision, reason = posted[item.pk]
                try:
                    campaigns.decide(actor, item, decision=decision, reason=reason)
                except InvalidInput as exc:
                    errors.update({k: f"{_label(item)}: {v}" for k, v in exc.errors.items()})
                except CareAccessError as exc:
                    errors[f"decision-{item.pk}"] = f"{_label(item)}: {exc.message}"
            if not errors and not posted:
                errors["__all__"] = "Select keep or revoke, with a reason, for at least one item"
            if not errors:
                return redirect(reverse("lifecycle:review", args=[campaign.pk]))
            status = 422
            campaign = campaigns.progress_by_organisation().filter(pk=pk).first()
            items = _items(campaign)
            refusals = campaigns.decidable(actor, campaign, [i for i in items if not i.decision])
    order = [f"{p}-{i.pk}" for i in items for p in ("decision", "reason", "item")]
    first = next((f"decision-{i.pk}" for i in items if not i.decision and not refusals.get(i.pk)), None)
    return render(request, "lifecycle/review.jinja", {
        "campaign": campaign, "items": items, "labels": {i.pk: _label(i) for i in items}, "posted": posted,
        "refusals": refusals, "elsewhere": [i for i in items if not i.decision and refusals.get(i.pk)],
        "field_errors": errors, "errors": error_summary(errors, order, {"__all__": first} if first else None),
    }, status=status)


def _label(item: CampaignItem) -> str:
    who = f"{item.person.given_name} {item.person.family_name}"
    if item.kind == CampaignItem.Kind.ASSIGNMENT:
        return f"{who}, position {item.assignment.position.name}"
    return f"{who}, account {item.account.username}"

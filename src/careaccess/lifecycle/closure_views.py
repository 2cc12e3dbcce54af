"""The staff pages recording an organisation's closure (rule PP10): the form, a confirmation step
counting what will be suspended, and the closure's page where replacement positions at the
successor are scheduled for the closing date. Thin: `services` checks, decides and writes."""

from __future__ import annotations

import datetime as dt

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from careaccess.core import permissions
from careaccess.core.errors import CareAccessError, Forbidden, InvalidInput
from careaccess.directory.models import Assignment, Organisation, Person, Position
from careaccess.web.auth import forbidden, staff_required
from careaccess.web.forms import error_summary

from . import services
from .models import Closure

CLOSERS = permissions.ACTIONS["organisation.close"]
FIELDS = ("organisation", "kind", "on_day", "on_month", "on_year", "successor", "confirmation")
ORDER = ("organisation", "kind", "on", "successor", "confirmation")
ANCHORS = {"on": "on_day", "__all__": "organisation"}


def _organisation(code: str, field: str) -> Organisation | None:
    code = code.strip().upper()
    if not code:
        return None
    found = Organisation.objects.filter(code=code).first()
    if found is None:
        raise InvalidInput({field: f"No organisation has the code {code}: check the code"})
    return found


def _typed_date(values: dict[str, str]) -> str | None:
    """The ISO date typed in the three boxes; None when all are empty."""
    parts = [values[f"on_{part}"].strip() for part in ("day", "month", "year")]
    if not any(parts):
        return None
    try:
        if not all(p.isdigit() for p in parts) or len(parts[2]) != 4:
            raise ValueError
        return dt.date(int(parts[2]), int(parts[1]), int(parts[0])).isoformat()
    except ValueError:
        raise InvalidInput({"on": "Closing date must be a real date, for example 31 3 2027"}) from None


def _submit(actor, values: dict[str, str], step):
    """The form's values given to `step` (`services.plan_closure` on the first post,
    `services.record_closure` on confirming: it makes the same checks against the data as it is then,
    so the confirmation needs no second plan). Every wrong field at once: the form's own, then the
    service's checks."""
    errors: dict[str, str] = {}
    found: dict[str, object] = {}
    for field, read in (("organisation", lambda: _organisation(values["organisation"], "organisation")),
                        ("successor", lambda: _organisation(values["successor"], "successor")),
                        ("on", lambda: _typed_date(values))):
        try:
            found[field] = read()
        except InvalidInput as exc:
            errors.update(exc.errors)
    if found.get("organisation") is None and "organisation" not in errors:
        errors["organisation"] = "Enter the code of the organisation that is closing, for example B86001"
    if values["kind"] not in ("planned", "sudden"):
        errors["kind"] = "Select whether the closure is planned or sudden"
    if found.get("organisation") is not None and "kind" not in errors:
        try:
            return step(actor, found["organisation"], values["kind"] == "sudden", found.get("on"),
                        values["confirmation"], found.get("successor"))
        except InvalidInput as exc:
            errors = {**exc.errors, **errors}
    raise InvalidInput(errors)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required(capabilities=CLOSERS)
def closures(request):
    """GET: the form (`?organisation=CODE` fills it in) and recent closures. POST: the confirmation
    step, then (with `confirm`) the closure recorded."""
    actor = request.actor
    data = request.POST if request.method == "POST" else request.GET
    values = {name: data.get(name, "") for name in FIELDS}
    errors: dict[str, str] = {}
    if request.method == "POST" and request.POST.get("step") != "change":
        try:
            if request.POST.get("step") != "confirm":
                plan = _submit(actor, values, services.plan_closure)
                return render(request, "lifecycle/closure_check.jinja", {"plan": plan, "values": values})
            closure = _submit(actor, values, services.record_closure)
        except InvalidInput as exc:
            errors = exc.errors
        except Forbidden as exc:
            return forbidden(request, message=exc.message)
        except CareAccessError as exc:
            errors = {"organisation": exc.message}
        else:
            return redirect(reverse("lifecycle:closure", args=[closure.pk]))
    recent = [c for c in Closure.objects.select_related("organisation", "successor").order_by("-recorded_at", "-id")[:20]
              if permissions.can(actor, "organisation.close", c.organisation)]
    return render(request, "lifecycle/closures.jinja", {
        "values": values, "field_errors": {ANCHORS.get(k, k): v for k, v in errors.items()},
        "errors": error_summary(errors, ORDER, ANCHORS), "recent": recent}, status=422 if errors else 200)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required(capabilities=CLOSERS)
def closure(request, pk: int):
    """One closure; with a successor, replacement positions there start on the closing date (PP10)."""
    actor = request.actor
    row = Closure.objects.select_related("organisation", "successor").filter(pk=pk).first()
    if row is None:
        raise Http404("no such closure")
    if not permissions.can(actor, "organisation.close", row.organisation):
        return forbidden(request, message=f"Only an RA manager covering {row.organisation.name} may see its closure.")
    errors: dict[str, str] = {}
    values = {"person": request.POST.get("person", ""), "position": request.POST.get("position", "")}
    if request.method == "POST":
        try:
            person = Person.objects.filter(uid=values["person"].strip()).first()
            position = Position.objects.filter(pk=int(values["position"] or 0), organisation=row.successor_id).first()
            if person is None:
                errors["person"] = "Enter the identifier of a person registered on careaccess (their UID)"
            if position is None:
                errors["position"] = "Select a position at the successor"
            if not errors:
                services.schedule_successor_position(actor, row, person, position)
                return redirect(reverse("lifecycle:closure", args=[row.pk]))
        except InvalidInput as exc:
            errors.update(exc.errors)
        except ValueError:
            errors["position"] = "Select a position at the successor"
        except CareAccessError as exc:
            errors["person"] = exc.message
    positions = list(Position.objects.filter(organisation=row.successor_id, status=Position.Status.ACTIVE)
                     .order_by("name")) if row.successor_id else []
    scheduled = list(Assignment.objects.filter(
        position__organisation=row.successor_id, starts_on=row.closes_on,
        person__in=Assignment.objects.filter(position__organisation=row.organisation_id).values("person"),
    ).select_related("person", "position").order_by("person__family_name", "id")[:500]) if row.successor_id else []
    return render(request, "lifecycle/closure.jinja", {
        "row": row, "positions": positions, "scheduled": scheduled, "values": values,
        "field_errors": errors, "errors": error_summary(errors),
    }, status=422 if errors else 200)

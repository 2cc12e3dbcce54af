"""The access request pages on the shell (issue 4 item 9), mounted at /requests/:

- `/requests/` and `/requests/queues/<name>`: work queues (my organisation's, mine, the desk's, the
  authoriser's, the back office's), overdue first with an "Overdue" tag (selectors.queue);
- `/requests/new` then `/requests/new/<kind>`: raise a request, a form per kind (services.KIND_FIELDS);
- `/requests/<reference>`: the request, its history (its audit ledger entries) and the actions the
  viewer may take next, each a form posting to `/requests/<reference>/<action>` with the version
  shown (a stale one: "Someone else acted on this request first");
- `/requests/batches/new`: upload a CSV, see every bad row before anything is created, confirm;
  `/requests/batches/<reference>`: a batch and its requests.

Thin by design: writes are service functions, reads selectors; their refusals become an error
summary (InvalidInput, Conflict) or the 403 page (Forbidden).
"""

from __future__ import annotations

import datetime as dt
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from careaccess.core import permissions
from careaccess.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from careaccess.directory.models import Organisation, Position, Service, ServiceRole
from careaccess.directory.rules import is_user_id
from careaccess.web.auth import forbidden, shell, staff_required
from careaccess.web.forms import error_list
from careaccess.web.jinja import long_date
from careaccess.web.paging import page_number

from careaccess.core.audit import search

from . import forms, next_step, rules, selectors, services
from .models import AccessRequest, Batch

QUEUE_LABELS = {
    "organisation": "Your organisations' requests",
    "mine": "Requests you raised",
    "desk": "Service desk: to validate",
    "authoriser": "Authoriser: to validate or approve",
    "back_office": "Back office: to action",
}
QUEUE_PATHS = {"organisation": "organisation", "mine": "mine", "desk": "desk", "authoriser": "authoriser",
               "back_office": "back-office"}
STATE_COLOURS = {
    rules.State.DRAFT: "grey", rules.State.SUBMITTED: "blue", rules.State.VALIDATED: "purple",
    rules.State.APPROVED: "aqua-green", rules.State.FULFILLED: "green", rules.State.REJECTED: "red",
    rules.State.WITHDRAWN: "grey", rules.State.REFERRED: "orange", rules.State.INFORMATION_REQUESTED: "yellow",
}
DONE = {
    rules.Action.SUBMIT: "Request submitted", rules.Action.VALIDATE: "Request validated",
    rules.Action.APPROVE: "Request approved: it is now with the back office", rules.Action.FULFIL: "Request fulfilled",
    rules.Action.REJECT: "Request rejected: the requester is told the reasons",
    rules.Action.WITHDRAW: "Request withdrawn", rules.Action.REFER: "Request referred to the central team",
    rules.Action.REQUEST_INFORMATION: "More information asked for: the request waits for it",
    rules.Action.PROVIDE_INFORMATION: "Information given: the request goes on",
}
STALE = "Someone else acted on this request first; reload the page to see what changed, then try again"
FLASH = "careaccess.requests.flash"
BATCH_SESSION = "careaccess.requests.batches"


def _raisable_organisations(actor):
    ids = permissions.covered_organisation_ids(actor, permissions.ACTIONS["request.raise"])
    qs = Organisation.objects.exclude(status=Organisation.Status.CLOSED).order_by("name", "code")
    return list(qs if ids is None else qs.filter(id__in=ids))


def _active_services():
    return list(Service.objects.filter(status=Service.Status.ACTIVE).order_by("name"))


def _refused(request, exc: Forbidden):
    return forbidden(request, message=_sentence(exc.message))


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


def _refusal_on_form(form, exc: InvalidInput | Conflict) -> int:
    """Put a service's refusal on the form (field errors, or the conflict above the form) and return
    the status to show it with; nothing was changed."""
    if isinstance(exc, InvalidInput):
        forms.add_service_errors(form, exc.errors)
        return 200
    form.add_error(None, _sentence(exc.message))
    return 409



# --- queues ---

@never_cache
@require_http_methods(["GET"])
@staff_required
def queues(request, name: str = "organisation"):
    """A work queue, overdue first (CC7), paginated."""
    actor = request.actor
    try:
        queryset = selectors.queue(actor, name)
    except Forbidden as exc:
        return _refused(request, exc)
    size = settings.CAREACCESS_PAGE_SIZE
    count = queryset.count()
    pages = max(1, -(-count // size))
    page = min(page_number(request.GET.get("page")), pages)
    rows = list(queryset[(page - 1) * size: page * size])
    tabs = [{"name": key, "label": label, "href": reverse(f"requests:queue-{QUEUE_PATHS[key]}"),
             "current": key == name} for key, label in QUEUE_LABELS.items()]
    return render(request, "requests/queues.jinja", {
        "name": name, "title": QUEUE_LABELS[name], "tabs": tabs, "rows": rows, "count": count, "page": page,
        "pages": pages, "state_labels": rules.STATE_LABELS, "kind_labels": rules.KIND_LABELS,
        "colours": STATE_COLOURS, "may_raise": permissions.can(actor, "request.raise"),
        "previous_url": f"?page={page - 1}" if page > 1 else None,
        "next_url": f"?page={page + 1}" if page < pages else None,
    })


def no_such_queue(request, path: str):
    raise Http404("no such queue")


@staff_required(capabilities=("service_desk", "authoriser", "sponsor", "lead_correspondent"))
def to_validate(request):
    """The home page's "Validate requests": the desk's queue for the desk, else the authoriser's."""
    acting = shell(request).acting
    desk = acting is not None and "service_desk" in acting.capabilities
    return redirect("requests:queue-desk" if desk else "requests:queue-authoriser")


# --- raising ---

@never_cache
@require_http_methods(["GET", "POST"])
@staff_required(capabilities=permissions.ACTIONS["request.raise"])
def raise_choose(request):
    """Step one: the type of request, the organisation and the service."""
    actor = request.actor
    organisations = _raisable_organisations(actor)
    source = request.POST if request.method == "POST" else request.GET
    about = _person_asked_about(source)
    form = forms.ChooseForm(request.POST if request.method == "POST" else None, organisations=organisations, services_=_active_services())
    if request.method == "POST" and form.is_valid():
        query = {"organisation": form.cleaned_data["organisation"]}
        if form.cleaned_data.get("service"):
            query["service"] = form.cleaned_data["service"]
        if about is not None:
            query["person"] = about
        return redirect(f"{reverse('requests:raise-kind', args=[form.cleaned_data['kind']])}?{urlencode(query)}")
    if request.method == "GET":
        asked = (request.GET.get("organisation") or "").strip().upper()
        codes = [o.code for o in organisations]
        form.initial["organisation"] = asked if asked in codes else (codes[0] if len(codes) == 1 else "")
    return render(request, "requests/raise_choose.jinja", {
        "form": form, "errors": error_list(form) if form.errors else [],
        "kinds": list(rules.KIND_LABELS.items()), "about": about,
    })


def _person_asked_about(source) -> str | None:
    """The user id of the person a request is raised about when the person page sent the sponsor
    here (`?person=<uid>`), to fill the form's person field. Only a prefill, never looked up here:
    the request's own checks decide whether it may be raised about them."""
    uid = (source.get("person") or "").strip()
    return uid if is_user_id(uid) else None


def _add_other_problems(form, kind: str, organisation: Organisation, service: Service | None) -> None:
    """Every problem at once: when the form itself found some (a date that is not a real date), the
    service's checks of the rest are shown beside them, not in a later round. Nothing is written."""
    try:
        services.clean_request(kind, organisation, service, form.details())
    except InvalidInput as exc:
        forms.add_service_errors(form, {k: v for k, v in exc.errors.items() if not form.has_problem(k)})


def _positions_giving(organisation: Organisation, service: Service) -> tuple[list[Position], list[ServiceRole]]:
    """SC8: the organisation's active positions that give a role on the service (each with `giving`,
    the roles it gives there), and those roles."""
    giving = Prefetch("service_roles", queryset=ServiceRole.objects.filter(service=service).order_by("name"),
                      to_attr="giving")
    positions = list(Position.objects.filter(organisation=organisation, status=Position.Status.ACTIVE,
                                             service_roles__service=service)
                     .distinct().order_by("name").prefetch_related(giving))
    roles = {role.code: role for position in positions for role in position.giving}
    return positions, sorted(roles.values(), key=lambda role: role.name)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required(capabilities=permissions.ACTIONS["request.raise"])
def raise_kind(request, kind: str):
    """Step two: the form of one kind of request. Submitted at once, or saved as a draft."""
    if kind not in rules.KINDS:
        raise Http404("no such kind of request")
    actor = request.actor
    source = request.POST if request.method == "POST" else request.GET
    organisation = Organisation.objects.filter(code=(source.get("organisation") or "").strip().upper()).first()
    service_code = (source.get("service") or "").strip()
    service = Service.objects.filter(code=service_code).first() if service_code else None
    if organisation is None or (service_code and service is None):
        return redirect("requests:raise")
    positions = Position.objects.filter(organisation=organisation, status=Position.Status.ACTIVE).order_by("name")
    roles = service.roles.order_by("name") if service else []
    by_role = "service_role" in services.KIND_FIELDS[kind] and service is not None
    if by_role:  # SC8: only the positions that give a role on the service, and only the roles they give
        positions, roles = _positions_giving(organisation, service)
    form = forms.RequestForm(request.POST if request.method == "POST" else None, kind=kind, positions=positions, roles=roles)
    about = _person_asked_about(source) if request.method == "GET" else None
    if about is not None and "person" in form.kind_fields:
        form.initial["person"] = about
    status = 200
    if request.method == "POST" and not form.is_valid():
        _add_other_problems(form, kind, organisation, service)
    elif request.method == "POST":
        data = form.cleaned_data
        try:
            req = services.raise_request(
                actor, kind=kind, organisation=organisation, service=service, details=form.details(),
                note=data.get("note", ""), purpose=data.get("purpose") or "direct care",
                special_circumstances=data.get("special_circumstances", ""),
                submit=request.POST.get("draft") is None)
        except (InvalidInput, Conflict) as exc:
            status = _refusal_on_form(form, exc)
        except Forbidden as exc:
            return _refused(request, exc)
        else:
            request.session[FLASH] = ("Request saved as a draft" if req.state == rules.State.DRAFT
                                      else f"Request {req.reference} raised")
            return redirect("requests:detail", req.reference)
    return render(request, "requests/raise_form.jinja", {
        "form": form, "errors": error_list(form) if form.errors else [], "kind": kind,
        "kind_label": rules.KIND_LABELS[kind], "organisation": organisation, "service": service,
        "no_position": by_role and not positions,
    }, status=status)


# --- one request ---

def _action_forms(req: AccessRequest, actions: list[str], bound: dict | None = None) -> list[dict]:
    bound = bound or {}
    result = []
    for action in actions:
        form = bound.get(action) or forms.ACTION_FORMS[action](prefix=action, initial={"version": req.version})
        result.append({"action": action, "label": rules.ACTION_LABELS[action], "form": form,
                       "url": reverse("requests:act", args=[req.reference, action]),
                       "open": action in bound})
    return result


def _readable_entries(actor, indexes: list[int]) -> set[int]:
    """Which of these audit entries the viewer may open (audit.read, within their scope)."""
    if not indexes or not permissions.can(actor, "audit.read"):
        return set()
    return set(search.entries(actor, search.EntryFilter()).filter(index__in=indexes).values_list("index", flat=True))


def _history(actor, req: AccessRequest) -> list[dict]:
    entries = list(selectors.history(req))
    readable = _readable_entries(actor, [entry.index for entry in entries])
    rows = []
    for entry in entries:
        rows.append({"index": entry.index, "at": entry.recorded_at, "action": entry.action,
                     "what": HISTORY_WORDS.get(entry.action, entry.action.replace("request.", "").replace("_", " ")),
                     "actor": entry.actor, "position": entry.actor_position, "reason": entry.reason,
                     "url": reverse("audit:entry", args=[entry.index]) if entry.index in readable else None})
    return rows


HISTORY_WORDS = {
    "request.raised": "Raised", "request.submitted": "Submitted", "request.validated": "Validated",
    "request.approved": "Approved", "request.fulfilled": "Fulfilled", "request.rejected": "Rejected",
    "request.withdrawn": "Withdrawn", "request.referred": "Referred to the central team",
    "request.information_requested": "More information asked for",
    "request.information_provided": "Information provided", "request.evidence_recorded": "Check recorded",
}


def _shown(value) -> str:
    """A detail as a reader expects it: a date as "14 July 1990", yes or no, the rest as typed."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return long_date(dt.date.fromisoformat(value))
        except ValueError:
            return value
    return str(value)


def _full_name(names: dict) -> str:
    return " ".join(str(names.get(k) or "").strip() for k in ("title", "given_name", "family_name")).strip()


def _details_rows(req: AccessRequest) -> list[tuple[str, str]]:
    roles = dict(req.service.roles.values_list("code", "name")) if req.service_id else {}
    rows = []
    for name, value in req.details.items():
        if value in (None, "", {}, []) or name == "position":
            continue
        if name in ("new", "old"):
            value = _full_name(value)
        elif name == "changes":
            value = "; ".join(f"{forms.field_label(k)}: {_shown(v)}" for k, v in value.items())
        elif name == "service_role":
            value = roles.get(value, value)
        else:
            value = _shown(value)
        label = {"position_name": "Position", "new": "New name", "old": "Name now"}.get(name) or forms.field_label(name)
        rows.append((label, value))
    return rows


def _render_detail(request, req: AccessRequest, *, errors=(), bound: dict | None = None, evidence_form=None,
                   status: int = 200):
    actor = request.actor
    actions = selectors.next_actions(actor, req)
    missing = services.missing_evidence(req) if req.state not in rules.FINAL_STATES else {}
    takes_next_step = any(a in actions for a in next_step.STEPS)
    return render(request, "requests/detail.jinja", {
        "req": req, "errors": list(errors), "state_label": rules.STATE_LABELS[req.state],
        "state_colour": STATE_COLOURS[req.state], "kind_label": rules.KIND_LABELS[req.kind],
        "approval_dates": {k: _shown(req.approval.get(k) or "") for k in ("ig_training_on", "ends_on")},
        "details": _details_rows(req), "history": _history(actor, req), "actions": _action_forms(req, actions, bound),
        "waiting": "" if takes_next_step else next_step.waiting_for(req),
        "fulfil_blocked": _sentence(next_step.fulfil_blocked(actor, req)),
        "evidence": list(req.evidence.all()), "missing": missing,
        "evidence_form": evidence_form or forms.EvidenceForm(prefix="evidence"),
        "evidence_url": reverse("requests:evidence", args=[req.reference]),
        "flash": request.session.pop(FLASH, None),
        "route_label": "Service desk" if req.route == rules.DESK else "Authoriser",
    }, status=status)


def _get(request, reference: str) -> AccessRequest:
    try:
        return selectors.get_request(request.actor, reference)
    except NotFound:
        raise Http404("no such request") from None


@never_cache
@require_http_methods(["GET"])
@staff_required
def detail(request, reference: str):
    try:
        req = _get(request, reference)
    except Forbidden as exc:
        return _refused(request, exc)
    if req.reference != reference:
        return redirect("requests:detail", req.reference)
    return _render_detail(request, req)


def _to_request_page(request, reference: str):
    """GET on an action's address (reopened after an error, bookmarked): the request's page instead."""
    return redirect(reverse("requests:detail", args=[reference]), permanent=False)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def act(request, reference: str, action: str):
    """One transition, by the service function of its name, with the version the page showed."""
    if action not in forms.ACTION_FORMS:
        raise Http404("no such action")
    if request.method == "GET":
        return _to_request_page(request, reference)
    try:
        req = _get(request, reference)
    except Forbidden as exc:
        return _refused(request, exc)
    form = forms.ACTION_FORMS[action](request.POST, prefix=action)
    status = 200
    if form.is_valid():
        if form.cleaned_data["version"] != req.version:
            form.add_error(None, STALE)
            status = 409
        else:
            try:
                services.TRANSITION_FUNCTIONS[action](request.actor, req, version=form.cleaned_data["version"],
                                                      **form.arguments())
            except InvalidInput as exc:
                forms.add_service_errors(form, exc.errors)
            except Conflict as exc:
                stale = "changed by someone else meanwhile" in exc.message
                form.add_error(None, STALE if stale else _sentence(exc.message))
                status = 409
            except Forbidden as exc:
                return _refused(request, exc)
            else:
                request.session[FLASH] = DONE[action]
                return redirect("requests:detail", req.reference)
    req = _get(request, reference)  # as it is now
    errors = error_list(form)
    if action not in selectors.next_actions(request.actor, req):
        # The action is no longer offered (someone else moved the request): show the message alone.
        bound = {}
    else:
        bound = {action: form}
    return _render_detail(request, req, errors=errors, bound=bound, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def record_evidence(request, reference: str):
    if request.method == "GET":
        return _to_request_page(request, reference)
    try:
        req = _get(request, reference)
    except Forbidden as exc:
        return _refused(request, exc)
    form = forms.EvidenceForm(request.POST, prefix="evidence")
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.record_evidence(request.actor, req, kind=data["kind"], details=data["details"],
                                     confirmed_by_name=data["confirmed_by_name"],
                                     confirmed_by_role=data["confirmed_by_role"])
        except (InvalidInput, Conflict) as exc:
            status = _refusal_on_form(form, exc)
        except Forbidden as exc:
            return _refused(request, exc)
        else:
            request.session[FLASH] = "Check recorded"
            return redirect("requests:detail", req.reference)
    return _render_detail(request, req, errors=error_list(form), evidence_form=form, status=status)


# --- batches ---

@never_cache
@require_http_methods(["GET", "POST"])
@staff_required(capabilities=permissions.ACTIONS["request.raise"])
def batch_upload(request):
    """SC11, CC7: upload a CSV; every bad row is reported before anything is created; then confirm."""
    actor = request.actor
    organisations = _raisable_organisations(actor)
    posted = request.method == "POST"
    form = forms.BatchForm(request.POST if posted else None, request.FILES if posted else None, organisations=organisations,
                           services_=_active_services())
    bad_rows: list[dict] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        organisation = Organisation.objects.get(code=form.cleaned_data["organisation"])
        service = Service.objects.filter(code=form.cleaned_data.get("service") or "").first()
        filename, text = form.cleaned_data["file"]
        try:
            services.acting_as(actor, "request.raise", organisation, doing="raise")
            rows = rules.parse_batch_csv(text)
            checked = services.check_batch(organisation, service, rows)
        except Forbidden as exc:
            return _refused(request, exc)
        except ValueError as exc:  # the file itself
            form.add_error("file", f"The selected file cannot be read: {exc}")
        except services.BatchInvalid as exc:
            for number, problems in sorted(exc.rows.items()):
                for field, message in problems.items():
                    bad_rows.append({"row": number, "field": "" if field == "__all__" else field,
                                     "message": message[:1].upper() + message[1:]})
            form.add_error("file", f"{len(exc.rows)} of {len(rows)} rows have problems; correct them in the file "
                                   f"and upload it again. Nothing has been created")
        except InvalidInput as exc:
            form.add_error("file", "; ".join(m[:1].upper() + m[1:] for m in exc.errors.values()))
        else:
            token = secrets.token_urlsafe(16)
            pending = request.session.get(BATCH_SESSION, {})
            pending = dict(list(pending.items())[-4:])  # a few uploads at most
            pending[token] = {"organisation": organisation.code, "service": service.code if service else "",
                              "filename": filename, "csv": text}
            request.session[BATCH_SESSION] = pending
            return render(request, "requests/batch_confirm.jinja", {
                "token": token, "organisation": organisation, "service": service, "filename": filename,
                "rows": [{"kind": rules.KIND_LABELS[kind], "name": cleaned.full_name} for kind, cleaned in checked],
            })
    return render(request, "requests/batch_upload.jinja", {
        "form": form, "errors": error_list(form) if form.errors else [], "bad_rows": bad_rows,
        "columns": rules.BATCH_COLUMNS,
    }, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required(capabilities=permissions.ACTIONS["request.raise"])
def batch_confirm(request):
    if request.method == "GET":  # reopened after an error: start the upload again
        return redirect("requests:batch-upload")
    pending = request.session.get(BATCH_SESSION, {})
    upload = pending.get(request.POST.get("token", ""))
    if upload is None:
        return redirect("requests:batch-upload")
    organisation = Organisation.objects.get(code=upload["organisation"])
    service = Service.objects.filter(code=upload["service"]).first() if upload["service"] else None
    try:
        batch = services.import_batch(request.actor, organisation, service, rules.parse_batch_csv(upload["csv"]),
                                      filename=upload["filename"], submit=True)
    except Forbidden as exc:
        return _refused(request, exc)
    except (InvalidInput, Conflict, ValueError):
        # Something changed since the check (a person registered meanwhile): check the file again.
        return redirect("requests:batch-upload")
    pending.pop(request.POST["token"], None)
    request.session[BATCH_SESSION] = pending
    request.session[FLASH] = f"Batch {batch.reference} raised: {batch.requests.count()} requests"
    return redirect("requests:batch", batch.reference)


def _batch_or_404(request, reference: str) -> Batch:
    batch = Batch.objects.select_related("organisation", "service").filter(reference=reference.strip().upper()).first()
    if batch is None:
        raise Http404("no such batch")
    services.acting_as(request.actor, "request.read", batch.organisation, doing="read")
    return batch


def _batch_actions(request, rows: list[AccessRequest]) -> list[str]:
    """The actions the viewer may take on every open request of the batch (they move together)."""
    open_rows = [r for r in rows if r.state not in rules.FINAL_STATES]
    if not open_rows:
        return []
    allowed = [a for a in selectors.next_actions(request.actor, open_rows[0])
               if a not in (rules.Action.PROVIDE_INFORMATION,)]
    return [a for a in allowed if all(selectors.may(request.actor, r, a) for r in open_rows[1:])]


def _render_batch(request, batch: Batch, *, errors=(), bound=None, status: int = 200):
    rows = list(selectors.queue(request.actor, "organisation", batch=batch))
    actions = []
    for action in _batch_actions(request, rows):
        form = (bound or {}).get(action) or forms.ACTION_FORMS[action](prefix=action, initial={"version": 0})
        actions.append({"action": action, "label": rules.ACTION_LABELS[action], "form": form,
                        "url": reverse("requests:batch-act", args=[batch.reference, action]),
                        "open": action in (bound or {})})
    return render(request, "requests/batch.jinja", {
        "batch": batch, "rows": rows, "state_labels": rules.STATE_LABELS, "kind_labels": rules.KIND_LABELS,
        "colours": STATE_COLOURS, "flash": request.session.pop(FLASH, None), "actions": actions,
        "errors": list(errors),
    }, status=status)


@never_cache
@require_http_methods(["GET"])
@staff_required
def batch_detail(request, reference: str):
    try:
        batch = _batch_or_404(request, reference)
    except Forbidden as exc:
        return _refused(request, exc)
    return _render_batch(request, batch)


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def batch_act(request, reference: str, action: str):
    """Move every open request of the batch by one action, all or none (services.transition_batch)."""
    if action not in forms.ACTION_FORMS or action == rules.Action.PROVIDE_INFORMATION:
        raise Http404("no such action")
    if request.method == "GET":  # reopened after an error: the batch's page
        return redirect(reverse("requests:batch", args=[reference]))
    try:
        batch = _batch_or_404(request, reference)
    except Forbidden as exc:
        return _refused(request, exc)
    form = forms.ACTION_FORMS[action](request.POST, prefix=action)
    form.fields["version"].required = False  # each request's own version is checked under its lock
    status = 200
    if form.is_valid():
        try:
            moved = services.transition_batch(request.actor, batch, action, **form.arguments())
        except (InvalidInput, Conflict) as exc:
            status = _refusal_on_form(form, exc)
        except Forbidden as exc:
            return _refused(request, exc)
        else:
            request.session[FLASH] = f"{DONE[action]} ({len(moved)} requests)"
            return redirect("requests:batch", batch.reference)
    return _render_batch(request, batch, errors=error_list(form), bound={action: form}, status=status)

"""The mailboxes pages. Views read the form, call a service or selector, and render; they write
nothing themselves. The application page is public (a care home has no account yet)."""

from __future__ import annotations

from django.contrib.auth import update_session_auth_hash
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from careaccess.core import permissions
from careaccess.core.errors import CareAccessError, InvalidInput, NotFound
from careaccess.directory.models import OrganisationalUnit, Person
from careaccess.web.auth import signin_required, staff_required
from careaccess.web.forms import error_summary

from . import policy, rules, selectors, services
from .models import Application, HelpdeskDelegation, Mailbox, Membership, SharedMailbox

INDIVIDUAL_ROWS = 6
APPLICATION_FIELDS = ("sponsor", "applicant_name", "applicant_role", "applicant_email", "home_name", "home_address",
                      "home_town", "home_postcode", "home_phone", "cqc_number", "ig_toolkit_completed",
                      "existing_accounts", "exchanges_data", "exchange_reason", "shared_wanted", "shared_name",
                      "shared_owner", "shared_owner_mobile", "group_name", "head_office", "head_office_aware",
                      "benefits")
SESSION_RECEIVED = "careaccess.mailbox_application"
FLASH = "careaccess.mailboxes.flash"


def _done(action: str, app: Application) -> str:
    """The success banner's words after a step on an application."""
    app.refresh_from_db()
    if action == "assess":
        return f"Assessment recorded for {app.reference}. You can now approve or reject it."
    if action == "approve":
        return f"{app.reference} approved: {app.home_name}'s accounts were created and the applicant was emailed."
    return f"{app.reference} rejected: the applicant was emailed the reasons."


def _error_texts(errors: dict[str, str]) -> dict[str, dict[str, str]]:
    return {name: {"text": text} for name, text in errors.items()}


def _failure(error: CareAccessError, anchor: str) -> dict[str, str]:
    return error.errors if isinstance(error, InvalidInput) else {anchor: error.message}


def _read_report(request):
    upload = request.FILES.get("ig_report")
    if upload is None:
        return None
    limit = policy.report_max_bytes()
    return services.Report(upload.name, upload.read(limit + 1))


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def apply(request):
    """NM1: the public application page."""
    values = {name: request.POST.get(name, "") for name in APPLICATION_FIELDS} if request.method == "POST" else {}
    rows = [{f: request.POST.get(f"individuals-{i}-{f}", "") for f in ("title", "first_name", "last_name", "mobile")}
            for i in range(INDIVIDUAL_ROWS)]
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            app = services.submit_application({**values, "individuals": rows}, _read_report(request),
                                              client=request.META.get("REMOTE_ADDR", ""))
        except CareAccessError as error:
            errors = _failure(error, "cqc_number")
        else:
            request.session[SESSION_RECEIVED] = app.reference
            return redirect("mailboxes:applied")
    return render(request, "mailboxes/apply.jinja", {
        "values": values, "rows": rows, "err": _error_texts(errors), "errors": error_summary(errors, anchors={"__all__": "sponsor"}),
        "sponsors": services.sponsors(), "max_mb": max(1, policy.report_max_bytes() // (1024 * 1024)),
    })


def applied(request):
    reference = request.session.get(SESSION_RECEIVED)
    app = Application.objects.select_related("sponsor").filter(reference=reference).first() if reference else None
    if app is None:
        return redirect("mailboxes:apply")
    return render(request, "mailboxes/applied.jinja", {
        "app": app, "timescale": policy.decision_timescale(app.sponsor.code)})


@staff_required(capabilities=("local_administrator",))
def queue(request):
    return render(request, "mailboxes/queue.jinja", {"applications": selectors.queue(request.actor)})


def _application_or_404(request, reference):
    try:
        return selectors.application_for(request.actor, reference)
    except NotFound:
        raise Http404("no such application") from None


@staff_required(capabilities=("local_administrator",))
@require_http_methods(["GET", "POST"])
def application(request, reference):
    app = _application_or_404(request, reference)
    errors: dict[str, str] = {}
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "assess":
                services.assess(request.actor, app, ig_toolkit_checked=request.POST.get("ig_toolkit_checked") == "yes",
                                justification=request.POST.get("justification", ""),
                                justification_accepted=request.POST.get("justification_accepted") == "yes")
            elif action == "approve":
                services.approve(request.actor, app, shared_display_name=request.POST.get("shared_display_name") or None,
                                 location=request.POST.get("location") or None,
                                 hidden=request.POST.get("hidden") == "yes")
            elif action == "reject":
                services.reject(request.actor, app, reasons=request.POST.get("reasons", ""))
            else:
                raise InvalidInput({"__all__": "Choose assess, approve or reject"})
        except CareAccessError as error:
            errors = _failure(error, "decision")
        else:
            request.session[FLASH] = _done(action, app)
            return redirect("mailboxes:application", reference=app.reference)
        app = _application_or_404(request, reference)
    limits = policy.limits()
    asked = (len(app.individuals), 1 if app.shared_wanted else 0)
    return render(request, "mailboxes/application.jinja", {
        "app": app, "err": _error_texts(errors), "errors": error_summary(errors, anchors={"__all__": "decision"}), "post": request.POST,
        "cqc_match": services.matching_care_home(app.cqc_number), "cqc_mismatch": services.cqc_mismatch(app.cqc_number),
        "flash": request.session.pop(FLASH, None) if request.method == "GET" else None,
        "needs_justification": rules.needs_justification(*asked, limits=limits),
        "suggested_name": rules.suggest_shared_display_name(app.shared_name or app.home_name),
        "mailboxes": Mailbox.objects.filter(application=app), "shared": SharedMailbox.objects.filter(application=app),
    }, status=422 if errors else 200)


@staff_required(capabilities=("local_administrator",))
def report(request, reference):
    """The IG toolkit report, to the assessing administrators only, always as a download."""
    app = _application_or_404(request, reference)
    path = services.report_path(app)
    if path is None or not path.exists():
        raise Http404("no report")
    response = FileResponse(open(path, "rb"), as_attachment=True, filename=f"{app.reference}-ig-toolkit.pdf",
                            content_type="application/pdf")
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_required(capabilities=("local_administrator",))
def homes(request):
    """The care homes (units with mailboxes) of the organisations this administrator administers."""
    sponsors = selectors.administered_sponsors(request.actor, "mailbox.manage")
    units = (OrganisationalUnit.objects.filter(organisation__in=sponsors, mailboxes__isnull=False)
             .select_related("organisation").distinct().order_by("name"))
    return render(request, "mailboxes/homes.jinja", {"units": units, "waiting": selectors.queue(request.actor)[:50]})


@signin_required
@require_http_methods(["GET", "POST"])
def home(request, unit_id):
    """A home's mailboxes: for the sponsor's administrators (everything), its helpdesk (unlock and
    reset, NM11) and its own users (report an account the home no longer needs, NM11)."""
    unit = OrganisationalUnit.objects.select_related("organisation").filter(pk=unit_id).first()
    if unit is None:
        raise Http404("no such home")
    is_admin = permissions.can(request.actor, "mailbox.manage", unit.organisation)
    is_helpdesk = HelpdeskDelegation.objects.filter(unit=unit, person_id=request.actor.person_id,
                                                    revoked_at__isnull=True).exists()
    is_member = Mailbox.objects.filter(unit=unit, person_id=request.actor.person_id).exists()
    if not (is_admin or is_helpdesk or is_member):
        raise Http404("no such home")
    errors: dict[str, str] = {}
    done = ""
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            mailbox = Mailbox.objects.filter(unit=unit, pk=request.POST.get("mailbox") or 0).first()
            shared = SharedMailbox.objects.filter(unit=unit, pk=request.POST.get("shared") or 0).first()
            if not (is_admin or is_helpdesk) and action != "report":
                raise InvalidInput({"__all__": "The home's own users may only report accounts it no longer needs"})
            if action in ("reset", "unlock", "report") and mailbox is None:
                raise InvalidInput({"mailbox": "Choose one of the home's accounts"})
            if action == "reset":
                services.reset_password(request.actor, mailbox)
                done = f"A new temporary password was sent to {mailbox.address}."
            elif action == "unlock":
                services.unlock(request.actor, mailbox)
                done = f"{mailbox.address} is unlocked."
            elif action == "report":
                req = services.report_unneeded(request.actor, mailbox, reason=request.POST.get("reason", ""))
                done = f"Deletion request {req.reference} was raised for {mailbox.address}."
            elif action == "member":
                member = Mailbox.objects.filter(address=request.POST.get("member", "").strip().lower()).first()
                if shared is None or member is None:
                    raise InvalidInput({"member": "Enter the address of an account of this home"})
                services.add_member(request.actor, shared, member, request.POST.get("permission", ""))
                done = f"{member.address} was added to {shared.address}."
            elif action == "visibility" and shared is not None:
                services.set_hidden(request.actor, shared, request.POST.get("hidden") == "yes")
                done = f"{shared.address} visibility was changed."
            elif action == "shared":
                shared = services.create_shared_mailbox(
                    request.actor, unit, display_name=request.POST.get("shared_display_name", ""),
                    location=request.POST.get("location", ""), hidden=request.POST.get("hidden") == "yes")
                done = f"{shared.address} was created."
            elif action == "delegate":
                person = Person.objects.filter(uid=request.POST.get("helpdesk", "").strip()).first()
                if person is None:
                    raise InvalidInput({"helpdesk": "Enter the 12-digit user ID of the helpdesk person"})
                services.delegate_helpdesk(request.actor, unit, person)
                done = f"{person.given_name} {person.family_name} can now unlock accounts and reset passwords."
            else:
                raise InvalidInput({"__all__": "Choose an action"})
        except CareAccessError as error:
            errors = _failure(error, "actions")
    return render(request, "mailboxes/home.jinja", {
        "unit": unit, "is_admin": is_admin, "is_helpdesk": is_helpdesk or is_admin, "done": done, "err": _error_texts(errors),
        "errors": error_summary(errors, anchors={"__all__": "actions"}),
        "mailboxes": Mailbox.objects.filter(unit=unit).select_related("person"),
        "shared": SharedMailbox.objects.filter(unit=unit),
        "members": Membership.objects.filter(shared_mailbox__unit=unit).select_related("mailbox", "shared_mailbox"),
        "delegations": HelpdeskDelegation.objects.filter(unit=unit, revoked_at__isnull=True).select_related("person"),
    })


def first_sign_in_step(person: Person) -> str | None:
    """NM8: a mailbox user's first sign-in changes the temporary password, accepts the acceptable use
    policy and completes the profile before anything else (a step after sign-in: see apps.py)."""
    return reverse("mailboxes:first-sign-in") if services.pending_first_sign_in(person) is not None else None


@sensitive_post_parameters("new_password", "confirm_password")
@signin_required
@never_cache
@require_http_methods(["GET", "POST"])
def first_sign_in(request):
    """NM8: change the temporary password, accept the acceptable use policy, complete the profile."""
    person = Person.objects.select_related("user").get(pk=request.actor.person_id)
    pending = services.pending_first_sign_in(person)
    if pending is None:
        return redirect(reverse("web:home"))
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            services.complete_first_sign_in(
                person, new_password=request.POST.get("new_password", ""),
                confirm_password=request.POST.get("confirm_password", ""),
                accept_aup=request.POST.get("accept_aup") == "yes", job_title=request.POST.get("job_title", ""),
                mobile=request.POST.get("mobile", ""))
        except CareAccessError as error:
            errors = _failure(error, "new_password")
        else:
            person.user.refresh_from_db()
            update_session_auth_hash(request, person.user)
            return render(request, "mailboxes/welcome.jinja", {"mailbox": Mailbox.objects.get(pk=pending.pk)})
    return render(request, "mailboxes/first_sign_in.jinja", {
        "mailbox": pending, "err": _error_texts(errors), "errors": error_summary(errors, anchors={"__all__": "new_password"}),
        "post": request.POST, "phone": person.phone})


@signin_required
def directory(request):
    """NM10: search people and visible shared mailboxes."""
    query = {k: request.GET.get(k, "").strip()[:100] for k in ("name", "organisation", "role")}
    searched = any(query.values())
    return render(request, "mailboxes/directory.jinja", {
        "query": query, "searched": searched, "entries": selectors.search(**query) if searched else []})

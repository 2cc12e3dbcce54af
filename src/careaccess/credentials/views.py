"""The published CRL at a stable URL (wired at /pki/crl.der): the newest CRL, DER, public."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.http import http_date
from django.views.decorators.http import require_GET

from . import selectors


@require_GET
def crl(request):
    issue = selectors.latest_crl()
    if issue is None:
        return HttpResponse("No CRL has been published yet: run `careaccess pki init`.\n", status=503,
                            content_type="text/plain; charset=utf-8")
    response = HttpResponse(bytes(issue.der), content_type="application/pkix-crl")
    response["Content-Disposition"] = 'inline; filename="crl.der"'
    response["Last-Modified"] = http_date(issue.this_update.timestamp())
    response["Expires"] = http_date(issue.next_update.timestamp())
    response["Cache-Control"] = "public, max-age=300"
    response["ETag"] = f'"crl-{issue.id}"'
    return response


# --- Second factor pages (issue 5, item 6) and self-service (item 7) -------------------------
import datetime as dt  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

from django import forms  # noqa: E402
from django.shortcuts import redirect, render  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.views.decorators.cache import never_cache  # noqa: E402
from django.views.decorators.csrf import csrf_protect  # noqa: E402
from django.views.decorators.debug import sensitive_post_parameters  # noqa: E402
from django.views.decorators.http import require_http_methods  # noqa: E402

from careaccess.core import clock  # noqa: E402
from careaccess.core.errors import CareAccessError, InvalidInput  # noqa: E402
from careaccess.directory.models import Person  # noqa: E402
from careaccess.web import auth as web_auth  # noqa: E402
from careaccess.web.forms import error_list, error_summary  # noqa: E402

from . import authenticators, securitykeys  # noqa: E402

PENDING_MINUTES = 5  # the second step must follow the password within this time
MAX_SECOND_FACTOR_TRIES = 5


class CodeForm(forms.Form):
    code = forms.CharField(max_length=40, strip=True,
                           error_messages={"required": "Enter the code from your authenticator app"})


def _exempt(view):
    view.second_factor_exempt = True
    return view


def _client(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _pending(request):
    """The person whose password was right and who owes the second step, or None (expired, none)."""
    pending = request.session.get(web_auth.SESSION_PENDING_SECOND_FACTOR)
    if not pending:
        return None, None
    started = dt.datetime.fromisoformat(pending["at"])
    person = Person.objects.select_related("user").filter(pk=pending["person"]).first()
    if person is None or clock.now() - started > dt.timedelta(minutes=PENDING_MINUTES):
        request.session.pop(web_auth.SESSION_PENDING_SECOND_FACTOR, None)
        if person is not None:
            authenticators.record_second_factor_abandoned(person, client=_client(request), reason="second step too late")
        return None, None
    return person, pending


@sensitive_post_parameters("code")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def verify(request):
    """The second sign-in step: a code from the authenticator app, or a recovery code."""
    from careaccess.web import views as web_views

    person, pending = _pending(request)
    if person is None:
        return redirect(reverse("web:sign-in"))
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        if authenticators.verify_second_factor(person, form.cleaned_data["code"], client=_client(request)):
            web_views.complete_sign_in(request, person, ["pwd", "otp"])
            return web_views.after_sign_in(request, pending.get("next"))
        pending["tries"] = pending.get("tries", 0) + 1
        if pending["tries"] >= MAX_SECOND_FACTOR_TRIES:
            request.session.pop(web_auth.SESSION_PENDING_SECOND_FACTOR, None)
            authenticators.record_second_factor_abandoned(person, client=_client(request), reason="too many wrong codes")
            return redirect(reverse("web:sign-in"))
        request.session[web_auth.SESSION_PENDING_SECOND_FACTOR] = pending
        form.add_error("code", "The code is not right. Enter the code your authenticator app shows now, "
                               "or one of your recovery codes.")
    errors = error_list(form, "code") if form.is_bound else []
    has_keys = securitykeys.security_keys(person).exists()
    has_app = authenticators.confirmed_device(person) is not None
    return render(request, "credentials/verify.jinja",
                  {"form": form, "errors": errors, "has_keys": has_keys, "has_app": has_app})


@_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def totp_enrol(request):
    """Set up an authenticator app: shows the secret and its otpauth:// URI; a code confirms it."""
    next_url = request.POST.get("next") or request.GET.get("next")
    actor = request.actor
    person = web_auth.shell(request).person
    form = CodeForm(request.POST if request.method == "POST" and "code" in request.POST else None)
    device = authenticators.pending_device(person)
    if request.method == "POST" and "start" in request.POST or device is None:
        device = authenticators.start_totp_enrolment(actor)
        if request.method == "POST" and "start" in request.POST:
            return redirect(request.get_full_path())
    if form.is_bound and form.is_valid():
        try:
            codes = authenticators.confirm_totp_enrolment(actor, form.cleaned_data["code"])
        except InvalidInput as error:
            form.add_error("code", error.errors.get("code", error.message))
        except CareAccessError as error:
            form.add_error(None, error.message)
        else:
            request.session.pop(web_auth.SESSION_MUST_ENROL, None)
            safe = next_url and next_url.startswith("/") and not next_url.startswith("//")
            continue_url = next_url if safe else reverse("web:home")
            return render(request, "credentials/recovery_codes.jinja", {"codes": codes, "continue_url": continue_url})
    errors = error_list(form, "code") if form.is_bound else []
    return render(request, "credentials/totp_enrol.jinja", {
        "form": form, "errors": errors, "secret": device.secret, "uri": authenticators.provisioning_uri(device),
        "next": next_url, "required": bool(request.session.get(web_auth.SESSION_MUST_ENROL)),
        "already": authenticators.has_second_factor(person)})


totp_enrol = _exempt(web_auth.signin_required(totp_enrol))


@web_auth.signin_required
@never_cache
@require_http_methods(["GET", "POST"])
def security(request):
    """Your sign-in security: the authenticator app, recovery codes left, new recovery codes."""
    person = web_auth.shell(request).person
    if request.method == "POST":
        try:
            codes = authenticators.regenerate_recovery_codes(request.actor)
        except CareAccessError as error:
            return render(request, "credentials/security.jinja", _security_context(person, error.message), status=409)
        return render(request, "credentials/recovery_codes.jinja", {"codes": codes, "continue_url": reverse("credentials:security")})
    return render(request, "credentials/security.jinja", _security_context(person))


def _security_context(person, error=None):
    device = authenticators.confirmed_device(person)
    return {"device": device, "remaining": authenticators.remaining_recovery_codes(person),
            "keys": list(securitykeys.security_keys(person)),
            "key_url": f"{reverse('credentials:security-key')}?{urlencode({'next': reverse('credentials:security')})}",
            "required": authenticators.requires_second_factor(person), "error": error,
            "enrol_url": f"{reverse('credentials:totp-enrol')}?{urlencode({'next': reverse('credentials:security')})}"}


# --- Self-service (rules DS2, PP4) ----------------------------------------------------------
from django.contrib.auth import update_session_auth_hash  # noqa: E402

from careaccess.identity import selectors as identity_selectors  # noqa: E402

from . import selectors as credential_selectors  # noqa: E402
from . import selfcardviews  # noqa: E402
from . import selfservice  # noqa: E402


def _errors_from(error: CareAccessError) -> tuple[dict[str, str], list[dict[str, str]]]:
    fields = error.errors if isinstance(error, InvalidInput) else {}
    return fields, error_summary(fields or {"__all__": error.message})


@web_auth.signin_required
def account(request):
    """Your account: contact details, card certificate expiry, terms, password, sign-in security."""
    person = web_auth.shell(request).person
    card = credential_selectors.current_card(person)
    certificate = card.certificate if card is not None else None
    days_left = None
    if certificate is not None:
        days_left = (certificate.not_after - clock.now()).days
    return render(request, "credentials/account.jinja", {
        "person": person, "card": card, "certificate": certificate, "days_left": days_left,
        "terms": identity_selectors.current_terms(), "second_factor": authenticators.has_second_factor(person),
        **selfcardviews.account_context(person, card)})


@web_auth.signin_required
@never_cache
@require_http_methods(["GET", "POST"])
def contact_details(request):
    person = web_auth.shell(request).person
    values = {"email": person.email, "phone": person.phone}
    field_errors, errors = {}, []
    if request.method == "POST":
        values = {name: request.POST.get(name, "").strip() for name in selfservice.CONTACT_FIELDS}
        try:
            selfservice.update_own_contact_details(request.actor, **values)
        except CareAccessError as error:
            field_errors, errors = _errors_from(error)
        else:
            return redirect(reverse("credentials:account") + "?updated=contact")
    return render(request, "credentials/contact_details.jinja",
                  {"values": values, "field_errors": field_errors, "errors": errors})


@sensitive_post_parameters("current_password", "new_password", "confirm_password")
@web_auth.signin_required
@never_cache
@require_http_methods(["GET", "POST"])
def change_password(request):
    field_errors, errors = {}, []
    if request.method == "POST":
        try:
            selfservice.change_password(request.actor, current_password=request.POST.get("current_password", ""),
                                        new_password=request.POST.get("new_password", ""),
                                        confirm=request.POST.get("confirm_password", ""))
        except CareAccessError as error:
            field_errors, errors = _errors_from(error)
        else:
            request.user.refresh_from_db()
            update_session_auth_hash(request, request.user)
            return redirect(reverse("credentials:account") + "?updated=password")
    return render(request, "credentials/change_password.jinja", {"field_errors": field_errors, "errors": errors})


@sensitive_post_parameters("new_password", "confirm_password")
@web_auth.signin_required
@never_cache
@require_http_methods(["GET", "POST"])
def report_breach(request):
    field_errors, errors, description = {}, [], ""
    if request.method == "POST":
        description = request.POST.get("description", "")
        try:
            selfservice.report_breach(request.actor, description=description,
                                      new_password=request.POST.get("new_password", ""),
                                      confirm=request.POST.get("confirm_password", ""), client=_client(request))
        except CareAccessError as error:
            field_errors, errors = _errors_from(error)
        else:
            request.user.refresh_from_db()
            update_session_auth_hash(request, request.user)
            return redirect(reverse("credentials:account") + "?updated=breach")
    return render(request, "credentials/report_breach.jinja",
                  {"field_errors": field_errors, "errors": errors, "description": description})


@web_auth.signin_required
def terms(request):
    current = identity_selectors.current_terms()
    accepted = current is not None and identity_selectors.has_accepted(web_auth.shell(request).person, current)
    return render(request, "credentials/terms.jinja", {"terms": current, "accepted": accepted})

"""The shell's pages: sign-in and sign-out, choosing the acting position, home and "Your access".
Views read the form, call a service or selector, and render; they write nothing themselves."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import login, logout
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from careaccess.core import clock, permissions
from careaccess.core.errors import CareAccessError
from careaccess.directory.models import Organisation
from careaccess.directory.selectors import effective_access

from . import auth, forms, menu, services, sign_in_steps
from .auth import signin_required


def healthz(request):
    """Liveness and database reachability, for load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def _safe_next(request, value: str | None) -> str | None:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                 require_https=request.is_secure()):
        return value
    return None


def _client(request) -> str:
    return request.META.get("REMOTE_ADDR", "")


def locked_message(locked_until) -> str:
    """"Try again after HH:MM", local time, rounded up to the minute the lock has ended by."""
    local = timezone.localtime(locked_until)
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    return f"Too many failed attempts. Try again after {local:%H:%M}."


def _after_sign_in(request, next_url: str | None):
    step = request.session.get(auth.SESSION_PENDING_STEP)  # found by complete_sign_in
    if step is not None:
        return redirect(step)
    current = auth.shell(request)
    if current is not None and current.needs_choice:
        target = reverse("web:choose-position")
        return redirect(f"{target}?{urlencode({'next': next_url})}" if next_url else target)
    return redirect(next_url or reverse("web:home"))


def complete_sign_in(request, person, methods: list[str]) -> None:
    """Sign the person in on this session (after the password and, when they have one, the second
    factor), recording how (`methods`, RFC 8176 amr values) for the assurance relying services see."""
    request.session.pop(auth.SESSION_PENDING_SECOND_FACTOR, None)
    login(request, person.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[auth.SESSION_AMR] = list(methods)
    request.session.pop(auth.SESSION_ASSIGNMENT, None)
    request.session.pop(auth.SESSION_PENDING_STEP, None)
    step = sign_in_steps.pending(person)
    if step is not None:
        request.session[auth.SESSION_PENDING_STEP] = step
    request.session.pop(auth.SESSION_MUST_ENROL, None)
    auth.forget_shell(request)


def after_sign_in(request, next_url: str | None):
    return _after_sign_in(request, _safe_next(request, next_url))


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request):
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if auth.shell(request) is not None and request.method == "GET":
        return redirect(next_url or reverse("web:home"))
    form = forms.SignInForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        result = services.sign_in(form.cleaned_data["username"], form.cleaned_data["password"], client=_client(request))
        if result.succeeded:
            person = result.person
            if sign_in_steps.second_factor().held(person):
                # The password was right; the second step (authenticator code) signs them in.
                request.session.cycle_key()
                request.session[auth.SESSION_PENDING_SECOND_FACTOR] = {
                    "person": person.pk, "at": clock.now().isoformat(), "next": next_url, "tries": 0}
                return redirect(reverse("credentials:verify"))
            complete_sign_in(request, person, ["pwd"])
            if sign_in_steps.second_factor().must_enrol(person):
                request.session[auth.SESSION_MUST_ENROL] = True
                target = reverse("credentials:totp-enrol")
                return redirect(f"{target}?{urlencode({'next': next_url})}" if next_url else target)
            return _after_sign_in(request, next_url)
        if result.locked_until is not None:
            form.add_error(None, locked_message(result.locked_until))
        elif result.refused:
            form.add_error(None, result.refused)
        else:
            form.add_error(None, "The user ID, email address or password is not right. Check them and try again.")
    errors = forms.error_list(form, "username") if form.is_bound else []
    return render(request, "web/sign_in.jinja", {"form": form, "errors": errors, "next": next_url},
                  status=200)


@require_http_methods(["GET", "POST"])
@csrf_protect
def sign_out(request):
    """Signing out is a POST (the header's button); a GET (a typed or reopened address) goes home."""
    if request.method == "GET":
        return redirect("/")
    if auth.shell(request) is not None:
        services.sign_out(auth.actor_for_request(request))
    logout(request)
    return redirect(settings.LOGIN_URL)


def _rights(grant: permissions.Grant) -> str:
    return ", ".join(menu.capability_title(c) for c in menu.CAPABILITIES if c in grant.capabilities)


@signin_required
@never_cache
@require_http_methods(["GET", "POST"])
def choose_position(request):
    current = auth.shell(request)
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if not current.grants:
        return auth.forbidden(request, message="You do not hold a staff position, so there is no position to choose.")
    form = forms.ChoosePositionForm(request.POST if request.method == "POST" else None, grants=current.grants)
    if request.method == "POST" and form.is_valid():
        try:
            acting = services.choose_position(request.actor, form.cleaned_data["assignment"])
        except CareAccessError as error:
            form.add_error("assignment", error.message)
        else:
            request.session[auth.SESSION_ASSIGNMENT] = acting.assignment_id
            auth.forget_shell(request)
            return redirect(next_url or reverse("web:home"))
    selected = current.acting.assignment_id if current.acting else None
    if form.is_bound:
        selected = form.cleaned_data.get("assignment") if form.is_valid() else None
    items = [
        {"value": g.assignment_id, "text": g.position_label, "hint": {"text": _rights(g)},
         "checked": g.assignment_id == selected}
        for g in current.grants
    ]
    errors = forms.error_list(form, "assignment") if form.is_bound else []
    return render(request, "web/choose_position.jinja", {"form": form, "errors": errors, "items": items, "next": next_url})


@signin_required
def home(request):
    current = auth.shell(request)
    if current.needs_choice:
        return auth.choose_position_redirect(request)
    capabilities = permissions.capabilities(request.actor) if current.acting else {}
    codes = {g.organisation_code for grants in capabilities.values() for g in grants}
    names = dict(Organisation.objects.filter(code__in=codes).values_list("code", "name"))
    return render(request, "web/home.jinja", {"sections": menu.sections(capabilities, names)})


@signin_required
def my_access(request):
    person = auth.shell(request).person
    return render(request, "web/my_access.jinja", {"person": person, "access": effective_access(person)})

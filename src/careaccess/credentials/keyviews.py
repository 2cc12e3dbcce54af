"""Security-key pages (WebAuthn): register a key, and use one for the second sign-in step.
The browser runs the ceremonies (templates/credentials/webauthn.js.jinja); these views hand out
the options, keep the challenge in the session, and pass the answer to `securitykeys`."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from careaccess.core.errors import CareAccessError
from careaccess.web import auth as web_auth

from . import authenticators, securitykeys
from .views import _client, _exempt, _pending

SESSION_REGISTRATION = "careaccess.webauthn_registration_challenge"
SESSION_AUTHENTICATION = "careaccess.webauthn_authentication_challenge"


def rp_id(request) -> str:
    return getattr(settings, "CAREACCESS_WEBAUTHN_RP_ID", "") or request.get_host().rsplit(":", 1)[0]


def origin(request) -> str:
    return f"{request.scheme}://{request.get_host()}"


def _body(request) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _safe(next_url: str | None, default: str) -> str:
    return next_url if next_url and next_url.startswith("/") and not next_url.startswith("//") else default


@never_cache
@require_http_methods(["GET", "POST"])
def security_key(request):
    if request.method == "GET":
        return render(request, "credentials/security_key.jinja", {
            "next": request.GET.get("next"), "required": bool(request.session.get(web_auth.SESSION_MUST_ENROL))})
    challenge = request.session.pop(SESSION_REGISTRATION, None)
    data = _body(request)
    if challenge is None:
        return JsonResponse({"error": "Start again: select Register."}, status=409)
    try:
        securitykeys.register_security_key(request.actor, credential=json.dumps(data.get("credential") or {}),
                                           challenge=challenge, rp_id=rp_id(request), origin=origin(request),
                                           name=str(data.get("name") or ""))
    except CareAccessError as error:
        return JsonResponse({"error": error.message}, status=422)
    request.session.pop(web_auth.SESSION_MUST_ENROL, None)
    return JsonResponse({"redirect": _safe(request.GET.get("next"), reverse("credentials:security"))})


security_key = _exempt(web_auth.signin_required(_exempt(security_key)))


@require_POST
def security_key_options(request):
    options, challenge = securitykeys.registration_options(request.actor, rp_id=rp_id(request))
    request.session[SESSION_REGISTRATION] = challenge
    return JsonResponse(json.loads(options))


security_key_options = _exempt(web_auth.signin_required(_exempt(security_key_options)))


@require_POST
def verify_key_options(request):
    person, _ = _pending(request)
    if person is None:
        return JsonResponse({"error": "Start signing in again."}, status=409)
    options, challenge = securitykeys.authentication_options(person, rp_id=rp_id(request))
    request.session[SESSION_AUTHENTICATION] = challenge
    return JsonResponse(json.loads(options))


@require_POST
def verify_key(request):
    from careaccess.web import views as web_views

    person, pending = _pending(request)
    challenge = request.session.pop(SESSION_AUTHENTICATION, None)
    if person is None or challenge is None:
        return JsonResponse({"error": "Start signing in again.", "redirect": reverse("web:sign-in")}, status=409)
    data = _body(request)
    if not securitykeys.verify_security_key(person, credential=json.dumps(data.get("credential") or {}),
                                            challenge=challenge, rp_id=rp_id(request), origin=origin(request),
                                            client=_client(request)):
        return JsonResponse({"error": "Your security key was not accepted. Try again, or enter a code."}, status=422)
    web_views.complete_sign_in(request, person, ["pwd", "hwk"])
    response = web_views.after_sign_in(request, pending.get("next"))
    return JsonResponse({"redirect": response.url})


__all__ = ["authenticators"]

"""OpenID Connect endpoints: discovery, JWKS, authorization (consent and role selection on the
NHS.UK shell, signed in through the web sign-in), token, userinfo, revocation, introspection."""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.oauth2 import OAuth2Error
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from careaccess.web import auth

from . import claims, keys, rules, selectors, services
from .logout import session_id
from .server import TOKEN_METHODS, Consent, issuer, issuer_var, server


def _set_issuer(request) -> str:
    issuer_var.set(request.build_absolute_uri("/oidc"))
    return issuer()


@require_GET
def discovery(request):
    iss = _set_issuer(request)
    return JsonResponse({
        "issuer": iss,
        "authorization_endpoint": iss + "/authorize",
        "token_endpoint": iss + "/token",
        "userinfo_endpoint": iss + "/userinfo",
        "jwks_uri": iss + "/jwks",
        "revocation_endpoint": iss + "/revoke",
        "revocation_endpoint_auth_methods_supported": TOKEN_METHODS,
        "introspection_endpoint": iss + "/introspect",
        "introspection_endpoint_auth_methods_supported": TOKEN_METHODS,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "scopes_supported": list(claims.SCOPES),
        "token_endpoint_auth_methods_supported": TOKEN_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": sorted(claims.AAL_BY_ACR),
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid",
                             "nhsid_useruid", "name", "given_name", "family_name", "title", "email",
                             "nhsid_user_orgs", "nhsid_nrbac_roles", "selected_roleid",
                             "id_assurance_level", "authentication_assurance_level"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    })


@require_GET
def jwks(request):
    return JsonResponse(keys.jwks())


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def authorize(request):
    _set_issuer(request)
    current = auth.shell(request)
    if current is None:
        return auth.sign_in_redirect(request)
    person = current.person
    unfinished = auth.unfinished_sign_in(request, person, authorize)
    if unfinished is not None:
        return unfinished  # no code for a sign-in not yet complete (second factor to enrol, NM8 first sign-in)
    try:
        grant = server.get_consent_grant(request, end_user=person)
    except OAuth2Error as error:
        # A bad client or redirect URI is never redirected to: Authlib answers here (400).
        return _authorize_error(request, error, server.handle_error_response(request, error))
    client = grant.client
    sign_in = claims.sign_in_of(request.session, request.user.last_login)
    service = client.service
    refusal = service and rules.sign_in_refusal(sign_in.amr, card_only=service.card_only, service_name=service.name)
    if refusal:
        # No code for a sign-in the service does not allow (rule DS18): the person may sign in
        # again with a card, or go back to the service, which is told access_denied.
        if request.method == "POST" and request.POST.get("decision") == "deny":
            return server.create_authorization_response(request, grant_user=None, grant=grant)
        card_sign_in = reverse("credentials:card-sign-in") + "?" + urlencode({"next": request.get_full_path()})
        return render(request, "oidc/refused.jinja", {
            "client": client, "refusal": refusal, "card_sign_in": card_sign_in,
            "action": request.get_full_path()}, status=403)
    scope = grant.request.payload.scope or ""
    live = claims.live_roles(person.pk)
    needs_role = "selectedrole" in scope.split() and len(live) >= 2
    error = None
    if request.method == "POST":
        if request.POST.get("decision") != "allow":
            return server.create_authorization_response(request, grant_user=None, grant=grant)
        selected = live[0].assignment_id if len(live) == 1 else None
        if needs_role:
            chosen = request.POST.get("role", "")
            selected = next((r.assignment_id for r in live if str(r.assignment_id) == chosen), None)
            if selected is None:
                error = "Choose the role you act in"
        if error is None:
            consent = Consent(person=person, sign_in=sign_in, selected_assignment_id=selected,
                              session_id=session_id(request))
            return server.create_authorization_response(request, grant_user=consent, grant=grant)
    descriptions = [claims.SCOPES[s] for s in scope.split() if s in claims.SCOPES]
    roles = [{"value": str(r.assignment_id), "text": f"{r.role_name} at {r.org_name}",
              "hint": {"text": f"{r.position_name} ({r.org_code}), role profile {r.assignment_id}"}}
             for r in live]
    return render(request, "oidc/authorize.jinja", {
        "client": client, "descriptions": descriptions, "roles": roles if needs_role else [],
        "role_error": error, "action": request.get_full_path(),
    }, status=400 if error else 200)


def _authorize_error(request, error: OAuth2Error, response):
    """An error Authlib does not redirect to the relying service: a browser (asking for HTML) gets
    an NHS.UK page with the same status and OAuth 2 error code; anything else Authlib's JSON."""
    if response.status_code in (301, 302, 303) or "text/html" not in request.headers.get("Accept", ""):
        return response
    words = PLAIN_ERRORS.get(error.error, "")
    return render(request, "oidc/error.jinja", {"error": error.error, "description": error.description or words},
                  status=response.status_code)


PLAIN_ERRORS = {  # what a person is told when Authlib gives no description
    "unsupported_response_type": "the link does not say what the service wants back (response_type)",
    "invalid_client": "careaccess does not know the service that sent you (client_id)",
    "invalid_request": "the link is missing something the service should have sent",
}


@csrf_exempt
@require_POST
def token(request):
    _set_issuer(request)
    return server.create_token_response(request)


@csrf_exempt
@require_POST
def revoke(request):
    _set_issuer(request)
    return server.create_endpoint_response("revocation", request)


@csrf_exempt
@require_POST
def introspect(request):
    _set_issuer(request)
    return server.create_endpoint_response("introspection", request)


def _bearer_error(description: str) -> HttpResponse:
    response = JsonResponse({"error": "invalid_token", "error_description": description}, status=401)
    response["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{description}"'
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def userinfo(request):
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        response = JsonResponse({"error": "invalid_request"}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    grant = selectors.access_grant(header[7:].strip())
    if grant is None:
        return _bearer_error("the access token is unknown, expired or revoked")
    if "openid" not in grant.scope.split():
        response = JsonResponse({"error": "insufficient_scope"}, status=403)
        response["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="openid"'
        return response
    info = claims.user_info(grant.subject, grant.scope, acr=grant.acr,
                            selected_assignment_id=grant.selected_assignment_id)
    services.log_userinfo_read(client_id=grant.client_id, token_id=grant.token_id, person_uid=grant.subject.uid,
                               method=request.method, path=request.path)
    return JsonResponse(info)

import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.utils.module_loading import import_string

from careaccess.core.context import new_request_id, request_scope

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
# Addresses whose every call carries a bearer token or client credentials, never a cookie: the JSON
# API, SCIM, FHIR and the OpenID Connect provider's back-channel endpoints (not /oidc/authorize,
# the browser's page).
TOKEN_API_PREFIXES = ("/api/", "/scim/", "/fhir/", "/oidc/token", "/oidc/userinfo", "/oidc/revoke", "/oidc/introspect")


class RequestIdMiddleware:
    """Gives every HTTP request an id (or keeps a sane incoming X-Request-ID) for the audit trail."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")  # not request.headers: it parses every header
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()
        request.request_id = request_id
        with request_scope(request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class PagesOnlyMiddleware:
    """Runs the middleware only pages need (settings.PAGE_MIDDLEWARE: sessions, CSRF, sign-in,
    messages, clickjacking), in its order, for every address but the token APIs (/api/, /scim/, /fhir/).

    Those APIs authenticate each call by its bearer token and reads no cookie, session, form or
    message, and no page frames its JSON, so there they would only cost time: about a tenth of an
    access decision's. Their request and response hooks and `process_view` (CSRF's check) run here
    as Django would run them; middleware with other hooks is refused at start-up.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response
        handler, self.view_hooks = get_response, []
        for path in reversed(settings.PAGE_MIDDLEWARE):
            middleware = import_string(path)(handler)
            if hasattr(middleware, "process_exception") or hasattr(middleware, "process_template_response"):
                raise ImproperlyConfigured(f"{path} has hooks PagesOnlyMiddleware does not run; put it in MIDDLEWARE")
            if hasattr(middleware, "process_view"):
                self.view_hooks.insert(0, middleware.process_view)
            handler = convert_exception_to_response(middleware)
        self.pages = handler

    def __call__(self, request):
        if request.path_info.startswith(TOKEN_API_PREFIXES):
            return self.get_response(request)
        return self.pages(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith(TOKEN_API_PREFIXES):
            return None
        for hook in self.view_hooks:
            response = hook(request, view_func, view_args, view_kwargs)
            if response is not None:
                return response
        return None

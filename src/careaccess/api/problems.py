"""RFC 9457 problem details: every error the API answers is `application/problem+json` with
type, title, status, detail (and `errors` {field: message} for invalid input), whatever raised it:
a service function's CareAccessError, ninja's own request validation, authentication, or a bug."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

from careaccess.core.errors import CareAccessError
from careaccess.core.context import current_request_id

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "urn:careaccess:problem:"

# status -> (type slug, title) for problems that do not come from a CareAccessError.
DEFAULTS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    422: ("invalid-input", "Invalid input"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal error"),
}


class Problem(Schema):
    """An RFC 9457 problem."""

    type: str
    title: str
    status: int
    detail: str
    request_id: str | None = None


class ValidationProblem(Problem):
    """A problem with the request's fields: `errors` maps each field to what is wrong and how to fix it."""

    errors: dict[str, str] = {}


def problem(status: int, detail: str, *, title: str | None = None, slug: str | None = None,
            errors: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> HttpResponse:
    default_slug, default_title = DEFAULTS.get(status, ("error", "Error"))
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or default_slug),
        "title": title or default_title,
        "status": status,
        "detail": detail,
        "request_id": current_request_id(),
    }
    if errors is not None:
        body["errors"] = errors
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _slug(title: str) -> str:
    return "-".join(title.lower().split())


def careaccess_error(request: HttpRequest, exc: CareAccessError) -> HttpResponse:
    errors = getattr(exc, "errors", None)
    headers = {"WWW-Authenticate": 'Bearer realm="careaccess"'} if exc.status == 401 else None
    return problem(exc.status, exc.message, title=exc.title, slug=_slug(exc.title), errors=errors, headers=headers)


# --- ninja's own request validation: name the field and the fix ---

_FIXES = {
    "missing": "this field is required; give a value",
    "extra_forbidden": "is not a field that can be set here; remove it",
    "int_parsing": "enter a whole number",
    "int_type": "enter a whole number",
    "bool_parsing": "enter true or false",
    "bool_type": "enter true or false",
    "string_type": "enter text",
    "list_type": "give a list",
    "dict_type": "give an object",
    "date_from_datetime_parsing": "enter a date as YYYY-MM-DD",
    "date_parsing": "enter a date as YYYY-MM-DD",
    "date_type": "enter a date as YYYY-MM-DD",
    "datetime_parsing": "enter a date and time in ISO 8601, like 2026-06-01T09:00:00Z",
    "datetime_from_date_parsing": "enter a date and time in ISO 8601, like 2026-06-01T09:00:00Z",
    "datetime_type": "enter a date and time in ISO 8601, like 2026-06-01T09:00:00Z",
    "model_attributes_type": "send a JSON object",
    "model_type": "send a JSON object",
}


def field_name(loc) -> str:
    """('body', 'payload', 'roles', 0, 'code') -> 'roles[0].code'; ('query', 'page') -> 'page'."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie", "form"):
        source = parts.pop(0)
        if source == "body" and len(parts) > 1 and parts[0] == "payload":
            parts.pop(0)
    name = ""
    for part in parts:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)
    return name or "__all__"


def _message(error: dict) -> str:
    kind = error.get("type", "")
    if kind in _FIXES:
        return _FIXES[kind]
    message = str(error.get("msg", "is not valid"))
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    elif kind in ("enum", "literal_error"):
        message = message.replace("Input should be", "choose")
    elif kind.startswith(("less_than", "greater_than", "string_too", "too_")):
        message = message.replace("Input should", "should").replace("String should", "should")
    return message[:1].lower() + message[1:]


def validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, str] = {}
    for error in exc.errors:
        errors.setdefault(field_name(error.get("loc", ())), _message(error))
    detail = "; ".join(f"{k}: {v}" if k != "__all__" else v for k, v in errors.items())
    return problem(422, detail, errors=errors)


def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        header = request.headers.get("Authorization")
        detail = (
            "send an API token as `Authorization: Bearer <token>`; `careaccess token create` makes one"
            if not header else "the Authorization header is not `Bearer <token>`; send the token that way"
        )
        return problem(401, detail, headers={"WWW-Authenticate": 'Bearer realm="careaccess"'})
    if exc.status_code == 400:
        return problem(400, f"{exc}: send a JSON object in the body", errors={"__all__": str(exc)})
    return problem(exc.status_code, str(exc))


def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return problem(404, "nothing is at this address; check the id in the path")


def unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("API error at %s %s", request.method, request.path, exc_info=exc)
    return problem(500, "something went wrong on our side; nothing was changed. Quote the request id when you report it")


def install(api) -> None:
    api.add_exception_handler(CareAccessError, careaccess_error)
    api.add_exception_handler(ValidationError, validation_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(Exception, unexpected)


# Error responses to declare on operations, for the OpenAPI document.
def errors_for(*statuses: int) -> dict[int, type[Problem]]:
    return {status: ValidationProblem if status == 422 else Problem for status in statuses}

"""SCIM error bodies (RFC 7644 §3.12): `urn:ietf:params:scim:api:messages:2.0:Error`."""

from __future__ import annotations

import json

from django.http import HttpResponse

from careaccess.core.errors import CareAccessError, Conflict, Forbidden, InvalidInput, NotFound

from .schema import ERROR

CONTENT_TYPE = "application/scim+json"


class ScimError(Exception):
    def __init__(self, status: int, scim_type: str | None, detail: str):
        super().__init__(detail)
        self.status = status
        self.scim_type = scim_type
        self.detail = detail


def response(status: int, detail: str, scim_type: str | None = None, headers: dict | None = None) -> HttpResponse:
    body = {"schemas": [ERROR], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    out = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    for name, value in (headers or {}).items():
        out[name] = value
    return out


def from_exception(exc: Exception) -> ScimError:
    """A service function's refusal as the SCIM error a client understands."""
    if isinstance(exc, ScimError):
        return exc
    if isinstance(exc, InvalidInput):
        return ScimError(400, "invalidValue", exc.message)
    if isinstance(exc, Conflict):
        return ScimError(409, "uniqueness", exc.message)
    if isinstance(exc, NotFound):
        return ScimError(404, None, exc.message)
    if isinstance(exc, Forbidden):
        return ScimError(403, None, exc.message)
    if isinstance(exc, CareAccessError):
        return ScimError(exc.status, None, exc.message)
    raise exc

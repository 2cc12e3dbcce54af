"""Bearer-token authentication for the API: `Authorization: Bearer ca_<prefix>_<secret>`."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from careaccess.core import tokens
from careaccess.core.context import Actor


class BearerToken(HttpBearer):
    """A careaccess API token (`careaccess token create`). A person's token acts as that person,
    with the rights of their live positions; a relying service's token acts as the service."""

    openapi_bearerFormat = "ca_<prefix>_<secret>"  # noqa: N815 - the OpenAPI field name
    openapi_description = "A careaccess API token from `careaccess token create`."

    def __call__(self, request: HttpRequest) -> Actor | None:
        # ninja's HttpBearer reads request.headers, which builds a dict of every header of the
        # request; the one header, read from META, is all this needs (None: ninja answers 401).
        scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != self.openapi_scheme:
            return None
        return self.authenticate(request, token)

    def authenticate(self, request: HttpRequest, token: str) -> Actor:
        # Raises tokens.Unauthenticated (401, saying why) for unknown, revoked or unusable tokens.
        return tokens.authenticate(token)


def actor_of(request: HttpRequest) -> Actor:
    return request.auth

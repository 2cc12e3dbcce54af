"""The JSON API at /api/v1/: one NinjaAPI that mounts each app's router.

Every operation needs a bearer token (auth.BearerToken) and every error is an RFC 9457 problem
(problems.py). The OpenAPI document is at /api/v1/openapi.json, the browsable docs at /api/v1/docs.
"""

from __future__ import annotations

from ninja import NinjaAPI, Router

from . import problems
from .auth import BearerToken

DESCRIPTION = """\
Identity and access governance for health and social care.

**Authentication.** Send `Authorization: Bearer <token>` on every call. Tokens are made by the
registration authority (`careaccess token create --person UID` or `--service CODE`). A person's
token acts as the person, with the rights of their live positions; a relying service's token may
read people and ask about access and decisions only.

**Errors.** Every error is an RFC 9457 problem (`application/problem+json`) with `type`, `title`,
`status` and `detail`; invalid input also carries `errors`, mapping each field to what is wrong
and how to fix it. A refused request changes nothing and writes no audit entry. Types:
`urn:careaccess:problem:` followed by `bad-request` (400), `unauthorized` (401), `forbidden` (403),
`not-found` (404), `conflict` (409), `invalid-input` (422) or `internal-error` (500).

**Lists.** `?page=` (from 1) and `?page_size=` (default 50, at most 500) give
`{items, count, page, page_size}`.
"""


class CareAccessAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        # Error responses are problem documents, not plain JSON.
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if str(status)[0] in "45" and "application/json" in content:
                        content[problems.CONTENT_TYPE] = content.pop("application/json")
        return schema


api = CareAccessAPI(
    title="careaccess API",
    version="1",
    description=DESCRIPTION,
    urls_namespace="api",
    auth=BearerToken(),
)
problems.install(api)

from careaccess.directory.api import router as directory_router  # noqa: E402  (routers use the helpers above)

api.add_router("", directory_router)
api.add_router("", "careaccess.core.audit.api.router")  # /audit/entries: reading the ledger (PP15)
api.add_router("/requests", "careaccess.access_requests.api.router")
api.add_router("/identity", "careaccess.identity.api.router")
api.add_router("/cards", "careaccess.credentials.api.router")
api.add_router("/mailboxes", "careaccess.mailboxes.api.router")


# Keep this router last: any other address under /api/v1/ answers a 404 problem, not Django's HTML page.
unknown = Router()


@unknown.api_operation(["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:rest}", auth=None, include_in_schema=False)
def unknown_address(request, rest: str):
    return problems.problem(404, f"there is no API operation at {request.path}; see /api/v1/openapi.json")


api.add_router("", unknown)

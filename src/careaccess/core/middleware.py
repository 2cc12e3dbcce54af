import re

from careaccess.core.context import new_request_id, request_scope

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every HTTP request an id (or keeps a sane incoming X-Request-ID) for the audit trail."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else new_request_id()
        request.request_id = request_id
        with request_scope(request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

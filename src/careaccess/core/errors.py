"""The errors service functions raise. Views, the API and the CLI each turn them into their own
answer (an error summary, a JSON problem body, an exit code) — the message is written once, here
or where raised, and always says what was wrong and how to fix it."""

from __future__ import annotations


class CareAccessError(Exception):
    """Base of every refusal a service function makes. Nothing has been changed when it is raised."""

    status = 400
    title = "Bad request"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(CareAccessError):
    """Input that fails validation. `errors` maps a field name to what is wrong and how to fix it."""

    status = 422
    title = "Invalid input"

    def __init__(self, errors: dict[str, str] | str, field: str | None = None):
        if isinstance(errors, str):
            errors = {field or "__all__": errors}
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" if k != "__all__" else v for k, v in errors.items()))


class NotFound(CareAccessError):
    status = 404
    title = "Not found"


class Forbidden(CareAccessError):
    status = 403
    title = "Forbidden"


class Conflict(CareAccessError):
    """Someone else changed the thing first (a concurrent action), or it already exists."""

    status = 409
    title = "Conflict"

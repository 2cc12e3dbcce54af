"""Who is acting, and for which web/API request, during one unit of work.

The actor is set by the web/API/CLI entry point and read by the audit ledger, so service
functions record "who, acting in which position" without every caller threading it through.
"""

from __future__ import annotations

import contextvars
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


@dataclass(frozen=True)
class Actor:
    """Someone or something changing data.

    kind: "person" (staff, by session or token), "service" (a relying service's token) or
    "system" (the CLI, the worker, a sweep). `assignment_id` is the acting position's assignment,
    when a person acts in one.
    """

    kind: str
    label: str
    person_id: int | None = None
    person_uid: str | None = None
    service_id: int | None = None
    assignment_id: int | None = None
    position_label: str | None = None
    token_id: int | None = field(default=None, compare=False)

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(kind="system", label=label)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


@contextmanager
def request_scope(request_id: str | None = None):
    token = _request_id.set(request_id or new_request_id())
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)

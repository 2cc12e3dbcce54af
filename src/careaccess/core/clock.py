"""The project's one clock. Every "now" and "today" comes from here so tests can move time.

Tests call `clock.set(...)` / `clock.advance(...)` (or use the `clock` pytest fixture) instead of
sleeping; production never touches them.
"""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager

from django.utils import timezone

_lock = threading.Lock()
_offset = dt.timedelta(0)
_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """The current instant, timezone-aware (UTC)."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(dt.timezone.utc) + _offset


def today() -> dt.date:
    """Today's date in the deployment's time zone (dates of assignments, closures, SLAs)."""
    return timezone.localtime(now()).date()


def set(instant: dt.datetime | None) -> None:  # noqa: A001 - reads well as clock.set()
    """Freeze the clock at `instant` (aware), or unfreeze with None."""
    global _frozen
    if instant is not None and instant.tzinfo is None:
        raise ValueError("clock.set needs an aware datetime")
    with _lock:
        _frozen = instant


def advance(delta: dt.timedelta) -> None:
    """Move the clock forward (frozen or not) by `delta`."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
        else:
            _offset = _offset + delta


def reset() -> None:
    global _frozen, _offset
    with _lock:
        _frozen = None
        _offset = dt.timedelta(0)


@contextmanager
def frozen(instant: dt.datetime):
    previous = (_frozen, _offset)
    set(instant)
    try:
        yield
    finally:
        with _lock:
            globals()["_frozen"], globals()["_offset"] = previous


def local_zone():
    """The deployment's time zone, in which assignment and closure dates are read."""
    return timezone.get_current_timezone()

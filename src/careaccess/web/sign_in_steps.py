"""Steps a person must take straight after signing in, before any other page (a mailbox user's
first sign-in, NM8). Capability apps register theirs in their AppConfig.ready(), so the shell
imports none of them; the first step that applies wins."""

from __future__ import annotations

from typing import Callable

from careaccess.directory.models import Person

# A step gives the URL of the page the person must go to now, or None when it does not apply.
Step = Callable[[Person], "str | None"]
_steps: list[Step] = []


def register(step: Step) -> None:
    if step not in _steps:
        _steps.append(step)


def pending(person: Person) -> str | None:
    """The page of the first step the person still has to take, if any."""
    for step in _steps:
        url = step(person)
        if url:
            return url
    return None

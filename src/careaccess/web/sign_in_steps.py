"""Steps a person must take straight after signing in, before any other page (a mailbox user's
first sign-in, NM8), and the second factor a password sign-in may need. Capability apps register
theirs in their AppConfig.ready(), so the shell imports none of them; the first step that applies
wins."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class SecondFactor:
    """`held(person)`: the password alone does not sign the person in, a second factor follows.
    `must_enrol(person)`: without one, the person sets one up before any other page."""

    held: Callable[[Person], bool]
    must_enrol: Callable[[Person], bool]


_second_factor = SecondFactor(held=lambda person: False, must_enrol=lambda person: False)


def register_second_factor(second_factor: SecondFactor) -> None:
    global _second_factor
    _second_factor = second_factor


def second_factor() -> SecondFactor:
    return _second_factor

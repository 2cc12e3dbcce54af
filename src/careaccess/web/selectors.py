"""Reads the web shell needs: who a typed username is, whether its sign-in is locked, and which
staff positions a person may act in."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re

from django.conf import settings

from careaccess.core import clock, permissions
from careaccess.directory.models import Person

from .models import SigninThrottle

USER_ID = re.compile(r"^\d{12}$")


def normalise_username(username: str) -> str:
    return " ".join(str(username or "").split()).lower()


def person_for_username(username: str) -> Person | None:
    """The person a sign-in username names: their 12-digit user id, or their email address when
    exactly one person with a staff sign-in has it. None when it names nobody (or is ambiguous)."""
    text = normalise_username(username)
    if not text:
        return None
    people = Person.objects.filter(user__isnull=False).select_related("user")
    if USER_ID.match(text):
        return people.filter(uid=text).first()
    if "@" in text:
        matches = list(people.filter(email__iexact=text)[:2])
        return matches[0] if len(matches) == 1 else None
    return None


def throttle_key(username: str, person: Person | None) -> str:
    """One counter per person however they typed their username; per typed text otherwise."""
    subject = f"person:{person.pk}" if person is not None else f"name:{normalise_username(username)}"
    return hmac.new(settings.SECRET_KEY.encode(), subject.encode(), hashlib.sha256).hexdigest()


def locked_until(key: str, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the sign-in for this key unlocks, or None when it is not locked."""
    now = now or clock.now()
    row = SigninThrottle.objects.filter(key=key, locked_until__gt=now).only("locked_until").first()
    return row.locked_until if row else None


def staff_grants(person: Person) -> list[permissions.Grant]:
    """The live assignments through which the person holds staff capabilities: the positions
    they may act in."""
    return permissions.grants(person.pk)

"""Field cleaners for what callers send the directory, and for anything that takes the same fields
(access requests, self-service): each cleaner returns the clean value or raises ValueError saying
how to fix it; clean() runs a table of them and reports every problem at once."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from careaccess.core import clock
from careaccess.core.errors import InvalidInput

Cleaner = Callable[[Any], Any]


def text(max_length: int, required: bool = True) -> Cleaner:
    def cleaner(value):
        value = "" if value is None else str(value).strip()
        if required and not value:
            raise ValueError("enter a value")
        if len(value) > max_length:
            raise ValueError(f"use {max_length} characters or fewer")
        return value
    return cleaner


def choice(choices) -> Cleaner:
    def cleaner(value):
        if value not in choices.values:
            raise ValueError(f"choose one of: {', '.join(choices.values)}")
        return value
    return cleaner


def optional(cleaner: Cleaner, empty: Any = "") -> Cleaner:
    def if_given(value):
        return empty if value in (None, "") else cleaner(value)
    return if_given


def email(value):
    value = (value or "").strip()
    try:
        validate_email(value)
    except ValidationError:
        raise ValueError("enter an email address in the right format, like name@example.nhs.uk") from None
    return value.lower()


GENERIC_LOCAL_PARTS = frozenset({
    "info", "admin", "administrator", "office", "enquiries", "enquiry", "reception", "contact", "contactus",
    "hello", "team", "general", "mail", "post", "accounts", "finance", "hr", "manager", "management",
    "support", "help", "helpdesk", "it", "sales", "noreply", "no-reply", "donotreply", "webmaster",
    "postmaster", "secretary", "bookings", "referrals", "nurses", "doctors", "care", "carehome", "home",
    "shared", "all", "staff", "practice", "pharmacy", "surgery",
})


def generic_email_problem(email: str) -> str | None:
    """Why an address is not a named individual's (rule PP2), or None when it may be one."""
    local = (email or "").split("@", 1)[0].lower()
    bare = re.sub(r"[\d._+-]+$", "", local)
    if local in GENERIC_LOCAL_PARTS or bare in GENERIC_LOCAL_PARTS:
        return (f"the address {email} looks like a generic or shared address; give the email address of the "
                f"named person, used by them alone")
    return None


def named_email(value):
    """An email address of a named individual: the format, and no generic or shared mailbox (PP2)."""
    value = email(value)
    problem = generic_email_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def date(value):
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError("enter a date as YYYY-MM-DD") from None


def past_date(value):
    value = date(value)
    if value >= clock.today():
        raise ValueError("enter a date in the past")
    return value


def boolean(value):
    if isinstance(value, bool):
        return value
    raise ValueError("enter true or false")


def positive_int(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("enter a whole number of 1 or more")
    return value


def string_list(value):
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("enter a list of names")
    return [v.strip() for v in value]


def wrap(rule: Callable[[str], str]) -> Cleaner:
    return lambda value: rule(value)


def clean(cleaners: dict[str, Cleaner], data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Clean every field, collecting every error, so the caller sees all problems at once."""
    unknown = set(data) - set(cleaners)
    errors = {name: f"is not a field that can be set here (allowed: {', '.join(sorted(cleaners))})" for name in sorted(unknown)}
    cleaned = {}
    for name, cleaner in cleaners.items():
        if name not in data and partial:
            continue
        try:
            cleaned[name] = cleaner(data.get(name))
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise InvalidInput(errors)
    return cleaned

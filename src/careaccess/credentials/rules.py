"""Pure rules of smartcards: PINs, series, renewal windows. No database, tested exhaustively.

Each check returns None when allowed, or the reason it is refused (with the way forward)."""

from __future__ import annotations

import datetime as dt
import re

_SERIAL = re.compile(r"^\d{2}\d{6,18}$")

CANCEL_REASONS = ("lost", "stolen", "damaged")
REPLACEMENT_REASONS = ("lost", "stolen", "damaged", "faulty", "series_not_renewable", "renewals_used", "name_change",
                       "other")


def check_pin(pin, min_length: int, max_length: int) -> None:
    """A PIN is 6 to 8 digits (settings)."""
    if not isinstance(pin, str) or not pin.isdigit() or not pin.isascii():
        raise ValueError(f"the PIN must be {min_length} to {max_length} digits, nothing else")
    if not min_length <= len(pin) <= max_length:
        raise ValueError(f"the PIN must be {min_length} to {max_length} digits long; this one has {len(pin)}")


def check_serial(serial: str) -> str:
    cleaned = str(serial or "").replace(" ", "")
    if not _SERIAL.match(cleaned):
        raise ValueError("a card serial is 8 to 20 digits, its first two the card's series, like 0612345678")
    return cleaned


def series_of(serial: str) -> str:
    return serial[:2]


def renewal_refusal(*, series: str, renewals: int, not_after: dt.datetime, now: dt.datetime, non_renewable: tuple,
                    max_renewals: int) -> str | None:
    """What blocks any renewal of the card's certificate (rules DS11, DS13)."""
    if series in non_renewable:
        return (f"cards of series {', '.join(non_renewable)} cannot renew certificates (rule DS11); "
                f"replace the card")
    if renewals >= max_renewals:
        return (f"this card has been renewed {renewals} times, the most allowed (rule DS13); replace the card")
    return None


def assisted_renewal_refusal(*, not_after: dt.datetime, now: dt.datetime, **common) -> str | None:
    """Assisted renewal (SC9): of an unexpired certificate only; an expired one is repaired."""
    refusal = renewal_refusal(not_after=not_after, now=now, **common)
    if refusal:
        return refusal
    if now >= not_after:
        return (f"the certificate expired on {not_after:%Y-%m-%d}; an RA agent repairs the card in person "
                f"instead of renewing it")
    return None


def self_renewal_refusal(*, not_after: dt.datetime, now: dt.datetime, window_days: int, **common) -> str | None:
    """Self-renewal: only in the `window_days` before expiry (rule DS13). Told to the holder: an
    expired certificate is theirs to take to the RA."""
    refusal = renewal_refusal(not_after=not_after, now=now, **common)
    if refusal:
        return refusal
    if now >= not_after:
        return (f"the certificate expired on {not_after:%Y-%m-%d}, so it can no longer be renewed: ask your RA to "
                f"repair it (an RA agent repairs the card in person)")
    opens = not_after - dt.timedelta(days=window_days)
    if now < opens:
        return (f"too early: self-renewal opens {window_days} days before the certificate expires, "
                f"on {opens:%Y-%m-%d}")
    return None


def repair_refusal(*, not_after: dt.datetime, now: dt.datetime, **common) -> str | None:
    """Repair: for a card whose certificate has expired (SC9); the same series and count limits."""
    refusal = renewal_refusal(not_after=not_after, now=now, **common)
    if refusal:
        return refusal
    if now < not_after:
        return (f"the certificate is valid until {not_after:%Y-%m-%d}; renew it instead of repairing the card")
    return None


def is_locum(assignment_ends_on, position_name: str) -> bool:
    """A locum's assignment at a site is temporary: it has an end date, or its position says locum
    (DESIGN.md: assignments with end dates are temporary staff and locums; rule DS15)."""
    return assignment_ends_on is not None or "locum" in (position_name or "").lower()


SIGN_IN_METHODS = ("card", "password", "totp", "security_key")


def sign_in_methods(card_only: bool) -> tuple[str, ...]:
    """How a user may sign in to a service: a card-only service has no fall-back (rule DS18)."""
    return ("card",) if card_only else SIGN_IN_METHODS


def sign_in_refusal(method: str, *, card_only: bool, service_name: str = "this service") -> str | None:
    if method not in SIGN_IN_METHODS:
        return f"unknown sign-in method {method}; use one of: {', '.join(SIGN_IN_METHODS)}"
    if method not in sign_in_methods(card_only):
        return f"{service_name} is card-only: no card, no access; there is no fall-back sign-in (rule DS18)"
    return None


REMOVAL_REASON_MAX = 300


def removal_errors(*, reason, in_person, id_document, photo_documents) -> dict[str, str]:
    """What is wrong with an RA's removal of a person's lost authenticator, by field. The person is
    there (never remote, as for a card unlock: DS3) and the RA agent has seen a photo ID now (only
    RA agents check identity: DS5); the reason is kept in the audit entry."""
    errors = {}
    text = " ".join(str(reason or "").split())
    if not text:
        errors["reason"] = "enter why the authenticator is removed, like 'phone lost on 3 June'"
    elif len(text) > REMOVAL_REASON_MAX:
        errors["reason"] = f"keep the reason to {REMOVAL_REASON_MAX} characters; this one has {len(text)}"
    if in_person is not True:
        errors["in_person"] = ("an authenticator is removed only with the person present (rule DS3); "
                               "it is never removed remotely: ask them to come to the RA")
    if id_document not in photo_documents:
        errors["id_document"] = "choose the photo ID you checked now: " + ", ".join(sorted(photo_documents))
    return errors

"""Pure naming and limit rules for care-home mailboxes (NM4, NM8, NM9): no database, no settings.

Addresses are ASCII: accents are folded (é -> e, ß -> ss), apostrophes dropped (O'Brien ->
obrien), spaces and hyphens inside a name become one hyphen (Smith-Jones, Mary Ann ->
smith-jones, mary-ann), anything else is dropped.
"""

from __future__ import annotations

import re
import secrets
import string
import unicodedata

from careaccess.directory.validation import generic_email_problem

MAX_LOCAL_PART = 64
_FOLD = {"ß": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o", "ł": "l", "Ł": "l",
         "đ": "d", "Đ": "d", "ð": "d", "þ": "th", "ı": "i"}
_APOSTROPHES = "'’‘`´ʼ"
_PART = r"[a-z0-9]+(?:-[a-z0-9]+)*"
USER_ADDRESS = re.compile(rf"^(?P<first>{_PART})\.(?P<last>{_PART})(?P<n>[1-9]\d*)?@(?P<domain>[a-z0-9.-]+)$")
SHARED_ADDRESS = re.compile(r"^(?P<prefix>[a-z0-9]+)\.(?P<name>[a-z]+)@(?P<domain>[a-z0-9.-]+)$")
SHARED_NAME_MAX = 29  # rule NM9: under 30 characters
_TITLE = re.compile(r"^[A-Za-z][A-Za-z .]{0,19}$")
_NAME_CHARS = re.compile(r"^[^\W\d_]+(?:[ '’\-.][^\W\d_]+)*\.?$")
_MOBILE = re.compile(r"^(?:07\d{9}|\+447\d{9})$")
_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$")


def fold(value: str) -> str:
    """ASCII letters, digits, spaces and hyphens of `value`, lower-cased, accents folded."""
    text = "".join(_FOLD.get(ch, ch) for ch in (value or ""))
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = "".join(ch for ch in text if ch not in _APOSTROPHES)
    return "".join(ch for ch in text.lower() if ch in string.ascii_lowercase + string.digits + " -")


def address_part(name: str, max_length: int = 30) -> str:
    """One name as it appears in an address (rule NM8); ValueError when nothing usable is left."""
    part = re.sub(r"[\s-]+", "-", fold(name)).strip("-")
    part = part[:max_length].strip("-")
    if not part or not re.fullmatch(_PART, part):
        raise ValueError("enter a name with at least one letter from A to Z (accents are fine)")
    return part


def clean_person_name(value: str, field: str = "name") -> str:
    """A first or last name as typed: letters, spaces, hyphens and apostrophes (rule NM8)."""
    value = " ".join((value or "").split())
    if not value:
        raise ValueError(f"enter the {field}")
    if len(value) > 100:
        raise ValueError(f"the {field} must be 100 characters or fewer")
    if not _NAME_CHARS.match(value):
        raise ValueError(f"the {field} can only contain letters, spaces, hyphens and apostrophes")
    address_part(value)
    return value


def clean_title(value: str) -> str:
    value = " ".join((value or "").split())
    if not value:
        raise ValueError("enter the title, like Mr, Mrs, Ms, Miss, Mx or Dr")
    if not _TITLE.match(value):
        raise ValueError("enter a title of up to 20 letters, like Mr, Mrs, Ms, Miss, Mx or Dr")
    return value


def display_name(first: str, last: str) -> str:
    """The display name derived from first and last name (rule NM8)."""
    return f"{' '.join(first.split())} {' '.join(last.split())}"


def user_local_part(first: str, last: str) -> str:
    return f"{address_part(first)}.{address_part(last)}"


def user_address(first: str, last: str, domain: str, taken) -> str:
    """`firstname.lastname@domain`, made unique against `taken` by a number after the last name
    (jo.bloggs, jo.bloggs1, jo.bloggs2, ...) (rule NM8)."""
    base = user_local_part(first, last)
    candidate = f"{base}@{domain}"
    n = 0
    while candidate in taken:
        n += 1
        candidate = f"{base}{n}@{domain}"
    return candidate


def is_valid_user_address(address: str, domain: str) -> bool:
    match = USER_ADDRESS.match(address or "")
    return bool(match) and match["domain"] == domain and len(address.split("@")[0]) <= MAX_LOCAL_PART


def clean_mobile(value: str) -> str:
    cleaned = re.sub(r"[\s()-]", "", value or "")
    if not _MOBILE.match(cleaned):
        raise ValueError("enter a UK mobile number, like 07700 900123 or +44 7700 900123")
    return cleaned


def clean_postcode(value: str) -> str:
    cleaned = " ".join((value or "").upper().split())
    if not _POSTCODE.match(cleaned):
        raise ValueError("enter a full UK postcode, like LS1 4AP")
    if " " not in cleaned:
        cleaned = f"{cleaned[:-3]} {cleaned[-3:]}"
    return cleaned


def is_generic_email(address: str) -> bool:
    """Rule PP2: a generic or shared address (info@, reception@, ...) is not a named individual's."""
    return generic_email_problem(address) is not None


# --- shared mailboxes (rule NM9) ---

def check_shared_display_name(value: str) -> str:
    """A shared mailbox display name: under 30 characters, letters only (no special characters,
    digits or spaces) (rule NM9). Returns it unchanged or raises ValueError saying how to fix it."""
    value = value or ""
    if not value:
        raise ValueError("enter the shared mailbox display name")
    if len(value) > SHARED_NAME_MAX:
        raise ValueError(f"the shared mailbox display name must be under 30 characters (it has {len(value)})")
    if not all(ch in string.ascii_letters for ch in value):
        raise ValueError("the shared mailbox display name can only contain letters A to Z: "
                         "no spaces, digits or special characters")
    return value


def suggest_shared_display_name(preferred: str) -> str:
    """The applicant's preferred name made to satisfy NM9 (letters kept, first letters capitalised)."""
    words = fold(preferred).replace("-", " ").split()
    name = "".join(word.capitalize() for word in words if word.isalpha())
    return name[:SHARED_NAME_MAX] or "SharedMailbox"


def shared_word(value: str) -> str:
    return "".join(ch for ch in fold(value) if ch in string.ascii_lowercase)


def shared_address(sponsor_short_name: str, home_name: str, location: str, domain: str) -> str:
    """`<sponsor short name>.<home name><location>@domain` (rule NM9): the prefix is fixed, the
    location tells apart homes of the same name."""
    prefix = "".join(ch for ch in fold(sponsor_short_name) if ch.isalnum())
    if not prefix:
        raise ValueError("the sponsoring organisation needs a short name to prefix shared mailbox addresses")
    home, place = shared_word(home_name), shared_word(location)
    if not home:
        raise ValueError("enter the home's name with at least one letter")
    if not place:
        raise ValueError("enter the location (town or area) with at least one letter, like leeds or londoneast")
    room = MAX_LOCAL_PART - len(prefix) - 1 - len(place)
    if room < 1:
        raise ValueError("the location is too long for an address; use a shorter one")
    return f"{prefix}.{home[:room]}{place}@{domain}"


def is_valid_shared_address(address: str, domain: str) -> bool:
    match = SHARED_ADDRESS.match(address or "")
    return bool(match) and match["domain"] == domain and len(address.split("@")[0]) <= MAX_LOCAL_PART


# --- limits (rule NM4) ---

def allowed_counts(individual: int, shared: int, *, justification_accepted: bool,
                   limits: tuple[int, int] = (3, 1)) -> tuple[int, int]:
    """How many individual accounts and shared mailboxes an approved home gets (rule NM4).

    Up to 3 individual accounts plus 1 shared mailbox; a home asking for more gets 4 in all (the
    two limits' sum; the shared mailbox first, as asked) unless a business justification is accepted."""
    if justification_accepted or not needs_justification(individual, shared, limits):
        return individual, shared
    max_individual, max_shared = limits
    shared_given = min(shared, max_shared)
    return min(individual, max_individual + max_shared - shared_given), shared_given


def needs_justification(individual: int, shared: int, limits: tuple[int, int] = (3, 1)) -> bool:
    max_individual, max_shared = limits
    return individual > max_individual or shared > max_shared


# --- passwords (rule NM8, CC8) ---

def temporary_password(length: int = 16) -> str:
    """A random temporary password with upper, lower and digits (changed at first sign-in)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(length))
        if any(c.islower() for c in value) and any(c.isupper() for c in value) and any(c.isdigit() for c in value):
            return value


def unit_code(cqc_number: str) -> str:
    return f"CH{cqc_number.replace('1-', '', 1)}"[:30]

"""Pure rules of identity checks (DS5, DS7): no database, tested exhaustively."""

from __future__ import annotations

import calendar
import datetime as dt
import re

PHOTO_DOCUMENTS = frozenset({"passport", "photocard_driving_licence", "national_id_card", "residence_permit"})
DRIVING_LICENCE = "photocard_driving_licence"
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9 \-/]{2,39}$", re.IGNORECASE)
# Vague proofs of address are refused: the source asks for the company's name, not "utility bill".
_VAGUE_ISSUERS = frozenset({"utility bill", "bank statement", "bill", "statement", "council tax", "letter", "n/a", "-"})

LEVEL_LOW, LEVEL_SUBSTANTIAL, LEVEL_HIGH = 1, 2, 3
LEVEL_NAMES = {LEVEL_LOW: "low", LEVEL_SUBSTANTIAL: "substantial", LEVEL_HIGH: "high"}


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (clamped to the month's last day)."""
    month_index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(month_index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def normalise_document_number(document_type: str, number: str) -> str:
    """Spaces trimmed; driving licence numbers in capitals (rule DS7)."""
    cleaned = " ".join(str(number or "").split())
    if not _NUMBER.match(cleaned):
        raise ValueError("enter the document number as printed: 3 to 40 letters and digits")
    if document_type == DRIVING_LICENCE:
        cleaned = cleaned.upper().replace(" ", "")
    return cleaned


def normalise_country(value: str) -> str:
    cleaned = str(value or "").strip().upper()
    if not _COUNTRY.match(cleaned):
        raise ValueError("enter the issuing country as a two-letter ISO 3166 code, like GB")
    return cleaned


def check_document_expiry(document_type: str, expires_on: dt.date | None, today: dt.date) -> None:
    """Photo documents carry an expiry; an expired document is refused (rule DS7)."""
    if document_type in PHOTO_DOCUMENTS and expires_on is None:
        raise ValueError("enter the document's expiry date as printed on it")
    if expires_on is not None and expires_on < today:
        raise ValueError(f"the document expired on {expires_on.isoformat()}; ask for a document that is in date")


def check_address_issuer(issuer: str) -> str:
    cleaned = " ".join(str(issuer or "").split())
    if not cleaned:
        raise ValueError("name the company or organisation that issued the proof of address")
    if cleaned.lower() in _VAGUE_ISSUERS:
        raise ValueError(f"'{cleaned}' is not an issuer: name the company or organisation, like 'Wessex Water'")
    return cleaned


def check_address_proof_date(issued_on: dt.date, today: dt.date, max_age_months: int) -> None:
    """A proof of address is dated within the last `max_age_months` months (rule DS7)."""
    if issued_on > today:
        raise ValueError("the proof of address cannot be dated in the future")
    oldest = months_before(today, max_age_months)
    if issued_on < oldest:
        raise ValueError(
            f"the proof of address is dated {issued_on.isoformat()}, more than {max_age_months} months ago "
            f"(it must be dated on or after {oldest.isoformat()}); ask for a recent one"
        )


def assurance_level(document_type: str, has_photo: bool) -> int:
    """Photo document + recent proof of address + photo: high; without the photo: substantial;
    a document without a photograph: low."""
    if document_type not in PHOTO_DOCUMENTS:
        return LEVEL_LOW
    return LEVEL_HIGH if has_photo else LEVEL_SUBSTANTIAL

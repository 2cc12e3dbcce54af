"""Pure validation rules for directory data: no database, tested exhaustively."""

from __future__ import annotations

import re
import secrets

_NI_NUMBER = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\d{6}[A-D]$")
_ORG_CODE = re.compile(r"^[A-Z0-9]{3,10}$")
_JOB_ROLE_CODE = re.compile(r"^(S\d{4,5}:G\d{4,5}:)?R\d{4,5}$")
_ACTIVITY_CODE = re.compile(r"^B\d{4}$")
_CQC_NUMBER = re.compile(r"^1-\d{6,11}$")
_UK_PHONE = re.compile(r"^(\+44|0)\d{9,10}$")
_USER_ID = re.compile(r"^[1-9]\d{11}$")


def normalise_ni_number(value: str) -> str:
    """Upper-case, spaces removed; raises ValueError with the fix when it is not an NI number."""
    cleaned = re.sub(r"\s+", "", value or "").upper()
    if not _NI_NUMBER.match(cleaned):
        raise ValueError(
            "enter a National Insurance number in the right format: two letters, six digits and "
            "a letter from A to D, like AB 12 34 56 C"
        )
    return cleaned


def normalise_org_code(value: str) -> str:
    cleaned = (value or "").strip().upper()
    if not _ORG_CODE.match(cleaned):
        raise ValueError("enter an organisation code of 3 to 10 letters and digits, like Y01234 or RX1")
    return cleaned


def check_job_role_code(value: str) -> str:
    cleaned = (value or "").strip().upper()
    if not _JOB_ROLE_CODE.match(cleaned):
        raise ValueError("enter a job role code like S8000:G8000:R8000 (or a bare R code like R5080)")
    return cleaned


def check_activity_code(value: str) -> str:
    cleaned = (value or "").strip().upper()
    if not _ACTIVITY_CODE.match(cleaned):
        raise ValueError("enter an activity code: B followed by four digits, like B0820")
    return cleaned


def normalise_cqc_number(value: str) -> str:
    cleaned = (value or "").strip()
    if not _CQC_NUMBER.match(cleaned):
        raise ValueError("enter a CQC registration number: 1- followed by 6 to 11 digits, like 1-123456789")
    return cleaned


def normalise_phone(value: str) -> str:
    cleaned = re.sub(r"[\s()-]", "", value or "")
    if not _UK_PHONE.match(cleaned):
        raise ValueError("enter a UK telephone number, like 0113 496 0000 or +44 113 496 0000")
    return cleaned


def is_user_id(value: str) -> bool:
    return bool(_USER_ID.match(value or ""))


def new_user_id() -> str:
    """A random 12-digit user id that never starts with 0 (uniqueness is the caller's check)."""
    return str(10**11 + secrets.randbelow(9 * 10**11))


def includes_closure(direct: set[str], edges: dict[str, set[str]]) -> set[str]:
    """Every activity code reached from `direct` through `includes` edges (cycles are harmless)."""
    seen = set(direct)
    stack = list(direct)
    while stack:
        for included in edges.get(stack.pop(), ()):
            if included not in seen:
                seen.add(included)
                stack.append(included)
    return seen

"""Every setting the mailboxes app reads, read here and only here (with its default).

| setting | default | rule |
| --- | --- | --- |
| CAREACCESS_MAILBOX_DOMAIN | mail.careaccess.localhost | NM8, NM9 |
| CAREACCESS_MAILBOX_SERVICE | nhsmail | the directory service mailbox accounts live on |
| CAREACCESS_MAILBOX_DECISION_DAYS | 10 | NM2 default timescale |
| CAREACCESS_MAILBOX_DECISION_TIMESCALES | {} | NM2 per sponsor code, e.g. {"QWO": "15 working days"} |
| CAREACCESS_MAILBOX_REPORT_MAX_BYTES | 5 MiB | NM1 IG toolkit report size limit |
| CAREACCESS_MAILBOX_UPLOAD_DIR | VAR_DIR / "uploads" | where reports are stored (never served) |
| CAREACCESS_MAILBOX_MAX_INDIVIDUAL / _MAX_SHARED | 3 / 1 | NM4 (the "4 in all" is their sum) |
| CAREACCESS_MAILBOX_SPONSOR_KINDS | ("icb",) | which organisations sponsor care homes |
| CAREACCESS_MAILBOX_SECURE_EMAIL_URL | https://digital.nhs.uk/services/nhsmail/sending-secure-email | NM5 |
| CAREACCESS_MAILBOX_HELPDESK_PHONE | 0333 200 1133 | NM8 welcome message |
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def domain() -> str:
    return getattr(settings, "CAREACCESS_MAILBOX_DOMAIN", "mail.careaccess.localhost").lower()


def service_code() -> str:
    return getattr(settings, "CAREACCESS_MAILBOX_SERVICE", "nhsmail")


def decision_timescale(sponsor_code: str) -> str:
    custom = getattr(settings, "CAREACCESS_MAILBOX_DECISION_TIMESCALES", {}) or {}
    if sponsor_code in custom:
        return str(custom[sponsor_code])
    return f"{int(getattr(settings, 'CAREACCESS_MAILBOX_DECISION_DAYS', 10))} working days"


def report_max_bytes() -> int:
    return int(getattr(settings, "CAREACCESS_MAILBOX_REPORT_MAX_BYTES", 5 * 1024 * 1024))


def upload_dir() -> Path:
    configured = getattr(settings, "CAREACCESS_MAILBOX_UPLOAD_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "uploads"


def limits() -> tuple[int, int]:
    """(individual accounts, shared mailboxes) a home gets without a justification (NM4)."""
    return (int(getattr(settings, "CAREACCESS_MAILBOX_MAX_INDIVIDUAL", 3)),
            int(getattr(settings, "CAREACCESS_MAILBOX_MAX_SHARED", 1)))


def sponsor_kinds() -> tuple[str, ...]:
    return tuple(getattr(settings, "CAREACCESS_MAILBOX_SPONSOR_KINDS", ("icb",)))


def secure_email_url() -> str:
    return getattr(settings, "CAREACCESS_MAILBOX_SECURE_EMAIL_URL",
                   "https://digital.nhs.uk/services/nhsmail/sending-secure-email")


def helpdesk_phone() -> str:
    return getattr(settings, "CAREACCESS_MAILBOX_HELPDESK_PHONE", "0333 200 1133")

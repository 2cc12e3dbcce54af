"""Every tunable number of the lifecycle sweeps, reinstatement and review campaigns, in one place.

Each is a `CAREACCESS_*` setting read with getattr, the default being the source's value or a
sensible one where the sources give none (RULES.md: a rule a deployment may tune is a setting).
Service-specific numbers (inactivity days PP7, review months PP6) are on the service itself.
"""

from __future__ import annotations

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def inactivity_warning_days() -> int:  # PP7: the holder is warned this many days before suspension
    return int(_get("CAREACCESS_INACTIVITY_WARNING_DAYS", 7))


def end_date_warning_days() -> int:  # CC9, DS15: temporary staff and locums warned before their end date
    return int(_get("CAREACCESS_END_DATE_WARNING_DAYS", 14))


def ra_training_warning_days() -> int:  # DS10: an RA agent is warned this many days before the training deadline
    return int(_get("CAREACCESS_RA_TRAINING_WARNING_DAYS", 14))


def certificate_notice_days() -> tuple[int, ...]:  # certificate expiry notices: 90, 30 and 7 days before
    return tuple(sorted(int(d) for d in _get("CAREACCESS_CERTIFICATE_NOTICE_DAYS", (90, 30, 7))))


def sweep_batch_size() -> int:  # rows updated per statement and transaction
    return int(_get("CAREACCESS_SWEEP_BATCH_SIZE", 1000))


def sweep_every_seconds() -> int:  # how often the worker runs each sweep
    return int(_get("CAREACCESS_SWEEP_EVERY_SECONDS", 3600))


def review_decision_days() -> int:  # PP6: days a reviewer has to decide a campaign's items
    return int(_get("CAREACCESS_REVIEW_DECISION_DAYS", 28))


def reinstatement_link_hours() -> int:  # PP13: the emailed confirmation link expires after this
    return int(_get("CAREACCESS_REINSTATEMENT_LINK_HOURS", 24))


def site_url() -> str:  # the public address written into emailed links
    return str(_get("CAREACCESS_SITE_URL", "http://localhost:8000")).rstrip("/")


def ra_email() -> str:  # where escalations go when no RA manager has an address
    return str(_get("CAREACCESS_RA_EMAIL", "ra-team@careaccess.localhost"))


def as_dict() -> dict:
    return {
        "CAREACCESS_INACTIVITY_WARNING_DAYS": inactivity_warning_days(),
        "CAREACCESS_END_DATE_WARNING_DAYS": end_date_warning_days(),
        "CAREACCESS_RA_TRAINING_WARNING_DAYS": ra_training_warning_days(),
        "CAREACCESS_CERTIFICATE_NOTICE_DAYS": certificate_notice_days(),
        "CAREACCESS_SWEEP_BATCH_SIZE": sweep_batch_size(),
        "CAREACCESS_SWEEP_EVERY_SECONDS": sweep_every_seconds(),
        "CAREACCESS_REVIEW_DECISION_DAYS": review_decision_days(),
        "CAREACCESS_REINSTATEMENT_LINK_HOURS": reinstatement_link_hours(),
        "CAREACCESS_SITE_URL": site_url(),
        "CAREACCESS_RA_EMAIL": ra_email(),
    }

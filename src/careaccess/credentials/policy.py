"""Every tunable number of identity checks, terms, training, smartcards and the CA, in one place.

Each is a `CAREACCESS_*` setting with the source's value as its default (RULES.md: a rule a
deployment may tune is a setting, never a literal buried in code). Read through these functions
so tests can override settings.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def ra_email() -> str:  # the RA team's mailbox: misuse checks, breach reports, "if this was not you"
    return str(_get("CAREACCESS_RA_EMAIL", "ra-team@careaccess.localhost"))


def pin_min_length() -> int:  # issue 5: PIN of 6-8 digits
    return int(_get("CAREACCESS_PIN_MIN_LENGTH", 6))


def pin_max_length() -> int:
    return int(_get("CAREACCESS_PIN_MAX_LENGTH", 8))


def pin_max_tries() -> int:  # locked after 3 wrong PINs
    return int(_get("CAREACCESS_PIN_MAX_TRIES", 3))


def certificate_validity_days() -> int:  # rule DS13: 2 years
    return int(_get("CAREACCESS_CERTIFICATE_VALIDITY_DAYS", 730))


def self_renewal_window_days() -> int:  # rule DS13: self-renewal in the 90 days before expiry
    return int(_get("CAREACCESS_SELF_RENEWAL_WINDOW_DAYS", 90))


def max_renewals() -> int:  # rule DS13: at most 3 renewals, then a new card
    return int(_get("CAREACCESS_MAX_RENEWALS", 3))


def non_renewable_series() -> tuple[str, ...]:  # rule DS11
    return tuple(_get("CAREACCESS_NON_RENEWABLE_SERIES", ("01", "02", "03")))


def new_card_series() -> str:
    return str(_get("CAREACCESS_NEW_CARD_SERIES", "06"))


def address_proof_max_age_months() -> int:  # rule DS7: proof of address dated within 3 months
    return int(_get("CAREACCESS_ADDRESS_PROOF_MAX_AGE_MONTHS", 3))


def min_assurance_for_card() -> int:  # rule DS1: a card needs a passed identity check
    return int(_get("CAREACCESS_CARD_MIN_ASSURANCE_LEVEL", 2))


def unlock_code_minutes() -> int:  # rule DS9: one-time code valid 15 minutes
    return int(_get("CAREACCESS_UNLOCK_CODE_MINUTES", 15))


def unlock_code_max_attempts() -> int:  # wrong codes before a code is spent
    return int(_get("CAREACCESS_UNLOCK_CODE_MAX_ATTEMPTS", 5))


def unlock_codes_per_day() -> int:
    """Codes a card may have emailed in 24 hours: anyone who reads a serial may ask for one, and
    each request mails the holder and spends their last code."""
    return int(_get("CAREACCESS_UNLOCK_CODES_PER_DAY", 5))


def mailbox_service_code() -> str:  # rule DS9: self-service unlock needs a mailbox account
    return str(_get("CAREACCESS_MAILBOX_SERVICE", "nhsmail"))


def ra_agent_training_days() -> int:  # rule DS10: training by a deadline or the role is removed
    return int(_get("CAREACCESS_RA_AGENT_TRAINING_DAYS", 90))


def pharmacist_job_roles() -> tuple[str, ...]:  # rule DS8: pharmacists at the site may unlock
    return tuple(_get("CAREACCESS_PHARMACIST_JOB_ROLES", ("S8000:G8000:R8003",)))


def challenge_seconds() -> int:  # card sign-in: a challenge lives this long
    return int(_get("CAREACCESS_CARD_CHALLENGE_SECONDS", 120))


def crl_next_update_hours() -> int:  # a CRL's nextUpdate, from its issue
    return int(_get("CAREACCESS_CRL_NEXT_UPDATE_HOURS", 24))


def crl_url() -> str:  # written into every certificate's CRL distribution point
    return str(_get("CAREACCESS_CRL_URL", "http://localhost:8000/pki/crl.der"))


def pki_dir() -> Path:  # root and issuing CA keys, the card key-encryption key (mode 0600)
    configured = _get("CAREACCESS_PKI_DIR", None)
    return Path(configured) if configured else Path(settings.VAR_DIR) / "pki"


def ca_name() -> str:
    return str(_get("CAREACCESS_CA_NAME", "careaccess"))


def as_dict() -> dict:
    """Every setting and its value, for the report and `careaccess pki show`."""
    return {
        "CAREACCESS_PIN_MIN_LENGTH": pin_min_length(),
        "CAREACCESS_PIN_MAX_LENGTH": pin_max_length(),
        "CAREACCESS_PIN_MAX_TRIES": pin_max_tries(),
        "CAREACCESS_CERTIFICATE_VALIDITY_DAYS": certificate_validity_days(),
        "CAREACCESS_SELF_RENEWAL_WINDOW_DAYS": self_renewal_window_days(),
        "CAREACCESS_MAX_RENEWALS": max_renewals(),
        "CAREACCESS_NON_RENEWABLE_SERIES": non_renewable_series(),
        "CAREACCESS_NEW_CARD_SERIES": new_card_series(),
        "CAREACCESS_ADDRESS_PROOF_MAX_AGE_MONTHS": address_proof_max_age_months(),
        "CAREACCESS_CARD_MIN_ASSURANCE_LEVEL": min_assurance_for_card(),
        "CAREACCESS_UNLOCK_CODE_MINUTES": unlock_code_minutes(),
        "CAREACCESS_UNLOCK_CODE_MAX_ATTEMPTS": unlock_code_max_attempts(),
        "CAREACCESS_MAILBOX_SERVICE": mailbox_service_code(),
        "CAREACCESS_RA_AGENT_TRAINING_DAYS": ra_agent_training_days(),
        "CAREACCESS_PHARMACIST_JOB_ROLES": pharmacist_job_roles(),
        "CAREACCESS_CARD_CHALLENGE_SECONDS": challenge_seconds(),
        "CAREACCESS_CRL_NEXT_UPDATE_HOURS": crl_next_update_hours(),
        "CAREACCESS_CRL_URL": crl_url(),
        "CAREACCESS_PKI_DIR": str(pki_dir()),
        "CAREACCESS_CA_NAME": ca_name(),
    }

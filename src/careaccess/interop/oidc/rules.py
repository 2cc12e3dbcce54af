"""Pure rules of the OpenID Connect provider. No database."""

from __future__ import annotations

from careaccess.credentials import rules as credential_rules


def sign_in_method(amr: list[str]) -> str:
    """The sign-in method (credentials.rules.SIGN_IN_METHODS) a session's RFC 8176 `amr` shows: the
    strongest it used. A card signs in on its own; a password may come with a second factor."""
    if "sc" in amr:
        return "card"
    if "hwk" in amr:
        return "security_key"
    if "otp" in amr:
        return "totp"
    return "password"


def sign_in_refusal(amr: list[str], *, card_only: bool, service_name: str) -> str | None:
    """Why a relying service may not be told about a session that signed in this way, or None.
    A card-only service has no fall-back sign-in (rule DS18)."""
    return credential_rules.sign_in_refusal(sign_in_method(amr), card_only=card_only, service_name=service_name)

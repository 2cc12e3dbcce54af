"""FIDO2 security keys for staff (issue 5, item 6): WebAuthn registration and authentication
ceremonies with py_webauthn. The ceremony's challenge is made here and kept by the caller (the
session) until the browser answers; the relying party id is the host name the person signs in at
(CAREACCESS_WEBAUTHN_RP_ID when set), the origin the page's own. Only public keys are kept; the
sign count is checked to catch cloned keys. Every registration and check is audited."""

from __future__ import annotations

import json

import webauthn
from django.db import transaction
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, InvalidInput
from careaccess.directory.models import Person

from .authenticators import ISSUER, _person_of, _target
from .models import SecurityKey


def security_keys(person: Person):
    return SecurityKey.objects.filter(person=person).in_use()


def registration_options(actor: Actor, *, rp_id: str) -> tuple[str, str]:
    """The options for navigator.credentials.create (JSON) and the challenge (base64url) to keep."""
    person = _person_of(actor)
    options = webauthn.generate_registration_options(
        rp_id=rp_id, rp_name=ISSUER, user_name=person.uid, user_id=person.uid.encode(),
        user_display_name=f"{person.given_name} {person.family_name}",
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.DISCOURAGED, user_verification=UserVerificationRequirement.PREFERRED),
        exclude_credentials=[PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(k.credential_id))
                             for k in security_keys(person)],
    )
    return webauthn.options_to_json(options), bytes_to_base64url(options.challenge)


def register_security_key(actor: Actor, *, credential: str, challenge: str, rp_id: str, origin: str,
                          name: str = "Security key") -> SecurityKey:
    """Check the browser's answer to the registration ceremony and keep the new key."""
    person = _person_of(actor)
    name = (name or "").strip()[:100] or "Security key"
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=webauthn.base64url_to_bytes(challenge),
            expected_rp_id=rp_id, expected_origin=origin)
    except (WebAuthnException, ValueError, KeyError, TypeError, json.JSONDecodeError) as error:
        with transaction.atomic():
            ledger.record("authenticator.security_key_refused", actor=actor, reason=str(error)[:300], **_target(person))
        raise InvalidInput(f"The security key could not be registered: {error}") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    with transaction.atomic():
        Person.objects.select_for_update().get(pk=person.pk)
        if SecurityKey.objects.filter(credential_id=credential_id).exists():
            raise Conflict("This security key is already registered.")
        key = SecurityKey.objects.create(person=person, credential_id=credential_id,
                                         public_key=verified.credential_public_key, sign_count=verified.sign_count,
                                         name=name, created_at=clock.now())
        ledger.record("authenticator.security_key_registered", actor=actor, after={"name": name, "key": key.pk},
                      **_target(person))
    return key


def authentication_options(person: Person, *, rp_id: str) -> tuple[str, str]:
    options = webauthn.generate_authentication_options(
        rp_id=rp_id,
        allow_credentials=[PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(k.credential_id))
                           for k in security_keys(person)],
        user_verification=UserVerificationRequirement.PREFERRED)
    return webauthn.options_to_json(options), bytes_to_base64url(options.challenge)


def verify_security_key(person: Person, *, credential: str, challenge: str, rp_id: str, origin: str,
                        client: str = "") -> bool:
    """Check a sign-in's second step made with a security key. Records success or failure."""
    actor = permissions.actor_for_person(person)
    try:
        raw_id = json.loads(credential).get("rawId") or json.loads(credential).get("id")
    except (json.JSONDecodeError, AttributeError):
        raw_id = None
    with transaction.atomic():
        Person.objects.select_for_update().get(pk=person.pk)
        key = security_keys(person).filter(credential_id=raw_id).first() if raw_id else None
        reason = "unknown security key"
        if key is not None:
            try:
                verified = webauthn.verify_authentication_response(
                    credential=credential, expected_challenge=webauthn.base64url_to_bytes(challenge),
                    expected_rp_id=rp_id, expected_origin=origin, credential_public_key=bytes(key.public_key),
                    credential_current_sign_count=key.sign_count)
            except (WebAuthnException, ValueError, KeyError, TypeError) as error:
                reason = str(error)[:300]
            else:
                key.sign_count, key.last_used_at = verified.new_sign_count, clock.now()
                key.save(update_fields=["sign_count", "last_used_at"])
                ledger.record("signin.second_factor_passed", actor=actor, reason=f"security key {key.name} from {client}",
                              **_target(person))
                return True
        ledger.record("signin.second_factor_failed", actor=actor, reason=f"{reason} (from {client})", **_target(person))
    return False

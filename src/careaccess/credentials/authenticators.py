"""Second factors for staff: TOTP authenticators (pyotp, RFC 6238) and single-use recovery codes.

Staff whose positions carry RA agent, RA manager or sponsor rights must use a second factor (issue
5, item 6): `requires_second_factor` says who. Codes are checked against the project clock
(`core.clock`), so tests move time instead of sleeping. A TOTP code's time step is accepted once:
a code seen before (a replay) is refused even inside its 30 seconds. Every change and every check
is an audit entry written in the transaction of the change.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pyotp
from django.conf import settings
from django.db import transaction

from careaccess.core import clock, permissions
from careaccess.core.audit import ledger
from careaccess.core.context import Actor
from careaccess.core.errors import Conflict, Forbidden, InvalidInput
from careaccess.directory.models import Person

from . import sealing
from .models import RecoveryCode, SecurityKey, TotpDevice

ISSUER = "careaccess"
RECOVERY_CODES = 10
# Capabilities whose holders must sign in with a second factor (issue 5, item 6).
SECOND_FACTOR_CAPABILITIES = frozenset({"ra_agent", "ra_manager", "sponsor"})


def enforced() -> bool:
    """Whether sign-in sends staff with RA or sponsor rights and no second factor to enrol
    (`CAREACCESS_REQUIRE_SECOND_FACTOR`, on by default)."""
    return bool(settings.CAREACCESS_REQUIRE_SECOND_FACTOR)


def requires_second_factor(person: Person) -> bool:
    """True when any live staff position of the person carries RA agent, RA manager or sponsor rights."""
    return any(g.capabilities & SECOND_FACTOR_CAPABILITIES for g in permissions.grants(person.pk))


def must_enrol(person: Person) -> bool:
    """Sign-in sends the person to set up a second factor first (when `enforced`)."""
    return enforced() and requires_second_factor(person)


def confirmed_device(person: Person) -> TotpDevice | None:
    return TotpDevice.objects.filter(person=person).in_use().first()


def pending_device(person: Person) -> TotpDevice | None:
    return TotpDevice.objects.filter(person=person).pending().first()


def has_second_factor(person: Person) -> bool:
    """A confirmed authenticator app or a registered security key."""
    return (confirmed_device(person) is not None
            or SecurityKey.objects.filter(person=person).in_use().exists())


def remaining_recovery_codes(person: Person) -> int:
    return RecoveryCode.objects.filter(person=person, used_at__isnull=True).count()


def provisioning_uri(device: TotpDevice) -> str:
    """The otpauth:// URI an authenticator app reads (from a QR code or typed in)."""
    return pyotp.TOTP(device.secret).provisioning_uri(name=device.person.uid, issuer_name=ISSUER)


def _person_of(actor: Actor) -> Person:
    if actor.kind != "person" or actor.person_id is None:
        raise Forbidden("Only a signed-in person can manage their own authenticators.")
    return Person.objects.get(pk=actor.person_id)


def _target(person: Person) -> dict:
    return {"target_type": "person", "target_id": person.uid, "person_uid": person.uid}


def start_totp_enrolment(actor: Actor) -> TotpDevice:
    """Make a new secret for the signed-in person (replacing an enrolment not yet confirmed).
    The device counts only once `confirm_totp_enrolment` has seen a code from it."""
    person = _person_of(actor)
    now = clock.now()
    with transaction.atomic():
        Person.objects.select_for_update().get(pk=person.pk)
        TotpDevice.objects.filter(person=person).pending().update(removed_at=now)
        device = TotpDevice.objects.create(person=person, sealed_secret=sealing.seal(pyotp.random_base32()),
                                           created_at=now)
        ledger.record("authenticator.totp_enrolment_started", actor=actor, **_target(person))
    return device


def _matching_step(device: TotpDevice, code: str) -> int | None:
    """The time step (now, one before or one after: clock drift) whose code is `code`, or None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(device.secret)
    now = clock.now()
    found = None
    for drift in (-1, 0, 1):
        step = totp.timecode(now) + drift
        expected = totp.generate_otp(step)
        if hmac.compare_digest(expected, code):
            found = step
    return found


def _new_recovery_codes(person: Person) -> list[str]:
    now = clock.now()
    RecoveryCode.objects.filter(person=person, used_at__isnull=True).update(used_at=now)
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]  # 48 bits each
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(person=person, code_hash=_hash(c), created_at=now) for c in codes])
    return codes


def _hash(code: str) -> str:
    return hashlib.sha256("".join(code.lower().split()).encode()).hexdigest()


def confirm_totp_enrolment(actor: Actor, code: str) -> list[str]:
    """Confirm the enrolment in progress with a code from the app. Replaces any earlier device and
    returns fresh recovery codes, shown once (only their hashes are kept)."""
    person = _person_of(actor)
    with transaction.atomic():
        Person.objects.select_for_update().get(pk=person.pk)
        device = pending_device(person)
        if device is None:
            raise Conflict("There is no authenticator being set up. Start again.")
        step = _matching_step(device, code)
        if step is None:
            # The failure is recorded (and committed); nothing else changes.
            ledger.record("authenticator.totp_enrolment_failed", actor=actor, reason="wrong code", **_target(person))
            codes = None
        else:
            codes = _confirm(actor, person, device, step)
    if codes is None:
        raise InvalidInput("The code is not right. Enter the 6-digit code your authenticator app shows now.",
                           field="code")
    return codes


def _confirm(actor: Actor, person: Person, device: TotpDevice, step: int) -> list[str]:
    """Runs inside confirm_totp_enrolment's transaction."""
    now = clock.now()
    TotpDevice.objects.filter(person=person).in_use().update(removed_at=now)
    device.confirmed_at, device.last_used_step = now, step
    device.save(update_fields=["confirmed_at", "last_used_step"])
    codes = _new_recovery_codes(person)
    ledger.record("authenticator.totp_enrolled", actor=actor, after={"recovery_codes": len(codes)}, **_target(person))
    return codes


def regenerate_recovery_codes(actor: Actor) -> list[str]:
    person = _person_of(actor)
    with transaction.atomic():
        Person.objects.select_for_update().get(pk=person.pk)
        if confirmed_device(person) is None:
            raise Conflict("Set up an authenticator app first.")
        codes = _new_recovery_codes(person)
        ledger.record("authenticator.recovery_codes_renewed", actor=actor, after={"recovery_codes": len(codes)},
                      **_target(person))
    return codes


def verify_second_factor(person: Person, code: str, *, client: str = "") -> bool:
    """Check a sign-in's second step: a code from the person's authenticator app, or one of their
    recovery codes (used up by this). Records success or failure; returns whether it passed."""
    actor = permissions.actor_for_person(person)
    with transaction.atomic():
        Person.objects.select_for_update().get(pk=person.pk)
        device = confirmed_device(person)
        how = None
        if device is not None:
            step = _matching_step(device, code)
            if step is not None and step > device.last_used_step:
                device.last_used_step = step
                device.save(update_fields=["last_used_step"])
                how = "authenticator app"
            elif step is not None:
                ledger.record("signin.second_factor_failed", actor=actor, reason=f"code already used (from {client})",
                              **_target(person))
                return False
        if how is None and code.strip():
            used = RecoveryCode.objects.filter(person=person, used_at__isnull=True, code_hash=_hash(code)).first()
            if used is not None:
                used.used_at = clock.now()
                used.save(update_fields=["used_at"])
                how = "recovery code"
        if how is None:
            ledger.record("signin.second_factor_failed", actor=actor, reason=f"wrong code (from {client})",
                          **_target(person))
            return False
        ledger.record("signin.second_factor_passed", actor=actor, reason=f"{how} from {client}", **_target(person))
    return True


def record_second_factor_abandoned(person: Person, *, client: str = "", reason: str) -> None:
    with transaction.atomic():
        ledger.record("signin.second_factor_failed", actor=permissions.actor_for_person(person),
                      reason=f"{reason} (from {client})", **_target(person))



def rotate_sealing_key(actor: Actor, *, retire_old: bool = False) -> int:
    """Add a new sealing key, reseal every stored TOTP secret with it (one transaction, audited),
    then, when asked, retire the older keys. Returns how many secrets were resealed."""
    actor = permissions.authorise(actor, "pki.manage")
    sealing.add_key()
    with transaction.atomic():
        devices = TotpDevice.objects.select_for_update().order_by("id")
        resealed = [(pk, sealing.reseal(sealed)) for pk, sealed in devices.values_list("id", "sealed_secret")]
        for pk, sealed in resealed:
            TotpDevice.objects.filter(pk=pk).update(sealed_secret=sealed)
        ledger.record("authenticator.sealing_key_rotated", actor=actor, target_type="credentials.totpdevice",
                      target_id="all", after={"resealed": len(resealed), "older_keys_retired": retire_old})
    if retire_old:
        sealing.retire_old_keys()
    return len(resealed)

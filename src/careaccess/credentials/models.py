"""Smartcards, their certificates, CRLs, misuse reports, sign-in challenges and one-time unlock codes.

A card belongs to one person for good (rule SC10): `Card.save` refuses to move a card to another
person. Nothing here is deleted: cancelled and revoked cards and their certificates stay for audit.
"""

from django.db import models


class Card(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended (misuse check)"
        CANCELLED = "cancelled", "Cancelled"
        REVOKED = "revoked", "Revoked (misuse)"

    class LockReason(models.TextChoices):
        NONE = "", "Not locked"
        PIN_TRIES = "pin_tries", "Too many wrong PINs"
        ISSUED_LOCKED = "issued_locked", "Replacement issued locked"

    serial = models.CharField(max_length=20, unique=True)
    series = models.CharField(max_length=2)
    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="cards")
    state = models.CharField(max_length=12, choices=State.choices, default=State.ACTIVE)
    lock_reason = models.CharField(max_length=20, choices=LockReason.choices, default="", blank=True)
    # Only a hash of the PIN is kept (Django's configured hasher, Argon2).
    pin_hash = models.CharField(max_length=200, blank=True, default="")
    pin_tries = models.PositiveSmallIntegerField(default=0)
    pin_changed_at = models.DateTimeField(null=True, blank=True)
    renewals = models.PositiveSmallIntegerField(default=0)
    public_key_der = models.BinaryField()
    # The software card's private key, AES-GCM encrypted with the key-encryption key under var/pki.
    encrypted_key = models.BinaryField()
    certificate = models.OneToOneField("Certificate", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    replaces = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by")
    replacement_reason = models.CharField(max_length=300, blank=True, default="")
    collect_in_person = models.BooleanField(default=False)
    self_service_registered_at = models.DateTimeField(null=True, blank=True)
    issued_at = models.DateTimeField()
    issued_by_label = models.CharField(max_length=300)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["person", "state"], name="card_person_state")]

    @property
    def locked(self) -> bool:
        return bool(self.lock_reason)

    def save(self, *args, **kwargs):
        if self.pk is not None:
            owner = Card.objects.filter(pk=self.pk).values_list("person_id", flat=True).first()
            if owner is not None and owner != self.person_id:
                raise ValueError("a card belongs to one person for good (rule SC10); issue the other person their own card")
        super().save(*args, **kwargs)

    def __str__(self):
        return f"card {self.serial}"


class Certificate(models.Model):
    class Status(models.TextChoices):
        VALID = "valid", "Valid"
        REVOKED = "revoked", "Revoked"

    serial = models.CharField(max_length=40, unique=True)  # lower-case hex of the X.509 serial number
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="certificates")
    person_uid = models.CharField(max_length=12)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    der = models.BinaryField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.VALID)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_reason = models.CharField(max_length=40, blank=True, default="")
    issued_at = models.DateTimeField()

    class Meta:
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["status", "revoked_at"], name="certificate_status")]

    def __str__(self):
        return f"certificate {self.serial}"


class CrlIssue(models.Model):
    """Every CRL issued; the id is the CRL number. The newest is the one published."""

    this_update = models.DateTimeField()
    next_update = models.DateTimeField()
    revoked_count = models.PositiveIntegerField()
    # Last, so reading the newest CRL's number (every sign-in) never walks the CRL's pages on SQLite.
    der = models.BinaryField()

    class Meta:
        ordering = ["-id"]


class MisuseReport(models.Model):
    """Suspected misuse (SC3) or a loss or theft to check for misuse (SC6)."""

    class Kind(models.TextChoices):
        MISUSE = "misuse", "Suspected misuse"
        LOSS_OR_THEFT = "loss_or_theft", "Loss or theft check"

    class Outcome(models.TextChoices):
        OPEN = "open", "Open"
        NO_ACTION = "no_action", "No action"
        SUSPENDED = "suspended", "Card access suspended"
        REVOKED = "revoked", "Card access revoked"

    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="misuse_reports")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField()
    reported_by_label = models.CharField(max_length=300)
    reported_at = models.DateTimeField()
    outcome = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.OPEN)
    decided_by_label = models.CharField(max_length=300, blank=True, default="")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-reported_at", "-id"]


class Challenge(models.Model):
    """A spent sign-in challenge. Challenges are sealed (signin.issue_challenge) and written here
    only when a card answers one, so a second answer is a replay; rows go once expired."""

    nonce = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="challenge_expiry")]


class UnlockCode(models.Model):
    """A one-time self-service unlock code sent by email (rule DS9): valid for minutes, single use."""

    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="unlock_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]


class AuthenticatorQuerySet(models.QuerySet):
    """A person's second factors. A removed one stays for audit but no longer counts."""

    def in_use(self):
        return self.filter(removed_at__isnull=True)


class TotpDeviceQuerySet(AuthenticatorQuerySet):
    def in_use(self):
        """An authenticator app counts once a code from it has confirmed the enrolment."""
        return super().in_use().filter(confirmed_at__isnull=False)

    def pending(self):
        """An enrolment started and not yet confirmed (nor replaced)."""
        return super().in_use().filter(confirmed_at__isnull=True)


class TotpDevice(models.Model):
    """A person's TOTP authenticator (RFC 6238, 30-second steps, 6 digits). One confirmed device
    per person; an enrolment in progress is an unconfirmed row, replaced by a new start."""

    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="totp_devices")
    # The base32 secret, sealed (Fernet, keys under var/: credentials.sealing); never kept in clear.
    sealed_secret = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(default=0)  # a code's time step is accepted once (no replay)

    objects = TotpDeviceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["person", "confirmed_at"], name="totp_person_confirmed")]

    @property
    def secret(self) -> str:
        """The base32 secret, opened with the keys under var/ (the server must read it to check codes)."""
        from .sealing import unseal

        return unseal(self.sealed_secret)


class RecoveryCode(models.Model):
    """A single-use recovery code for the second factor; only its SHA-256 is kept (the codes are
    random, 50 bits, so a slow hash adds nothing)."""

    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["person", "used_at"], name="recovery_person_used")]


class BreachReport(models.Model):
    """A person's report that their credentials may be compromised (rule PP4): the password was
    changed at once, the RA was told; the RA records what it did about it."""

    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="breach_reports")
    description = models.TextField()
    reported_at = models.DateTimeField()
    password_changed_at = models.DateTimeField()
    client = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-reported_at", "-id"]


class SecurityKey(models.Model):
    """A FIDO2 security key or platform authenticator registered through WebAuthn (py_webauthn).
    Only the public key is kept; the sign count is checked to catch cloned keys."""

    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="security_keys")
    credential_id = models.CharField(max_length=1400, unique=True)  # base64url
    public_key = models.BinaryField()  # COSE
    sign_count = models.BigIntegerField(default=0)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    objects = AuthenticatorQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

"""Identity evidence and assurance, versioned terms and their acceptances, training records and
RA agent appointments. Rows here are never edited away: a new check, acceptance or record is a
new row, so the history of who checked what stays (rules DS1, DS5, DS7, SC1, DS10)."""

from django.db import models


class IdentityCheck(models.Model):
    """One face-to-face identity check by an RA agent (rules DS1, DS5, DS7)."""

    class DocumentType(models.TextChoices):
        PASSPORT = "passport", "Passport"
        PHOTOCARD_DRIVING_LICENCE = "photocard_driving_licence", "Photocard driving licence"
        NATIONAL_ID_CARD = "national_id_card", "National identity card"
        RESIDENCE_PERMIT = "residence_permit", "Biometric residence permit"
        BIRTH_CERTIFICATE = "birth_certificate", "Birth certificate"

    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="identity_checks")
    checked_by = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="identity_checks_done",
                                   null=True, blank=True)
    checked_by_label = models.CharField(max_length=300)
    sponsor = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="+", null=True, blank=True)
    request_reference = models.CharField(max_length=100, blank=True, default="")
    document_type = models.CharField(max_length=40, choices=DocumentType.choices)
    issuing_country = models.CharField(max_length=2)
    document_number = models.CharField(max_length=40)
    document_expires_on = models.DateField(null=True, blank=True)
    address_proof_kind = models.CharField(max_length=100)
    address_proof_issuer = models.CharField(max_length=200)
    address_proof_issued_on = models.DateField()
    photo_sha256 = models.CharField(max_length=64, blank=True, default="")
    photo = models.BinaryField(null=True, blank=True)
    assurance_level = models.PositiveSmallIntegerField()
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["person", "checked_at"], name="identity_check_person")]

    def __str__(self):
        return f"identity check {self.id} of person {self.person_id} (level {self.assurance_level})"


class TermsVersion(models.Model):
    """A published version of a set of terms: the user terms of use (RA01), RA agent or sponsor terms."""

    class Kind(models.TextChoices):
        USER = "user", "Terms and conditions of use"
        RA_AGENT = "ra_agent", "RA agent terms"
        SPONSOR = "sponsor", "Sponsor terms"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    version = models.CharField(max_length=20)
    title = models.CharField(max_length=200)
    text = models.TextField()
    sha256 = models.CharField(max_length=64)
    published_at = models.DateTimeField()

    class Meta:
        ordering = ["kind", "-published_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="terms_version_unique")]

    def __str__(self):
        return f"{self.kind} terms v{self.version}"


class TermsAcceptance(models.Model):
    """A person accepted one version of terms: at registration, at a sign-in (SC1), on appointment."""

    class Occasion(models.TextChoices):
        REGISTRATION = "registration", "Registration"
        SIGN_IN = "sign_in", "Sign-in"
        APPOINTMENT = "appointment", "Appointment"

    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="terms_acceptances")
    terms = models.ForeignKey(TermsVersion, on_delete=models.PROTECT, related_name="acceptances")
    occasion = models.CharField(max_length=20, choices=Occasion.choices)
    accepted_at = models.DateTimeField()

    class Meta:
        ordering = ["-accepted_at", "-id"]
        indexes = [models.Index(fields=["person", "terms"], name="terms_acceptance_person")]


class TrainingRecord(models.Model):
    """A training a person completed, of one kind: information governance (CC9), the RA agent course
    (DS10), or training to action requests (PP5: creating, suspending and amending accounts) for one
    service (`service`) or for every service (no service), current until `valid_until` if it expires."""

    class Kind(models.TextChoices):
        IG = "ig", "Information governance (IG) training"
        RA_AGENT = "ra_agent", "RA agent training"
        ACTIONING = "actioning", "Training to action requests"

    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="training_records")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    service = models.ForeignKey("directory.Service", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")  # training to action requests: null for every service
    completed_on = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    note = models.CharField(max_length=300, blank=True, default="")
    recorded_by_label = models.CharField(max_length=300)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-completed_on", "-id"]
        indexes = [models.Index(fields=["person", "kind"], name="training_person_kind")]


class RaAgentAppointment(models.Model):
    """A new RA agent: appointed by someone with sponsor rights, accepts the RA agent terms and is
    trained by `training_due_on`, or the lifecycle job removes the role (rule DS10)."""

    class State(models.TextChoices):
        AWAITING_TRAINING = "awaiting_training", "Awaiting training"
        TRAINED = "trained", "Trained"
        REMOVED = "removed", "Removed"

    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="ra_agent_appointments")
    assignment = models.OneToOneField("directory.Assignment", on_delete=models.PROTECT, related_name="ra_agent_appointment")
    appointed_by_label = models.CharField(max_length=300)
    appointed_at = models.DateTimeField()
    terms_acceptance = models.ForeignKey(TermsAcceptance, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    training_due_on = models.DateField()
    training = models.ForeignKey(TrainingRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=20, choices=State.choices, default=State.AWAITING_TRAINING)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["training_due_on", "id"]
        indexes = [models.Index(fields=["state", "training_due_on"], name="ra_appointment_due")]

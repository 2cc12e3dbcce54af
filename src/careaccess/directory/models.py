"""The directory: organisations, people, the code catalogue, services, positions, assignments and
accounts. Access comes only through positions (rule SC8): there is no table that grants a code
to a person."""

from django.db import models


class Organisation(models.Model):
    class Kind(models.TextChoices):
        ICB = "icb", "Integrated care board"
        GP_PRACTICE = "gp_practice", "GP practice"
        PHARMACY = "pharmacy", "Pharmacy"
        CARE_HOME = "care_home", "Care home"
        CARE_PROVIDER = "care_provider", "Care provider"
        TRUST = "trust", "NHS trust"
        LOCAL_AUTHORITY = "local_authority", "Local authority"
        REGISTRATION_AUTHORITY = "registration_authority", "Registration authority"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        CLOSING = "closing", "Closing"
        CLOSED = "closed", "Closed"

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=200)
    short_name = models.CharField(max_length=40, blank=True, default="")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    # An overseeing organisation's staff act for its descendants too (e.g. an ICB's RA).
    oversees_descendants = models.BooleanField(default=False)
    cqc_number = models.CharField(max_length=20, blank=True, default="")
    has_service_desk = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    closes_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["kind", "status"], name="organisation_kind_status")]

    def __str__(self):
        return f"{self.name} ({self.code})"


class OrganisationalUnit(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="units")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    code = models.CharField(max_length=30)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "code"], name="unit_code_unique_in_organisation")]

    def __str__(self):
        return f"{self.name} ({self.organisation.code})"


class Person(models.Model):
    """Never deleted: a leaver's record, and everything it did, stays (rule PP8)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        LEFT = "left", "Left"

    uid = models.CharField("user id", max_length=12, unique=True)
    title = models.CharField(max_length=20, blank=True, default="")
    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    date_of_birth = models.DateField(null=True, blank=True)
    ni_number = models.CharField("National Insurance number", max_length=9, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=30, blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # The staff sign-in for the web pages, when the person has one.
    user = models.OneToOneField("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="person")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["family_name", "given_name"]
        indexes = [
            models.Index(fields=["family_name", "given_name"], name="person_name"),
            # SCIM filters (meta.created, meta.lastModified, active eq false); the folded and
            # trigram indexes of names, email and uid are in migration 0003.
            models.Index(fields=["created_at", "uid"], name="person_created"),
            models.Index(fields=["updated_at", "uid"], name="person_updated"),
            models.Index(fields=["uid"], condition=~models.Q(status="active"), name="person_not_active"),
        ]

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.title, self.given_name, self.family_name) if part)

    def __str__(self):
        return f"{self.given_name} {self.family_name} ({self.uid})"


class JobRole(models.Model):
    """A national RBAC job role code, e.g. S8000:G8000:R8000."""

    code = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["code"]

    def __str__(self):
        return f"{self.code} {self.name}"


class Activity(models.Model):
    """An activity code (B code). Holding one includes holding every activity it includes."""

    code = models.CharField(max_length=10, unique=True)
    name = models.CharField(max_length=200)
    includes = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="included_by")

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "activities"

    def __str__(self):
        return f"{self.code} {self.name}"


class Service(models.Model):
    """A relying application. Its policy is data, so a new service is configuration, not code."""

    class ApproverKind(models.TextChoices):
        AUTHORISER = "authoriser", "Authoriser"
        LEAD_CORRESPONDENT = "lead_correspondent", "Lead correspondent"
        SPONSOR = "sponsor", "Sponsor"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    allowed_purposes = models.JSONField(default=list)
    approver_kind = models.CharField(max_length=30, choices=ApproverKind.choices, default=ApproverKind.AUTHORISER)
    sla_days = models.PositiveIntegerField(default=5)  # rule CC7
    inactivity_days = models.PositiveIntegerField(default=60)  # rule PP7
    review_months = models.PositiveIntegerField(default=3)  # rule PP6
    card_only = models.BooleanField(default=False)  # rule DS18
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ServiceRole(models.Model):
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="roles")
    code = models.SlugField(max_length=50)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["service", "name"]
        constraints = [models.UniqueConstraint(fields=["service", "code"], name="service_role_code_unique")]

    def __str__(self):
        return f"{self.service.code}:{self.code}"


class Position(models.Model):
    """A job type inside one organisation. Everyone assigned to it gets exactly its codes (SC8)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="positions")
    unit = models.ForeignKey(OrganisationalUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="positions")
    name = models.CharField(max_length=200)
    job_roles = models.ManyToManyField(JobRole, blank=True, related_name="positions")
    activities = models.ManyToManyField(Activity, blank=True, related_name="positions")
    service_roles = models.ManyToManyField(ServiceRole, blank=True, related_name="positions")
    assignable_by_sponsors = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["organisation", "name"]
        constraints = [models.UniqueConstraint(fields=["organisation", "name"], name="position_name_unique_in_organisation")]
        # SCIM Group filters meta.created and meta.lastModified; displayName's are in migration 0003.
        indexes = [models.Index(fields=["created_at", "id"], name="position_created"),
                   models.Index(fields=["updated_at", "id"], name="position_updated")]

    def __str__(self):
        return f"{self.name} at {self.organisation.code}"


class Assignment(models.Model):
    """A person in a position from a start date, until an optional end date (inclusive)."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        ENDED = "ended", "Ended"

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="assignments")
    position = models.ForeignKey(Position, on_delete=models.PROTECT, related_name="assignments")
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["starts_on", "id"]
        indexes = [models.Index(fields=["person", "state"], name="assignment_person_state")]

    def __str__(self):
        return f"{self.person} in {self.position}"


class Account(models.Model):
    """A person's account on a service. Never deleted: suspended or closed accounts stay (PP8)."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        CLOSED = "closed", "Closed"

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="accounts")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="accounts")
    username = models.CharField(max_length=150)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["service", "username"]
        constraints = [
            models.UniqueConstraint(fields=["service", "username"], name="account_username_unique_in_service"),
            models.UniqueConstraint(fields=["service", "person"], name="account_one_per_person_per_service"),
        ]
        indexes = [models.Index(fields=["state", "last_used_at"], name="account_state_last_used")]

    def __str__(self):
        return f"{self.username} on {self.service.code}"

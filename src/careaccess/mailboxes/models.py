"""Care-home mailbox applications (NM1-NM6), the accounts and shared mailboxes they provision
(NM7-NM9), and helpdesk delegations (NM11)."""

from django.db import models


class Application(models.Model):
    class State(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        APPROVED = "approved", "Approved and provisioned"
        REJECTED = "rejected", "Rejected"

    reference = models.CharField(max_length=20, unique=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.SUBMITTED)
    sponsor = models.ForeignKey("directory.Organisation", on_delete=models.PROTECT, related_name="mailbox_applications")
    # NM1
    applicant_name = models.CharField(max_length=200)
    applicant_role = models.CharField(max_length=200)
    applicant_email = models.EmailField()
    home_name = models.CharField(max_length=200)
    home_address = models.TextField()
    home_town = models.CharField(max_length=100)  # the location of NM9
    home_postcode = models.CharField(max_length=10)
    home_phone = models.CharField(max_length=30)
    cqc_number = models.CharField(max_length=20)
    ig_toolkit_completed = models.BooleanField()
    ig_report_file = models.CharField(max_length=100, blank=True, default="")  # random name under the upload dir
    ig_report_name = models.CharField(max_length=200, blank=True, default="")
    ig_report_size = models.PositiveIntegerField(default=0)
    existing_accounts = models.TextField(blank=True, default="")
    exchanges_data = models.BooleanField()
    exchange_reason = models.TextField(blank=True, default="")
    individuals = models.JSONField(default=list)  # [{title, first_name, last_name, mobile}]
    shared_wanted = models.BooleanField(default=False)
    shared_name = models.CharField(max_length=200, blank=True, default="")
    shared_owner = models.CharField(max_length=200, blank=True, default="")
    shared_owner_mobile = models.CharField(max_length=20, blank=True, default="")
    # NM12
    group_name = models.CharField(max_length=200, blank=True, default="")
    head_office = models.TextField(blank=True, default="")
    head_office_aware = models.BooleanField(default=False)
    benefits = models.TextField()
    # duplicate detection: the CQC number while the application is open or approved
    open_key = models.CharField(max_length=60, null=True, blank=True, unique=True)
    # assessment (NM3, NM4)
    cqc_home = models.ForeignKey("directory.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")
    assessed_at = models.DateTimeField(null=True, blank=True)
    assessed_by_label = models.CharField(max_length=200, blank=True, default="")
    ig_toolkit_checked = models.BooleanField(null=True)
    justification = models.TextField(blank=True, default="")
    justification_accepted = models.BooleanField(default=False)
    # decision (NM5)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_label = models.CharField(max_length=200, blank=True, default="")
    reasons = models.TextField(blank=True, default="")
    unit = models.ForeignKey("directory.OrganisationalUnit", null=True, blank=True, on_delete=models.PROTECT,
                             related_name="mailbox_applications")
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["sponsor", "state"], name="mailbox_app_sponsor_state")]

    def __str__(self):
        return f"{self.reference} {self.home_name}"


class Mailbox(models.Model):
    """An individual's mailbox account (NM8)."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        LOCKED = "locked", "Locked"
        CLOSED = "closed", "Closed"

    person = models.OneToOneField("directory.Person", on_delete=models.PROTECT, related_name="mailbox")
    unit = models.ForeignKey("directory.OrganisationalUnit", on_delete=models.PROTECT, related_name="mailboxes")
    application = models.ForeignKey(Application, null=True, blank=True, on_delete=models.PROTECT, related_name="mailboxes")
    address = models.CharField(max_length=254, unique=True)
    display_name = models.CharField(max_length=201)
    job_title = models.CharField(max_length=100, blank=True, default="")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    must_change_password = models.BooleanField(default=True)
    aup_accepted_at = models.DateTimeField(null=True, blank=True)
    profile_completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["display_name"]

    def __str__(self):
        return self.address


class SharedMailbox(models.Model):
    """A shared mailbox (NM9)."""

    unit = models.ForeignKey("directory.OrganisationalUnit", on_delete=models.PROTECT, related_name="shared_mailboxes")
    application = models.ForeignKey(Application, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="shared_mailboxes")
    display_name = models.CharField(max_length=29)
    address = models.CharField(max_length=254, unique=True)
    hidden = models.BooleanField(default=False)
    owner = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["display_name"]

    def __str__(self):
        return self.address


class Membership(models.Model):
    class Permission(models.TextChoices):
        SEND_AS = "send_as", "Send As"
        FULL_ACCESS = "full_access", "Full Access"

    shared_mailbox = models.ForeignKey(SharedMailbox, on_delete=models.PROTECT, related_name="memberships")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="memberships")
    permission = models.CharField(max_length=20, choices=Permission.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["shared_mailbox", "mailbox", "permission"],
                                               name="mailbox_membership_unique")]


class HelpdeskDelegation(models.Model):
    """NM11: the primary administrator lets a helpdesk person unlock and reset passwords for a home."""

    unit = models.ForeignKey("directory.OrganisationalUnit", on_delete=models.PROTECT, related_name="helpdesk_delegations")
    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="helpdesk_delegations")
    delegated_by_label = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["unit", "person"], condition=models.Q(revoked_at__isnull=True),
                                               name="helpdesk_delegation_live_unique")]

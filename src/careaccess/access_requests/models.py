"""Access requests: the unit of change (DESIGN.md). A request moves through the state machine in
rules.py; every step is a service function that checks permission and separation of duties,
writes the audit ledger (linked by the request's reference) and queues the notifications.

The history of a request is its ledger entries (`selectors.history`), not a copy of them."""

from django.db import models

from . import rules


def _choices(labels: dict[str, str]) -> list[tuple[str, str]]:
    return list(labels.items())


class Batch(models.Model):
    """Several requests raised at once from one CSV (rules SC11, CC7): they move together."""

    reference = models.CharField(max_length=20, unique=True)
    organisation = models.ForeignKey("directory.Organisation", on_delete=models.PROTECT, related_name="request_batches")
    service = models.ForeignKey("directory.Service", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="request_batches")
    filename = models.CharField(max_length=200, blank=True, default="")
    raised_by = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="raised_batches")
    raised_by_label = models.CharField(max_length=200)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.reference


class AccessRequest(models.Model):
    reference = models.CharField(max_length=20, unique=True)
    kind = models.CharField(max_length=40, choices=_choices(rules.KIND_LABELS))
    state = models.CharField(max_length=30, choices=_choices(rules.STATE_LABELS), default=rules.State.DRAFT)
    # Optimistic version: every transition adds one; a caller acting on a stale copy gets Conflict.
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=300)  # rule CC5
    organisation = models.ForeignKey("directory.Organisation", on_delete=models.PROTECT, related_name="access_requests")
    service = models.ForeignKey("directory.Service", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="access_requests")
    # The person the request is about; for a new user, set when fulfilment registers them.
    subject = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="access_requests_about")
    position = models.ForeignKey("directory.Position", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="access_requests")
    assignment = models.ForeignKey("directory.Assignment", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="access_requests")
    purpose = models.CharField(max_length=100, default="direct care")
    route = models.CharField(max_length=20, choices=[(rules.DESK, "Service desk"), (rules.AUTHORISER, "Authoriser")])
    details = models.JSONField(default=dict)  # the kind's cleaned fields (services.KIND_FIELDS)
    note = models.TextField(blank=True, default="")  # SC4: ticket reference, intended position, ...
    special_circumstances = models.TextField(blank=True, default="")  # PP14: closure, administration, ...
    centrally_sponsored = models.BooleanField(default=False)  # DS6
    onboards_provider = models.BooleanField(default=False)  # PP11
    batch = models.ForeignKey(Batch, null=True, blank=True, on_delete=models.PROTECT, related_name="requests")

    raised_by = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="access_requests_raised")
    raised_by_label = models.CharField(max_length=200)
    raised_by_email = models.EmailField(blank=True, default="")
    validated_by = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="access_requests_validated")
    approved_by = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="access_requests_approved")
    fulfilled_by = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="access_requests_fulfilled")
    ticket_reference = models.CharField(max_length=60, blank=True, default="")  # CC6 desk route
    approval = models.JSONField(default=dict, blank=True)  # CC9 confirmations
    outcome = models.JSONField(default=dict, blank=True)  # what fulfilment changed (ids)
    reason = models.TextField(blank=True, default="")  # of the last rejection, referral, question, withdrawal
    paused_in = models.CharField(max_length=30, blank=True, default="")  # CC10: where to return

    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    forwarded_at = models.DateTimeField(null=True, blank=True)  # reached the back office (CC7)
    due_on = models.DateField(null=True, blank=True)  # CC7
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "due_on"], name="request_state_due"),
            models.Index(fields=["organisation", "state"], name="request_organisation_state"),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"


class Evidence(models.Model):
    """A check or confirmation recorded with a request before it may be fulfilled."""

    class Kind(models.TextChoices):
        FACE_TO_FACE = "face_to_face", "Face-to-face check with proof (SC7)"
        TELEPHONE = "telephone", "Confirmed by telephone (PP12)"
        EMAIL = "email", "Confirmed by email (PP12)"
        WRITTEN = "written", "Written confirmation from someone with authority (PP14)"

    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="evidence")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    details = models.TextField()
    confirmed_by_name = models.CharField(max_length=200, blank=True, default="")
    confirmed_by_role = models.CharField(max_length=200, blank=True, default="")
    recorded_by = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    recorded_by_label = models.CharField(max_length=200)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["recorded_at", "id"]


class OrganisationSettings(models.Model):
    """Per-organisation request settings: where new users' credentials go when the users cannot
    receive them securely (rule CC8: a nominated person hands them on)."""

    organisation = models.OneToOneField("directory.Organisation", on_delete=models.PROTECT,
                                        related_name="request_settings")
    credentials_nominee_name = models.CharField(max_length=200, blank=True, default="")
    credentials_nominee_email = models.EmailField(blank=True, default="")
    updated_at = models.DateTimeField()


class ServicePolicy(models.Model):
    """Who may raise and who may fulfil requests for a service, narrowing the defaults of
    `permissions.ACTIONS` (a service's policy is data, not code). Who validates follows the
    organisation's route (CC6) and who approves the service's `approver_kind`."""

    service = models.OneToOneField("directory.Service", on_delete=models.PROTECT, related_name="request_policy")
    raise_capabilities = models.JSONField(default=list, blank=True)  # empty: the defaults
    fulfil_capabilities = models.JSONField(default=list, blank=True)  # empty: the defaults
    updated_at = models.DateTimeField()

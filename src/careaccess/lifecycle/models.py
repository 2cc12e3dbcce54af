"""Lifecycle: notices already sent (so sweeps are idempotent), recorded closures (PP10), review
policies, campaigns and their items (PP6), and public reinstatement requests (PP13)."""

from django.db import models


class Notice(models.Model):
    """A warning sent once: `key` names what it was about (kind, target, the date it warns of)."""

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=40)
    sent_at = models.DateTimeField()


class Closure(models.Model):
    """Rule PP10: a provider closing, going into administration or changing owner."""

    organisation = models.ForeignKey("directory.Organisation", on_delete=models.PROTECT, related_name="closures")
    sudden = models.BooleanField()
    closes_on = models.DateField()
    confirmation = models.TextField()  # PP14: who confirmed it in writing, with authority
    successor = models.ForeignKey("directory.Organisation", null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")
    recorded_by_label = models.CharField(max_length=300)
    recorded_at = models.DateTimeField()
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["closes_on", "id"]


class ReviewPolicy(models.Model):
    """Per-service review settings beyond `Service.review_months` (PP6)."""

    service = models.OneToOneField("directory.Service", on_delete=models.PROTECT, related_name="review_policy")
    suspend_undecided = models.BooleanField(default=False)
    decision_days = models.PositiveIntegerField(null=True, blank=True)  # null: CAREACCESS_REVIEW_DECISION_DAYS
    updated_at = models.DateTimeField()


class Campaign(models.Model):
    """One organisation's periodic review of its access to one service (rule PP6)."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ESCALATED = "escalated", "Escalated"
        CLOSED = "closed", "Closed"

    service = models.ForeignKey("directory.Service", on_delete=models.PROTECT, related_name="review_campaigns")
    organisation = models.ForeignKey("directory.Organisation", on_delete=models.PROTECT,
                                     related_name="review_campaigns")
    reviewer = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="review_campaigns")
    opens_on = models.DateField()
    due_on = models.DateField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-opens_on", "id"]
        constraints = [models.UniqueConstraint(fields=["service", "organisation", "opens_on"],
                                               name="campaign_once_per_day")]
        indexes = [models.Index(fields=["state", "due_on"], name="campaign_state_due"),
                   models.Index(fields=["reviewer", "state"], name="campaign_reviewer")]

    def __str__(self):
        return f"review of {self.organisation_id} on {self.service_id} from {self.opens_on}"


class CampaignItem(models.Model):
    class Kind(models.TextChoices):
        ASSIGNMENT = "assignment", "Position"
        ACCOUNT = "account", "Account"

    class Decision(models.TextChoices):
        UNDECIDED = "", "Not decided"
        KEEP = "keep", "Keep"
        REVOKE = "revoke", "Revoke"

    # A national campaign opens millions of items in one transaction, and every index and checked
    # reference of an item costs a write or a lookup (with a row lock) per item. So: items are
    # found by campaign only (the (campaign, decision) index below serves it); the person,
    # assignment and account they are about are not checked by the database, because items are
    # written only by INSERT ... SELECT from those very rows, which are never deleted (rule PP8,
    # and PROTECT stops the ORM); checking them at COMMIT was most of opening a national campaign.
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="items", db_index=False)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="+", db_constraint=False,
                               db_index=False)
    assignment = models.ForeignKey("directory.Assignment", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", db_constraint=False, db_index=False)
    account = models.ForeignKey("directory.Account", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", db_constraint=False, db_index=False)
    decision = models.CharField(max_length=10, choices=Decision.choices, default="", blank=True)
    reason = models.TextField(blank=True, default="")
    decided_by = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", db_index=False)
    decided_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    access_request = models.ForeignKey("access_requests.AccessRequest", null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="+", db_index=False)

    class Meta:
        ordering = ["campaign", "id"]
        indexes = [models.Index(fields=["campaign", "decision"], name="campaign_item_decision")]


class Reinstatement(models.Model):
    """Rule PP13: a suspended person asks, from the address on their account, to be reinstated."""

    class State(models.TextChoices):
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Waiting for the email link to be followed"
        CONFIRMED = "confirmed", "Confirmed: waiting for staff to check"
        REQUESTED = "requested", "Reactivation request raised"
        REFUSED = "refused", "Refused"

    given_name = models.CharField(max_length=100)
    family_name = models.CharField(max_length=100)
    email = models.EmailField()
    account = models.ForeignKey("directory.Account", on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=30, choices=State.choices, default=State.AWAITING_CONFIRMATION)
    created_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by_label = models.CharField(max_length=300, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    access_request = models.ForeignKey("access_requests.AccessRequest", null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]

from django.db import models


class ApiToken(models.Model):
    """A bearer token for the API, for a relying service or a member of staff.

    Only a SHA-256 of the secret is kept (the secret is 256 random bits, so a slow hash adds
    nothing); the secret is shown once, when created. `prefix` lets staff tell tokens apart.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64, unique=True)
    person = models.ForeignKey("directory.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="api_tokens")
    service = models.ForeignKey("directory.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="api_tokens")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "core_api_token"
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(person__isnull=False, service__isnull=True) | models.Q(person__isnull=True, service__isnull=False)),
                name="api_token_for_person_or_service",
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

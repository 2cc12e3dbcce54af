"""The web shell's one table: sign-in failure counts, so repeated failures lock the sign-in."""

from django.db import models


class SigninThrottle(models.Model):
    """Failed sign-ins for one username (or one person, however they typed their username).

    `key` is an HMAC of what was throttled, never the text typed: people type passwords into the
    username box, and this table must not keep them. A row exists once a sign-in has failed.
    """

    key = models.CharField(max_length=64, unique=True)
    failures = models.PositiveIntegerField(default=0)
    # Failures are counted in a window that starts at the first failure counted in it.
    window_started_at = models.DateTimeField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["updated_at"], name="signin_throttle_updated")]

    def __str__(self):
        return f"sign-in throttle {self.key[:8]}… ({self.failures} failures)"

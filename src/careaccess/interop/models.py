"""Interop tables. The directory stays the source of truth; these hold only what the standards
need and the directory has no column for:

- `ClientScope`: the scopes of an API token (core.ApiToken has none). A token without a row here
  may use the JSON API but no SCIM or FHIR endpoint (deny by default).
- `ScimUser`: the SCIM `userName` and `externalId` a provisioning client gave a person. People
  never provisioned by SCIM have no row: their userName is their user id.
- `ScimGroup`: the SCIM `externalId` of a position.
- `ReadLog`: who read which people through SCIM, FHIR or OpenID Connect userinfo (issue 8 item 4). A light, insert-only
  log rather than audit-ledger entries: every ledger append serialises on the ledger's one head
  row, and a relying service's reads (thousands a minute) would queue behind each other and
  behind every change. The ledger keeps changes; this table keeps reads.
"""

from django.db import models

SCOPES = {
    "scim.read": "read Users, Groups and the SCIM discovery documents",
    "scim.write": "create, change and remove Users and Groups through SCIM (still subject to the actor's rights)",
    "fhir.read": "read Practitioner, PractitionerRole and Organization resources",
}


class ClientScope(models.Model):
    token = models.OneToOneField("core.ApiToken", on_delete=models.PROTECT, related_name="interop_scope")
    scopes = models.CharField(max_length=200, help_text="space-separated scope names")
    updated_at = models.DateTimeField()

    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    def __str__(self):
        return f"{self.token.prefix}: {self.scopes}"


class ScimUser(models.Model):
    person = models.OneToOneField("directory.Person", on_delete=models.PROTECT, related_name="scim")
    user_name = models.CharField(max_length=150)
    # userName is case-insensitive (RFC 7643 caseExact false): the lower-cased copy is the unique,
    # indexed key that `userName eq "..."` looks up.
    user_name_key = models.CharField(max_length=150, unique=True)
    external_id = models.CharField(max_length=200, blank=True, default="", db_index=True)
    updated_at = models.DateTimeField()


class ScimGroup(models.Model):
    position = models.OneToOneField("directory.Position", on_delete=models.PROTECT, related_name="scim")
    external_id = models.CharField(max_length=200, blank=True, default="", db_index=True)
    updated_at = models.DateTimeField()


class ReadLog(models.Model):
    at = models.DateTimeField(db_index=True)
    protocol = models.CharField(max_length=10)  # scim | fhir | oidc
    actor_kind = models.CharField(max_length=16)
    actor = models.CharField(max_length=200)
    actor_uid = models.CharField(max_length=12, null=True)
    token_id = models.BigIntegerField(null=True)
    request_id = models.CharField(max_length=64, null=True)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    query = models.TextField(default="")
    # The user ids the answer revealed (a list answer reveals a page of people), and how many.
    person_uids = models.TextField(default="")
    person_count = models.IntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["actor_uid", "at"], name="interop_readlog_actor_at")]


from careaccess.interop.oidc.models import OidcClient, OidcCode, OidcJti, OidcToken  # noqa: E402,F401

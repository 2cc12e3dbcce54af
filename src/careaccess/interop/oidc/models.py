"""OpenID Connect provider tables: registered clients, authorization codes, issued tokens.

Secrets and tokens are stored as SHA-256 digests only: a copy of the database gives nobody a
working client secret, code, access token or refresh token."""

from __future__ import annotations

import hmac
import json

from django.db import models

from careaccess.core import clock
from careaccess.core.tokens import hash_secret


class OidcClient(models.Model):
    class AuthMethod(models.TextChoices):
        SECRET_BASIC = "client_secret_basic"
        PRIVATE_KEY_JWT = "private_key_jwt"

    client_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    secret_digest = models.CharField(max_length=64, blank=True, default="")
    redirect_uris = models.TextField(help_text="one per line")
    auth_method = models.CharField(max_length=30, choices=AuthMethod.choices)
    jwks = models.TextField(blank=True, default="", help_text="the client's public JWKS (private_key_jwt)")
    backchannel_logout_uri = models.CharField(max_length=500, blank=True, default="")
    scope = models.CharField(max_length=300)
    # The directory service the client speaks for, whose policy (card-only: rule DS18) decides how
    # its users may have signed in. None for a client tied to no one service.
    service = models.ForeignKey("directory.Service", on_delete=models.PROTECT, null=True, blank=True,
                                related_name="oidc_clients")
    created_at = models.DateTimeField()

    # Authlib ClientMixin
    def get_client_id(self):
        return self.client_id

    def redirect_uri_list(self) -> list[str]:
        return [u for u in self.redirect_uris.split() if u]

    def get_default_redirect_uri(self):
        uris = self.redirect_uri_list()
        return uris[0] if uris else None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        allowed = set(self.scope.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri in self.redirect_uri_list()  # exact match only

    def check_client_secret(self, client_secret):
        return bool(self.secret_digest) and hmac.compare_digest(self.secret_digest, hash_secret(client_secret))

    def check_endpoint_auth_method(self, method, endpoint):
        # token, revocation and introspection alike: only the method the client registered with
        return method == self.auth_method

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type in ("authorization_code", "refresh_token")

    def public_jwks(self) -> dict:
        return json.loads(self.jwks) if self.jwks else {"keys": []}

    def __str__(self):
        return f"{self.name} ({self.client_id})"


class OidcCode(models.Model):
    code_digest = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OidcClient, on_delete=models.PROTECT, related_name="codes")
    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="+")
    redirect_uri = models.CharField(max_length=500)
    scope = models.CharField(max_length=300)
    nonce = models.CharField(max_length=200, blank=True, default="")
    code_challenge = models.CharField(max_length=128)
    code_challenge_method = models.CharField(max_length=10)
    auth_time = models.BigIntegerField()
    acr = models.CharField(max_length=100)
    amr = models.CharField(max_length=100, help_text="space-separated")
    selected_assignment_id = models.BigIntegerField(null=True)
    session_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(db_index=True)  # pruned by age (services.prune)
    used_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [
            models.Index(fields=["client", "nonce"], name="interop_oidccode_nonce"),  # nonce replay check
            models.Index(fields=["session_id"], name="interop_oidccode_session"),  # sign-out spends them
        ]

    # Authlib AuthorizationCodeMixin
    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce or None

    def get_auth_time(self):
        return self.auth_time

    def get_acr(self):
        return self.acr

    def get_amr(self):
        return self.amr.split()


class OidcToken(models.Model):
    client = models.ForeignKey(OidcClient, on_delete=models.PROTECT, related_name="tokens")
    person = models.ForeignKey("directory.Person", on_delete=models.PROTECT, related_name="+")
    access_digest = models.CharField(max_length=64, unique=True)
    refresh_digest = models.CharField(max_length=64, unique=True, null=True)
    # When the refresh token stops working: set at the code exchange, kept by every rotation.
    refresh_expires_at = models.DateTimeField(null=True)
    scope = models.CharField(max_length=300)
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()  # of the access token
    auth_time = models.BigIntegerField()
    acr = models.CharField(max_length=100)
    amr = models.CharField(max_length=100)
    selected_assignment_id = models.BigIntegerField(null=True)
    session_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    revoked_at = models.DateTimeField(null=True)

    # Authlib TokenMixin
    def check_client(self, client):
        return self.client_id == client.pk

    def get_scope(self):
        return self.scope

    def get_expires_in(self):
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self):
        return clock.now() >= self.expires_at

    def refresh_expired(self):
        return self.refresh_expires_at is None or clock.now() >= self.refresh_expires_at

    def is_revoked(self):
        return self.revoked_at is not None

    def get_user(self):
        return self.person

    def get_client(self):
        return self.client


class OidcJti(models.Model):
    """Client-assertion ids already used (private_key_jwt): a replayed assertion is refused."""

    client_id = models.CharField(max_length=64)
    jti = models.CharField(max_length=200)
    seen_at = models.DateTimeField()
    # The assertion's own expiry: after it (and the leeway) a replay is refused as expired, so the
    # row can go (services.prune).
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["client_id", "jti"], name="interop_oidcjti_unique")]


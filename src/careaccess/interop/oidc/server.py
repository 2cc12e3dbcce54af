"""The Authlib authorization server: authorization code with PKCE (S256 only) and OpenID Connect,
refresh tokens (rotated on use), token revocation (RFC 7009) and introspection (RFC 7662), client
authentication by client_secret_basic or private_key_jwt."""

from __future__ import annotations

import contextvars
import datetime as dt
from dataclasses import dataclass

from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, grants
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core.grants import OpenIDCode
from django.conf import settings

from careaccess.core import clock
from careaccess.core.tokens import hash_secret
from careaccess.directory.models import Person

from . import claims, keys, selectors, services
from .models import OidcClient, OidcCode, OidcToken

TOKEN_METHODS = ["client_secret_basic", "private_key_jwt"]

issuer_var: contextvars.ContextVar[str] = contextvars.ContextVar("oidc_issuer", default="")
# The code being redeemed, for generate_user_info (which Authlib calls without the request); a
# context variable, not an attribute of the shared extension, so concurrent requests never mix.
code_var: contextvars.ContextVar = contextvars.ContextVar("oidc_code", default=None)


def issuer() -> str:
    return getattr(settings, "CAREACCESS_OIDC_ISSUER", "") or issuer_var.get()


def token_endpoint() -> str:
    return issuer() + "/token"


def find_token(value: str, hint: str | None) -> OidcToken | None:
    """The issued token whose access or refresh token is `value` (the hint's kind looked up first),
    with `presented_as` saying which of the two it was."""
    found = OidcToken.objects.select_related("client", "person")
    kinds = ("refresh_token", "access_token") if hint == "refresh_token" else ("access_token", "refresh_token")
    for kind in kinds:
        column = "refresh_digest" if kind == "refresh_token" else "access_digest"
        token = found.filter(**{column: hash_secret(value)}).first()
        if token is not None:
            token.presented_as = kind
            return token
    return None


class S256Challenge(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge", redirect_uri=redirect_uri)
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256", redirect_uri=redirect_uri)
        return super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge_method(self, authorization_code):
        return authorization_code.code_challenge_method


@dataclass(frozen=True)
class Consent:
    """What the authorize page passes Authlib as the granting user: who consented, how their
    session signed in, the role they chose and their session's id (for back-channel logout)."""

    person: Person
    sign_in: claims.SignIn
    selected_assignment_id: int | None
    session_id: str


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_METHODS

    def save_authorization_code(self, code, request):
        consent: Consent = request.user
        data = request.payload.data
        services.issue_code(
            code=code, client=request.client, person=consent.person, redirect_uri=request.payload.redirect_uri or "",
            scope=request.payload.scope or "", nonce=data.get("nonce", ""), code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"], sign_in=consent.sign_in,
            selected_assignment_id=consent.selected_assignment_id, session_id=consent.session_id)

    def query_authorization_code(self, code, client):
        # Unspent and in date; services.issue_tokens spends it in the transaction that stores the
        # tokens, so of two redemptions (or a concurrent pair) one gets tokens, the other invalid_grant.
        lifetime = dt.timedelta(seconds=settings.CAREACCESS_OIDC_CODE_SECONDS)
        return OidcCode.objects.select_related("person").filter(
            code_digest=hash_secret(code), client=client, used_at__isnull=True,
            created_at__gt=clock.now() - lifetime).first()

    def delete_authorization_code(self, authorization_code):
        pass  # spent by services.issue_tokens; kept for the record until services.prune

    def authenticate_user(self, authorization_code):
        return authorization_code.person


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        return selectors.refresh_token(refresh_token)

    def authenticate_user(self, refresh_token):
        return refresh_token.person

    def revoke_old_credential(self, refresh_token):
        pass  # spent by services.issue_tokens, in the transaction that issues its successor


class OpenID(OpenIDCode):
    def exists_nonce(self, nonce, request):
        # Codes are pruned after their lifetime, and with them the nonces they carried: a nonce
        # is refused while a code made with it could still be exchanged.
        return OidcCode.objects.filter(client=request.client, nonce=nonce).exists()

    def resolve_client_private_key(self, client):
        return keys.signing_key()

    def get_client_algorithm(self, client):
        return keys.ALG

    def get_encode_header(self, client):
        return {"alg": keys.ALG, "kid": keys.signing_key().kid, "typ": "JWT"}

    def get_client_claims(self, client):
        expires = int(clock.now().timestamp()) + settings.CAREACCESS_OIDC_ACCESS_TOKEN_SECONDS
        return {"iss": issuer(), "aud": [client.client_id], "exp": expires}

    def generate_user_info(self, user, scope):
        code = code_var.get()
        info = claims.user_info(claims.subject(user.pk), scope, acr=code.acr,
                                selected_assignment_id=code.selected_assignment_id)
        if code.session_id:
            info["sid"] = code.session_id
        return info

    def encode_id_token(self, token, request):
        code_var.set(request.authorization_code)
        return super().encode_id_token(token, request)


class PrivateKeyJWT(JWTBearerClientAssertion):
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def get_audiences(self):
        return [token_endpoint(), issuer(), issuer() + "/revoke", issuer() + "/introspect"]

    def validate_jti(self, claims_, jti):
        # exp is essential to Authlib's check of the assertion, which runs before this one.
        expires_at = dt.datetime.fromtimestamp(int(claims_["exp"]), tz=dt.timezone.utc)
        return services.remember_assertion(client_id=str(claims_["sub"]), jti=str(jti), expires_at=expires_at)

    def resolve_client_public_key(self, client):
        from joserfc.jwk import KeySet

        return KeySet.import_key_set(client.public_jwks())


class Revocation(RevocationEndpoint):
    """RFC 7009: a client revokes one of its own tokens; the access and refresh token issued
    together end together. An unknown token is answered 200, a foreign one invalid_grant."""

    CLIENT_AUTH_METHODS = TOKEN_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def revoke_token(self, token, request):
        services.revoke_token(token, presented_as=token.presented_as)


class Introspection(IntrospectionEndpoint):
    """RFC 7662: a client asks whether one of its own tokens is active. Revoked, expired, unknown
    and other clients' tokens, and tokens of a person no longer active, are all `active: false`."""

    CLIENT_AUTH_METHODS = TOKEN_METHODS

    def query_token(self, token_string, token_type_hint):
        return find_token(token_string, token_type_hint)

    def check_permission(self, token, client, request):
        return token.check_client(client)

    def create_introspection_payload(self, token):
        if token is None or token.is_revoked() or token.person.status != Person.Status.ACTIVE:
            return {"active": False}
        issued = int(token.issued_at.timestamp())
        payload = {"active": True, "scope": token.scope, "client_id": token.client.client_id, "sub": token.person.uid,
                   "aud": token.client.client_id, "iss": issuer(), "iat": issued}
        if token.presented_as == "access_token":
            if token.is_expired():
                return {"active": False}
            payload.update(token_type="Bearer", exp=int(token.expires_at.timestamp()))
        else:
            if token.refresh_expired():
                return {"active": False}
            payload.update(exp=int(token.refresh_expires_at.timestamp()))
        return payload


class Server(AuthorizationServer):
    def load_config(self, config):
        super().load_config({"refresh_token_generator": True, **(config or {})})

    def create_bearer_token_generator(self):
        generator = super().create_bearer_token_generator()
        # Read when each token is made, not when the server is built (the setting may change).
        generator.expires_generator = lambda client, grant_type: settings.CAREACCESS_OIDC_ACCESS_TOKEN_SECONDS
        return generator

    def query_client(self, client_id):
        return selectors.client(client_id)

    def save_token(self, token, request):
        try:
            return services.issue_tokens(client=request.client, person=request.user, token=token,
                                         grant_type=request.payload.grant_type, code=request.authorization_code,
                                         refresh=request.refresh_token)
        except services.TokenSpent as spent:
            raise InvalidGrantError(spent.message) from None


def build_server() -> Server:
    server = Server(OidcClient, OidcToken)
    server.register_client_auth_method(PrivateKeyJWT.CLIENT_AUTH_METHOD, PrivateKeyJWT())
    server.register_grant(CodeGrant, [S256Challenge(required=True), OpenID(require_nonce=False)])
    server.register_grant(RefreshGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    return server


server = build_server()

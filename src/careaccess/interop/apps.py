from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "careaccess.interop"
    label = "interop"
    verbose_name = "interoperability (SCIM 2.0, FHIR R4)"

    def ready(self):
        # Sign-out ends OIDC sessions (a user_logged_out receiver) and the worker knows how to
        # deliver their back-channel logout notices (an outbox sender).
        from .oidc import logout  # noqa: F401

from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "careaccess.identity"
    label = "identity"
    verbose_name = "identity checks"

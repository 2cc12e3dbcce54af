from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "careaccess.credentials"
    label = "credentials"
    verbose_name = "credentials"

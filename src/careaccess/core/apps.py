from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "careaccess.core"
    label = "core"
    verbose_name = "careaccess core"

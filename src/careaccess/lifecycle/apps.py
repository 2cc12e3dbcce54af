from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "careaccess.lifecycle"
    label = "lifecycle"
    verbose_name = "lifecycle"

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "careaccess.core.outbox"
    label = "outbox"
    verbose_name = "outbox"

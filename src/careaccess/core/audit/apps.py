from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "careaccess.core.audit"
    label = "audit"
    verbose_name = "audit ledger"

from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "careaccess.reports"
    label = "reports"
    verbose_name = "reports"

from django.apps import AppConfig


class AccessRequestsConfig(AppConfig):
    name = "careaccess.access_requests"
    label = "access_requests"
    verbose_name = "access requests"

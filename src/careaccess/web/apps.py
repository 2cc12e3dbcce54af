from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "careaccess.web"
    label = "web"
    verbose_name = "web pages"

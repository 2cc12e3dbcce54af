from django.apps import AppConfig


class DirectoryConfig(AppConfig):
    name = "careaccess.directory"
    label = "directory"
    verbose_name = "directory"

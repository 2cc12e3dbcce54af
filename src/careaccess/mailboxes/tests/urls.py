"""The mailboxes pages where the project mounts them, with the shell's pages."""

from django.urls import include, path

urlpatterns = [
    path("mailboxes/", include("careaccess.mailboxes.urls")),
    path("", include("careaccess.web.urls")),
]

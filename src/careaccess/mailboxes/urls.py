from django.urls import path

from . import views

app_name = "mailboxes"

urlpatterns = [
    path("apply", views.apply, name="apply"),
    path("apply/received", views.applied, name="applied"),
    path("applications", views.queue, name="queue"),
    path("applications/<str:reference>", views.application, name="application"),
    path("applications/<str:reference>/report", views.report, name="report"),
    path("homes", views.homes, name="homes"),
    path("homes/<int:unit_id>", views.home, name="home"),
    path("first-sign-in", views.first_sign_in, name="first-sign-in"),
    path("directory", views.directory, name="directory"),
]

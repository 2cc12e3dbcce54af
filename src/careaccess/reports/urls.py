"""Reports on the page shell: mounted at /reports/ (careaccess/urls.py)."""

from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("", views.index, name="index"),
    path("bulk", views.bulk_page, name="bulk"),
    path("<slug:name>.csv", views.report_csv, name="csv"),
    path("<slug:name>", views.report, name="report"),
]

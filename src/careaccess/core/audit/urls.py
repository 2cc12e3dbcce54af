"""Reading the audit ledger on the page shell: mounted at /audit/ (careaccess/urls.py)."""

from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.ledger, name="ledger"),
    path("<int:index>", views.entry, name="entry"),
]

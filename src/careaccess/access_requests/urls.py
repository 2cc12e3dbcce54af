"""The access request pages, mounted at /requests/ (careaccess/urls.py)."""

from django.urls import path

from . import training_views, views

app_name = "requests"

urlpatterns = [
    path("", views.queues, name="queues"),
    path("queues/to-validate", views.to_validate, name="to-validate"),
    path("queues/organisation", views.queues, {"name": "organisation"}, name="queue-organisation"),
    path("queues/mine", views.queues, {"name": "mine"}, name="queue-mine"),
    path("queues/desk", views.queues, {"name": "desk"}, name="queue-desk"),
    path("queues/authoriser", views.queues, {"name": "authoriser"}, name="queue-authoriser"),
    path("queues/back-office", views.queues, {"name": "back_office"}, name="queue-back-office"),
    path("queues/<str:path>", views.no_such_queue),
    path("new", views.raise_choose, name="raise"),
    path("new/<str:kind>", views.raise_kind, name="raise-kind"),
    path("batches/new", views.batch_upload, name="batch-upload"),
    path("batches/confirm", views.batch_confirm, name="batch-confirm"),
    path("batches/<str:reference>", views.batch_detail, name="batch"),
    path("batches/<str:reference>/<str:action>", views.batch_act, name="batch-act"),
    path("training/<str:uid>", training_views.record, name="training"),
    path("<str:reference>", views.detail, name="detail"),
    path("<str:reference>/evidence", views.record_evidence, name="evidence"),
    path("<str:reference>/<str:action>", views.act, name="act"),
]

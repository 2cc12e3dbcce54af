from django.urls import path, re_path

from . import views

urlpatterns = [
    path("metadata", views.metadata, name="fhir-metadata"),
    path("Practitioner", views.practitioner_search),
    path("Practitioner/<str:resource_id>", views.practitioner_read),
    path("PractitionerRole", views.role_search),
    path("PractitionerRole/<str:resource_id>", views.role_read),
    path("Organization", views.organization_search),
    path("Organization/<str:resource_id>", views.organization_read),
    re_path(r"^(?P<rest>.*)$", views.unknown),
]

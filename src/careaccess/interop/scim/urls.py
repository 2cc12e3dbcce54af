from django.urls import path, re_path

from . import views

urlpatterns = [
    path("", views.root, name="scim-root"),
    path("ServiceProviderConfig", views.service_provider_config),
    path("ResourceTypes", views.resource_types),
    path("ResourceTypes/<str:name>", views.resource_types),
    path("Schemas", views.schemas),
    path("Schemas/<str:urn>", views.schemas),
    path("Bulk", views.bulk),
    path(".search", views.root_search),
    re_path(r"^(?P<kind>Users|Groups)$", views.collection),
    re_path(r"^(?P<kind>Users|Groups)/\.search$", views.search),
    re_path(r"^(?P<kind>Users|Groups)/(?P<resource_id>[^/]+)$", views.item),
    re_path(r"^(?P<rest>.*)$", views.not_found),
]

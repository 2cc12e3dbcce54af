"""A URL configuration for the API tests: this app's router on its own API instance, with the
project's bearer auth and problem bodies, at /api/v1/requests (where the project mounts it)."""

from django.urls import path

from careaccess.api import problems
from careaccess.api.api import CareAccessAPI
from careaccess.api.auth import BearerToken
from careaccess.access_requests.api import router

api = CareAccessAPI(title="careaccess API (access requests tests)", version="1", urls_namespace="requests-test",
                    auth=BearerToken())
problems.install(api)
api.add_router("/requests", router, url_name_prefix="requests-test")

urlpatterns = [path("api/v1/", api.urls)]

"""This app's router on its own API instance, at /api/v1/mailboxes (where the project mounts it)."""

from django.urls import path

from careaccess.api import problems
from careaccess.api.api import CareAccessAPI
from careaccess.api.auth import BearerToken
from careaccess.mailboxes.api import router

api = CareAccessAPI(title="careaccess API (mailboxes tests)", version="1", urls_namespace="mailboxes-test",
                    auth=BearerToken())
problems.install(api)
api.add_router("/mailboxes", router, url_name_prefix="mailboxes-test")

urlpatterns = [path("api/v1/", api.urls)]

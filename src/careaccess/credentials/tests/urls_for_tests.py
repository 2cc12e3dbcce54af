"""The identity and card routers on their own API instance, as the main API will mount them, and the
CRL at /pki/crl.der: so these tests do not depend on urls.py and api/api.py."""

from django.urls import path
from ninja import NinjaAPI

from careaccess.api import problems
from careaccess.api.auth import BearerToken
from careaccess.credentials import views
from careaccess.credentials.api import router as cards_router
from careaccess.identity.api import router as identity_router

api = NinjaAPI(title="careaccess identity and cards (tests)", version="test", urls_namespace="credentials-tests",
               auth=BearerToken())
problems.install(api)
api.add_router("/identity", identity_router)
api.add_router("/cards", cards_router)

urlpatterns = [
    path("api/v1/", api.urls),
    path("pki/crl.der", views.crl, name="crl"),
]

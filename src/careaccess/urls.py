from django.urls import include, path

from careaccess.api import decisions
from careaccess.api.api import api
from careaccess.credentials import views as credentials_views
from careaccess.web import views as web_views

urlpatterns = [
    path("healthz", web_views.healthz, name="healthz"),
    path("api/v1/decisions", decisions.decide),  # well-formed decisions, ahead of the API (api/decisions.py)
    path("api/v1/", api.urls),
    path("pki/crl.der", credentials_views.crl, name="crl"),
    path("scim/v2/", include("careaccess.interop.scim.urls")),
    path("fhir/R4/", include("careaccess.interop.fhir.urls")),
    path("audit/", include("careaccess.core.audit.urls")),
    path("requests/", include("careaccess.access_requests.urls")),
    path("reports/", include("careaccess.reports.urls")),
    path("lifecycle/", include("careaccess.lifecycle.urls")),
    path("mailboxes/", include("careaccess.mailboxes.urls")),
    path("account/", include("careaccess.credentials.urls")),
    path("oidc/", include("careaccess.interop.oidc.urls")),
    path("", include("careaccess.web.urls")),
]

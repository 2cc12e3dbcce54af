"""The published CRL at a stable URL (wired at /pki/crl.der): the newest CRL, DER, public."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.http import http_date
from django.views.decorators.http import require_GET

from . import selectors


@require_GET
def crl(request):
    issue = selectors.latest_crl()
    if issue is None:
        return HttpResponse("No CRL has been published yet: run `careaccess pki init`.\n", status=503,
                            content_type="text/plain; charset=utf-8")
    response = HttpResponse(bytes(issue.der), content_type="application/pkix-crl")
    response["Content-Disposition"] = 'inline; filename="crl.der"'
    response["Last-Modified"] = http_date(issue.this_update.timestamp())
    response["Expires"] = http_date(issue.next_update.timestamp())
    response["Cache-Control"] = "public, max-age=300"
    response["ETag"] = f'"crl-{issue.id}"'
    return response

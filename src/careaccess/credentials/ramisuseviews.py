"""The RA manager decides reports of smartcard misuse (SC3) and the loss or theft checks a
cancellation opens (SC6): the open reports, and one report's decision — no action, suspend or
revoke the card's access — with the reason (`services.decide_misuse`, audited). Who may decide is
the service's question, as the API's list and decision ask it (`card.misuse_decide`), for reports
about holders their position covers: a report about anyone else is as one nobody made (404)."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from careaccess.core.errors import CareAccessError
from careaccess.directory.person_search import about_readable
from careaccess.web import auth as web_auth
from careaccess.web.forms import error_summary

from . import selectors, services
from .models import MisuseReport
from .racardviews import refusal_errors

DECIDERS = ("ra_manager",)
OUTCOMES = {
    MisuseReport.Outcome.NO_ACTION: "No action: the card stays as it is",
    MisuseReport.Outcome.SUSPENDED: "Suspend the card's access (it can be reinstated)",
    MisuseReport.Outcome.REVOKED: "Revoke the card's access: its certificate is revoked for good",
}
DECIDED = "careaccess.cards.decided"  # session: the report just decided, for the confirmation panel


@web_auth.staff_required(capabilities=DECIDERS)
@never_cache
@require_GET
def misuse_reports(request):
    reports = list(selectors.open_misuse_reports(request.actor).order_by("reported_at", "id")[:500])
    decided_id = request.session.pop(DECIDED, None)
    decided = MisuseReport.objects.select_related("card__person").filter(id=decided_id).first() if decided_id else None
    return render(request, "credentials/ra_misuse_reports.jinja", {"reports": reports, "decided": decided})


@web_auth.staff_required(capabilities=DECIDERS)
@never_cache
@require_http_methods(["GET", "POST"])
def decide_misuse(request, report_id: int):
    reports = about_readable(request.actor, MisuseReport.objects.select_related("card__person", "card__certificate"),
                             "card.misuse_decide", "card__person_id")
    report = reports.filter(id=report_id).first()  # one beyond the actor's positions is as one nobody made
    if report is None:
        return render(request, "credentials/ra_card_unknown.jinja", {
            "message": f"No misuse report has the number {report_id}"}, status=404)
    values = {"outcome": request.POST.get("outcome", ""), "reason": request.POST.get("reason", "").strip()}
    field_errors, status = {}, 200
    if request.method == "POST":
        try:
            services.decide_misuse(request.actor, report.id, outcome=values["outcome"], reason=values["reason"])
        except CareAccessError as error:
            field_errors, status = refusal_errors(error, "outcome")
        else:
            request.session[DECIDED] = report.id
            return redirect(reverse("credentials:misuse-reports"))
    return render(request, "credentials/ra_misuse_decide.jinja", {
        "report": report, "values": values, "outcomes": OUTCOMES, "field_errors": field_errors,
        "errors": error_summary(field_errors, ("outcome", "reason"))}, status=status)

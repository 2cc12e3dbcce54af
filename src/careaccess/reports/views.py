"""Reports on the page shell (rules DS17, PP15, DS4): `/reports/` lists them, `/reports/<name>`
shows one a page at a time (a table, and a bar chart where a trend reads better), and
`/reports/<name>.csv` streams every row. Thin: the queries, the scope and the recording are
`selectors`'."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from careaccess.core import permissions
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.web.auth import forbidden, staff_required
from careaccess.web.forms import error_summary
from careaccess.web.paging import page_number

from . import export, selectors
from .chart import bar_chart
from .export import cell

READERS = permissions.ACTIONS["report.read"]


def _report(name: str) -> selectors.Report:
    report = selectors.REPORTS.get(name)
    if report is None:
        raise Http404("no such report")
    return report



def _url(request, **changes) -> str:
    query = request.GET.copy()
    for key, value in changes.items():
        query[key] = str(value)
    return f"{request.path}?{query.urlencode()}"


@never_cache
@require_GET
@staff_required(capabilities=READERS)
def index(request):
    actor = request.actor
    available = [r for r in selectors.REPORTS.values() if permissions.can(actor, r.needs)]
    return render(request, "reports/index.jinja", {"reports": available})


@never_cache
@require_GET
@staff_required(capabilities=READERS)
def report(request, name: str):
    report = _report(name)
    actor = request.actor
    if not permissions.can(actor, report.needs):
        return forbidden(request, permissions.ACTIONS[report.needs])
    errors, page, params = [], None, {}
    asked = bool(request.GET) or not report.required
    if asked:
        try:
            params = selectors.clean_params(report, request.GET)
            page = selectors.run(actor, report, params, page=page_number(request.GET.get("page")),
                                 size=settings.CAREACCESS_PAGE_SIZE)
        except InvalidInput as error:
            errors = error_summary(error.errors)
            page = None
        except Forbidden as error:
            return forbidden(request, message=error.message)
    keys = [key for key, _ in report.columns]
    rows = [[cell(row.get(k)) for k in keys] for row in page.rows] if page else []
    context = {
        "report": report, "errors": errors, "page": page, "rows": rows, "values": request.GET,
        "head": [{"text": heading} for _, heading in report.columns],
        "chart": bar_chart(page.chart, report.chart_title) if page and page.chart else "",
        "chart_rows": page.chart if page else [],
        "csv_url": f"{request.path}.csv?{request.GET.urlencode()}",
        "previous_url": _url(request, page=page.number - 1) if page and page.number > 1 else None,
        "next_url": _url(request, page=page.number + 1) if page and page.has_next else None,
    }
    return render(request, "reports/report.jinja", context)


@never_cache
@require_GET
@staff_required(capabilities=READERS)
def report_csv(request, name: str):
    report = _report(name)
    actor = request.actor
    try:
        params = selectors.clean_params(report, request.GET)
        rows = selectors.stream(actor, report, params)
    except InvalidInput as error:
        return render(request, "reports/report.jinja", {
            "report": report, "values": request.GET, "rows": [], "page": None, "chart": "", "chart_rows": [],
            "errors": error_summary(error.errors),
            "csv_url": "", "previous_url": None, "next_url": None}, status=400)
    except Forbidden as error:
        return forbidden(request, message=error.message)
    response = StreamingHttpResponse(export.lines(report, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{report.name}.csv"'
    return response


BULK_FIELDS = ("operation", "organisation", "position", "target", "target_organisation", "service", "on", "reason")
BULK_LABELS = {
    "end-assignments": "End every assignment of a position on a date",
    "suspend-accounts": "Suspend every account on a service of an organisation's people",
    "move-assignments": "Move everyone from one position to another on a date",
}


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required(capabilities=permissions.ACTIONS["bulk.apply"])
def bulk_page(request):
    """Rule DS17: the RA manager previews a bulk change (how many, and who), then applies it.
    Large changes are better run with `careaccess bulk` (a progress bar, no browser waiting)."""
    from . import bulk

    actor = request.actor
    data = request.POST if request.method == "POST" else request.GET
    fields = {name: data.get(name, "") for name in BULK_FIELDS}
    errors, plan, result = [], None, None
    if data.get("operation"):
        try:
            plan = bulk.plan_from(actor, fields)
            if request.method == "POST" and data.get("confirm") == str(plan.count):
                result = bulk.apply(actor, plan)
                plan = None
            elif request.method == "POST":
                errors = error_summary({"operation": "The number of people changed since the preview: check the new preview"})
        except InvalidInput as error:
            errors = error_summary(error.errors)
            plan = None
        except Forbidden as error:
            return forbidden(request, message=error.message)
    context = {"fields": fields, "errors": errors, "plan": plan, "result": result, "labels": BULK_LABELS,
               "error_for": {e["href"][1:]: e["text"] for e in errors}}
    return render(request, "reports/bulk.jinja", context)

"""Staff pages for people: `/people` finds them by user id, name or email address; `/people/<uid>`
shows one person. Only the people in the organisations the acting position covers are found or
shown; anyone else is "page not found", as if they did not exist. Searches and pages read are
recorded in the audit ledger (`directory.person_search`)."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from careaccess.core import permissions
from careaccess.core.errors import InvalidInput
from careaccess.directory import person_search

from . import person_links, person_summary
from .forms import error_summary
from .paging import page_number, page_url
from .auth import staff_required

READERS = permissions.ACTIONS[person_search.READ]




@never_cache
@require_GET
@staff_required(capabilities=READERS)
def people(request):
    typed = request.GET.get("q", "")
    result, errors = None, []
    if "q" in request.GET:
        try:
            result = person_search.search(request.actor, typed, page=page_number(request.GET.get("page")),
                                          size=settings.CAREACCESS_PAGE_SIZE)
        except InvalidInput as error:
            errors = error_summary(error.errors)
    context = {"q": typed, "errors": errors, "result": result}
    if result is not None:
        context["previous_url"] = page_url(request, result.page - 1) if result.page > 1 else None
        context["next_url"] = page_url(request, result.page + 1) if result.has_next else None
    return render(request, "web/people.jinja", context)


@never_cache
@require_GET
@staff_required(capabilities=READERS)
def person(request, uid: str):
    found = person_search.read_person(request.actor, uid)
    if found is None:
        raise Http404("no such person, or not one you may read")
    summary = person_summary.summary(request.actor, found.person)
    return render(request, "web/person.jinja", {
        "summary": summary, "person": found.person, "links": person_links.links(request.actor, summary)})

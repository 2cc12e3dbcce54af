"""Reading the audit ledger on the page shell (rule PP15): `/audit` searches the entries the acting
position may read (auditor or RA manager), newest first; `/audit/<index>` shows one entry with its
before and after, the access request that caused it and the rest of its web request.

Thin by design: the scope, the filters and the recording are `search`'s. Every page of results and
every entry opened is itself an audit entry.
"""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from careaccess.core import clock
from careaccess.core.errors import InvalidInput
from careaccess.directory.rules import is_user_id
from careaccess.web.auth import staff_required
from careaccess.web.forms import error_list
from careaccess.web.paging import page_number, page_url

from . import search
from .api import access_request_path

READERS = ("auditor", "ra_manager")

# Filters the page reads from its query string, in the order the error summary lists them.
DATE_PARTS = ("day", "month", "year")


PART_HINTS = {"day": "the day as a number from 1 to 31, like 15", "month": "the month as a number from 1 to 12, like 6",
              "year": "the year as 4 digits, like 2026"}


def _plausible(part: str, value: str) -> bool:
    """Could this be that part of some date (the day 1-31, the month 1-12, a 4-digit year)?"""
    if not value.isdigit():
        return False
    return len(value) == 4 if part == "year" else 1 <= int(value) <= (31 if part == "day" else 12)


class SearchForm(forms.Form):
    """The search form: a GET form, so a search is a link that can be bookmarked or shared."""

    person = forms.CharField(required=False, max_length=40)
    organisation = forms.CharField(required=False, max_length=40)
    actor = forms.CharField(required=False, max_length=200,
                            error_messages={"max_length": "Who made the change must be 200 characters or fewer"})
    kind = forms.CharField(required=False, max_length=100,
                           error_messages={"max_length": "Kind of change must be 100 characters or fewer"})
    access_request = forms.CharField(required=False, max_length=40,
                                     error_messages={"max_length": "Access request must be 40 characters or fewer"})
    request_id = forms.CharField(required=False, max_length=64,
                                 error_messages={"max_length": "Web request ID must be 64 characters or fewer"})
    from_day = forms.CharField(required=False)
    from_month = forms.CharField(required=False)
    from_year = forms.CharField(required=False)
    to_day = forms.CharField(required=False)
    to_month = forms.CharField(required=False)
    to_year = forms.CharField(required=False)

    LABELS = {"from": "From date", "to": "To date"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.wrong_parts: dict[str, tuple[str, ...]] = {}  # date prefix -> the parts to mark in error

    def clean_person(self) -> str:
        value = "".join(self.cleaned_data["person"].split())
        if value and not is_user_id(value):
            raise forms.ValidationError("Enter the person's 12-digit user ID, like 123456789012")
        return value

    def clean_organisation(self) -> str:
        value = self.cleaned_data["organisation"].strip().upper()
        if len(value) > 20:
            raise forms.ValidationError("Organisation code must be 20 characters or fewer")
        return value

    def _date(self, prefix: str) -> dt.date | None:
        label = self.LABELS[prefix]
        parts = {part: (self.cleaned_data.get(f"{prefix}_{part}") or "").strip() for part in DATE_PARTS}
        given = [part for part in DATE_PARTS if parts[part]]
        if not given:
            return None
        # A part typed wrong is named before any part left out (?from_day=abc: the day is wrong).
        wrong = [part for part in given if not _plausible(part, parts[part])]
        if wrong:
            self.wrong_parts[prefix] = tuple(wrong)
            self.add_error(f"{prefix}_{wrong[0]}", f"{label} must be a real date: enter "
                                                   f"{' and '.join(PART_HINTS[part] for part in wrong)}")
            return None
        missing = [part for part in DATE_PARTS if not parts[part]]
        if missing:
            self.wrong_parts[prefix] = tuple(missing)
            self.add_error(f"{prefix}_{missing[0]}", f"{label} must include a {' and a '.join(missing)}")
            return None
        try:
            if not all(parts[part].isdigit() for part in DATE_PARTS) or len(parts["year"]) != 4:
                raise ValueError
            return dt.date(int(parts["year"]), int(parts["month"]), int(parts["day"]))
        except ValueError:
            self.wrong_parts[prefix] = DATE_PARTS
            self.add_error(f"{prefix}_day", f"{label} must be a real date")
            return None

    def clean(self):
        data = super().clean()
        since, until = self._date("from"), self._date("to")
        if since and until and until < since:
            self.wrong_parts["to"] = DATE_PARTS
            self.add_error("to_day", "To date must be the same as or after the from date")
        data["since"], data["until"] = since, until
        return data

    def filters(self) -> search.EntryFilter:
        data = self.cleaned_data
        zone = clock.local_zone()
        start = dt.datetime.combine(data["since"], dt.time(), zone) if data["since"] else None
        # The "to" date is included: the period ends at the start of the next day.
        end = dt.datetime.combine(data["until"] + dt.timedelta(days=1), dt.time(), zone) if data["until"] else None
        return search.EntryFilter(
            person=data["person"] or None, organisation=data["organisation"] or None,
            actor=data["actor"].strip() or None, action=data["kind"].strip() or None,
            access_request=data["access_request"].strip() or None, request_id=data["request_id"].strip() or None,
            since=start, until=end,
        )

    def date_error(self, prefix: str) -> dict | None:
        """The error message of a date's fieldset (the NHS.UK date input shows one for all three parts)."""
        for part in DATE_PARTS:
            messages = self.errors.get(f"{prefix}_{part}") if self.is_bound else None
            if messages:
                return {"text": messages[0]}
        return None


# The service's field names -> the form's, for the rare message only the service gives.
SERVICE_FIELDS = {"person": "person", "organisation": "organisation", "since": "from_day", "until": "to_day"}




def _date_items(form: SearchForm, prefix: str) -> list[dict]:
    """The day, month and year inputs; a missing part is marked in error, a date that is not real all three."""
    wrong = form.wrong_parts.get(prefix, ())
    if not wrong and form.date_error(prefix):  # a message from the service, about the whole date
        wrong = DATE_PARTS
    return [
        {"id": f"{prefix}_{part}", "name": f"{prefix}_{part}", "label": part.capitalize(),
         "value": form.data.get(f"{prefix}_{part}", ""), "width": 4 if part == "year" else 2,
         "classes": "nhsuk-input--error" if part in wrong else ""}
        for part in DATE_PARTS
    ]


@never_cache
@require_GET
@staff_required(capabilities=READERS)
def ledger(request):
    """Search the audit ledger. Always shows the newest entries the reader may see, filtered."""
    actor = request.actor
    form = SearchForm(request.GET)
    rows, count, page, pages = [], 0, 1, 1
    searched = False
    if form.is_valid():
        filters = form.filters()
        try:
            queryset = search.entries(actor, filters)
        except InvalidInput as error:
            for field, message in error.errors.items():
                target = SERVICE_FIELDS.get(field)
                form.add_error(target, message[:1].upper() + message[1:])
        else:
            size = settings.CAREACCESS_PAGE_SIZE
            count = queryset.count()
            pages = max(1, -(-count // size))
            page = min(page_number(request.GET.get("page")), pages)
            rows = list(queryset[(page - 1) * size: page * size])
            search.record_search(actor, filters, len(rows))
            searched = True
    errors = error_list(form, "person") if form.errors else []
    first = (page - 1) * settings.CAREACCESS_PAGE_SIZE + 1
    context = {
        "form": form, "errors": errors, "searched": searched, "rows": rows, "count": count, "page": page,
        "pages": pages, "first": first, "last": first + len(rows) - 1,
        "previous_url": page_url(request, page - 1) if page > 1 else None,
        "next_url": page_url(request, page + 1) if page < pages else None,
        "from_items": _date_items(form, "from"), "to_items": _date_items(form, "to"),
        "from_error": form.date_error("from"), "to_error": form.date_error("to"),
    }
    return render(request, "audit/ledger.jinja", context, status=200)


def _pretty(text: str) -> str:
    value = json.loads(text)
    return "" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@never_cache
@require_GET
@staff_required(capabilities=READERS)
def entry(request, index: int):
    """One entry: who, in which position, what, to what, before and after, and where it came from."""
    actor = request.actor
    found = search.get_entry(actor, index)
    if found is None:
        raise Http404("no such audit entry, or not one you may read")
    search.record_read(actor, found)
    context = {
        "entry": found,
        "before": _pretty(found.before),
        "after": _pretty(found.after),
        "request_url": access_request_path(found.access_request) if found.access_request else None,
        "same_request_url": (f"{reverse('audit:ledger')}?{urlencode({'request_id': found.request_id})}"
                             if found.request_id else None),
        "person_url": (f"{reverse('audit:ledger')}?{urlencode({'person': found.person_uid})}"
                       if found.person_uid else None),
    }
    return render(request, "audit/entry.jinja", context)

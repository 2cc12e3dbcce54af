"""`/requests/training/<uid>`: record a person's training to action requests (rule PP5), for one
service or every service, and see what is recorded. Staff with `request.training` (core.permissions)
only; the write is identity's `record_training` (kind "actioning"), through services.record_training."""

from __future__ import annotations

from django import forms as django_forms
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from careaccess.core import permissions
from careaccess.core.errors import Forbidden, InvalidInput
from careaccess.directory.models import Person, Service
from careaccess.directory.person_search import reading
from careaccess.identity import selectors as identity_selectors
from careaccess.web.auth import forbidden, staff_required
from careaccess.web.forms import error_list

from . import services
from .forms import DatesMixin, add_service_errors, date_part_names

EVERY_SERVICE = "*"
FLASH = "careaccess.requests.training.flash"


class TrainingForm(DatesMixin, django_forms.Form):
    service = django_forms.ChoiceField(choices=(), error_messages={
        "required": "Select the service the training is for, or every service",
        "invalid_choice": "Select one of the services listed"})
    date_fields = ("completed_on", "valid_until")
    date_labels = {"completed_on": "Date the training was completed", "valid_until": "Date it stops being current"}

    def __init__(self, *args, services_=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["service"].choices = [("", "Select a service"), (EVERY_SERVICE, "Every service")] + [
            (s.code, s.name) for s in services_]
        self._add_date_fields()

    def clean(self):
        data = self._clean_dates(super().clean())
        if data.get("completed_on") is None and not any(self.errors.get(n) for n in date_part_names("completed_on")):
            self.add_error("completed_on_day", "Enter the date the training was completed")
        return data


def _person(request, uid: str) -> Person:
    person = Person.objects.filter(uid=uid.strip()).first()
    if person is None or reading(request.actor, person) is None:
        raise Http404("no such person, or not one you may read")
    return person


@never_cache
@require_http_methods(["GET", "POST"])
@staff_required
def record(request, uid: str):
    if not permissions.can(request.actor, "request.training"):
        return forbidden(request, message="Only an RA manager records training to action requests (rule PP5).")
    person = _person(request, uid)
    active = list(Service.objects.filter(status=Service.Status.ACTIVE).order_by("name"))
    form = TrainingForm(request.POST or None, services_=active)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        service = next((s for s in active if s.code == data["service"]), None)
        try:
            services.record_training(request.actor, person, completed_on=data["completed_on"], service=service,
                                     valid_until=data["valid_until"])
        except InvalidInput as exc:
            add_service_errors(form, exc.errors)
        except Forbidden as exc:
            return forbidden(request, message=exc.message[:1].upper() + exc.message[1:])
        else:
            request.session[FLASH] = (f"Training to action {service.name if service else 'every service’s'} "
                                      f"requests recorded for {person.full_name}")
            return redirect("requests:training", person.uid)
    return render(request, "requests/training.jinja", {
        "person": person, "form": form, "errors": error_list(form) if form.is_bound else [],
        "records": identity_selectors.actioning_training(person), "flash": request.session.pop(FLASH, None),
    }, status=422 if form.errors else 200)

"""Staff pages for a person's second factors: RA staff find the person, see their authenticators
and remove a lost one (`removal.remove_authenticator`), with the person present."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from careaccess.core.errors import CareAccessError, Forbidden, InvalidInput
from careaccess.directory.models import Person
from careaccess.identity.models import IdentityCheck
from careaccess.identity.rules import PHOTO_DOCUMENTS
from careaccess.web import auth as web_auth
from careaccess.web.forms import error_summary

from . import removal

RA_STAFF = ("ra_agent", "ra_manager")
FIELDS = ("id_document", "in_person", "reason")


def _person(uid: str) -> Person | None:
    return Person.objects.filter(uid=str(uid or "").strip()).first()


@web_auth.staff_required(capabilities=RA_STAFF)
@require_GET
def find_person(request):
    """Find a person by user id, then go to their sign-in security page."""
    uid = request.GET.get("uid", "").strip()
    errors = []
    if "uid" in request.GET:
        person = _person(uid) if uid else None
        if person is not None and _may_open(request.actor, person):
            return redirect(reverse("credentials:person-authenticators", args=[uid]))
        message = ("Enter the person's user ID" if not uid else
                   f"No person you can manage has the user ID {uid}: check the 12 digits on their card or record")
        errors = error_summary({"uid": message})
    return render(request, "credentials/find_person.jinja", {"uid": uid, "errors": errors},
                  status=422 if errors else 200)


def _may_open(actor, person: Person) -> bool:
    """Whether the find page goes on to the person's page: one they may manage, or their own (which
    says why not, DS5). Anyone else is answered as a user ID nobody has."""
    try:
        removal.authorise(actor, person)
    except Forbidden:
        return actor.kind == "person" and actor.person_id == person.id
    return True


def _allowed_person(request, uid: str):
    """The person, or the page to show instead. A user ID nobody has and a person this actor may
    not manage get the same 404 page, so the answer never tells whether someone exists outside the
    actor's reach (as the person pages and the API answer); only the actor's own record is refused
    with a reason (DS5), which tells them nothing they do not know."""
    person = _person(uid)
    if person is not None:
        try:
            request.actor = removal.authorise(request.actor, person)
            return person, None
        except Forbidden as refused:
            if request.actor.kind == "person" and request.actor.person_id == person.id:
                return None, web_auth.forbidden(request, message=refused.message)
    return None, render(request, "credentials/find_person.jinja", {"uid": uid, "errors": error_summary(
        {"uid": f"No person you can manage has the user ID {uid}: check the 12 digits"})}, status=404)


@web_auth.staff_required(capabilities=RA_STAFF)
@never_cache
@require_GET
def person_authenticators(request, uid: str):
    person, refusal = _allowed_person(request, uid)
    if refusal is not None:
        return refusal
    return render(request, "credentials/person_authenticators.jinja", {
        "person": person, "authenticators": removal.authenticators_of(person),
        "removed": request.GET.get("removed", "")})


@web_auth.staff_required(capabilities=RA_STAFF)
@never_cache
@require_http_methods(["GET", "POST"])
def remove_authenticator(request, uid: str, authenticator_id: str):
    person, refusal = _allowed_person(request, uid)
    if refusal is not None:
        return refusal
    chosen = next((a for a in removal.authenticators_of(person) if a.id == authenticator_id), None)
    if chosen is None:
        return redirect(reverse("credentials:person-authenticators", args=[uid]))
    values = {"id_document": "", "in_person": False, "reason": ""}
    field_errors = {}
    if request.method == "POST":
        values = {"id_document": request.POST.get("id_document", ""), "in_person": request.POST.get("in_person") == "yes",
                  "reason": request.POST.get("reason", "")}
        try:
            removal.remove_authenticator(request.actor, person, authenticator_id, **values)
        except InvalidInput as error:
            field_errors = error.errors
        except CareAccessError as error:
            field_errors = {"__all__": error.message}
        else:
            target = reverse("credentials:person-authenticators", args=[uid])
            return redirect(f"{target}?{urlencode({'removed': chosen.name})}")
    errors = error_summary(field_errors, FIELDS)
    documents = [(value, label) for value, label in IdentityCheck.DocumentType.choices if value in PHOTO_DOCUMENTS]
    return render(request, "credentials/remove_authenticator.jinja", {
        "person": person, "authenticator": chosen, "values": values, "field_errors": field_errors, "errors": errors,
        "documents": documents}, status=422 if errors else 200)

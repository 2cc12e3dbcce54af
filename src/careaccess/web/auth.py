"""Who is signed in, and in which position they act: the helpers every page uses.

A person with one staff position acts in it; a person with several picks one on the "Choose the
position you act in" page, kept in the session as an assignment id. `actor_for_request` gives the
`Actor` that service functions take; `@staff_required` guards staff pages.
"""

from __future__ import annotations

import dataclasses
import functools
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.directory.models import Person

from . import sign_in_steps

SESSION_ASSIGNMENT = "careaccess.assignment_id"
# Set at sign-in for staff who must use a second factor and have none: every page but the
# enrolment pages (marked `second_factor_exempt`) sends them to set one up first.
SESSION_MUST_ENROL = "careaccess.must_enrol_second_factor"
# A password checked, the second step not yet passed: {"person": pk, "at": iso time, "next": url}.
SESSION_PENDING_SECOND_FACTOR = "careaccess.pending_second_factor"
# How this session signed in, as RFC 8176 method references: ["pwd"], ["pwd", "otp"], ["pwd", "hwk"], ["sc"].
SESSION_AMR = "careaccess.amr"
# The page of the step a person has to take first, set at sign-in (sign_in_steps, e.g. a mailbox
# user's first sign-in, NM8): until it is taken, every page but the step's own sends them there.
SESSION_PENDING_STEP = "careaccess.pending_step"


class NotSignedIn(Exception):
    """The request has no signed-in person."""


@dataclasses.dataclass
class Shell:
    """What the layout shows about the signed-in person; computed once per request."""

    person: Person
    grants: list[permissions.Grant]
    acting: permissions.Grant | None

    @property
    def needs_choice(self) -> bool:
        return self.acting is None and len(self.grants) > 1


def person_for_request(request: HttpRequest) -> Person | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    try:
        return user.person
    except Person.DoesNotExist:
        return None


def shell(request: HttpRequest) -> Shell | None:
    """The signed-in person, their staff positions and the one they act in (None when signed out).

    The acting position comes from the session, checked against their live positions on every
    request: a position that has ended is dropped, and a person with exactly one acts in it."""
    if hasattr(request, "_careaccess_shell"):
        return request._careaccess_shell
    person = person_for_request(request)
    result = None
    if person is not None:
        grants = permissions.grants(person.pk)
        chosen = request.session.get(SESSION_ASSIGNMENT)
        acting = next((g for g in grants if g.assignment_id == chosen), None)
        if acting is None and len(grants) == 1:
            acting = grants[0]
        if acting is None and chosen is not None:
            request.session.pop(SESSION_ASSIGNMENT, None)
        elif acting is not None and chosen != acting.assignment_id:
            request.session[SESSION_ASSIGNMENT] = acting.assignment_id
        result = Shell(person=person, grants=grants, acting=acting)
    request._careaccess_shell = result
    return result


def forget_shell(request: HttpRequest) -> None:
    if hasattr(request, "_careaccess_shell"):
        del request._careaccess_shell


def actor_for_request(request: HttpRequest) -> Actor:
    """The signed-in person as an Actor, acting in their chosen staff position (if any).

    Raises NotSignedIn when nobody (or a sign-in with no person record) is signed in."""
    current = shell(request)
    if current is None:
        raise NotSignedIn("sign in first")
    actor = permissions.actor_for_person(current.person, current.acting.assignment_id if current.acting else None)
    if current.acting is not None:
        actor = dataclasses.replace(actor, position_label=current.acting.position_label)
    return actor


def sign_in_redirect(request: HttpRequest):
    return redirect(f"{settings.LOGIN_URL}?{urlencode({'next': request.get_full_path()})}")


def choose_position_redirect(request: HttpRequest):
    return redirect(f"{reverse('web:choose-position')}?{urlencode({'next': request.get_full_path()})}")


def enrol_redirect(request: HttpRequest):
    return redirect(f"{reverse('credentials:totp-enrol')}?{urlencode({'next': request.get_full_path()})}")


def _must_enrol(request: HttpRequest, view) -> bool:
    return bool(request.session.get(SESSION_MUST_ENROL)) and not getattr(view, "second_factor_exempt", False)


def _pending_step(request: HttpRequest, person: Person) -> str | None:
    """The page of the step this session must take before this one, if any. Only a session
    flagged at sign-in asks (one query); the flag goes once nothing is pending."""
    if not request.session.get(SESSION_PENDING_STEP):
        return None
    url = sign_in_steps.pending(person)
    if url is None:
        request.session.pop(SESSION_PENDING_STEP, None)
        return None
    return None if request.path == url else url


def unfinished_sign_in(request: HttpRequest, person: Person, view) -> HttpResponse | None:
    """Where a signed-in person must go before `view`: enrolling the second factor they must use,
    or a step after sign-in. None when the view may be shown. Pages get this from the decorators
    below; a view that signs people into other services (OIDC authorize) asks it itself."""
    if _must_enrol(request, view):
        return enrol_redirect(request)
    step = _pending_step(request, person)
    return redirect(step) if step is not None else None


def signin_required(view):
    """The page needs a signed-in person (staff position or not). Sets `request.actor`."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        current = shell(request)
        if current is None:
            return sign_in_redirect(request)
        unfinished = unfinished_sign_in(request, current.person, view)
        if unfinished is not None:
            return unfinished
        request.actor = actor_for_request(request)
        return view(request, *args, **kwargs)

    return wrapped


def staff_required(view=None, *, capabilities: tuple[str, ...] = ()):
    """The page needs a signed-in person acting in a staff position — one carrying one of
    `capabilities` when given. Sends others to sign in, or to choose their position when they
    have several; refuses (403) those without one. Sets `request.actor`.

    Use as `@staff_required` or `@staff_required(capabilities=("ra_agent", "ra_manager"))`.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            current = shell(request)
            if current is None:
                return sign_in_redirect(request)
            unfinished = unfinished_sign_in(request, current.person, view)
            if unfinished is not None:
                return unfinished
            if current.needs_choice:
                return choose_position_redirect(request)
            allowed = current.acting is not None and (
                not capabilities or current.acting.capabilities.intersection(capabilities)
            )
            if not allowed:
                return forbidden(request, capabilities)
            request.actor = actor_for_request(request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate


def forbidden(request: HttpRequest, capabilities: tuple[str, ...] = (), message: str | None = None):
    from .menu import capability_title

    if message is None:
        if capabilities:
            needed = ", ".join(capability_title(c) for c in capabilities)
            message = f"This page needs a position with one of these rights: {needed}."
        else:
            message = "This page is for staff. None of your live positions carries a staff right."
    return render(request, "web/forbidden.jinja", {"message": message}, status=403)

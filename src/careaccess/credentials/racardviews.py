"""The registration authority's smartcard pages for a person (issue 5): find them, list their cards
and issue one. The pages for one card are in `racardactions`, misuse decisions in `ramisuseviews`.

Every change is a service call (`services`), which checks permission and the rules and audits, as
the API's and the CLI's do; a refusal is shown as the NHS.UK error summary, 422 (403 when not
allowed), with nothing changed. Whom a page shows: the people whose cards the member of staff may
see (`cardaccess.may_see`). Anyone else gets the answer an unknown user ID gets, so nobody learns
from these pages whether a person they may not see exists."""

from __future__ import annotations

import functools

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from careaccess.core import clock, permissions
from careaccess.core.errors import CareAccessError, Conflict, Forbidden, InvalidInput
from careaccess.directory import person_search
from careaccess.directory.models import Person
from careaccess.directory.rules import is_user_id
from careaccess.identity import selectors as identity_selectors
from careaccess.web import auth as web_auth
from careaccess.web.forms import error_summary

from . import cardaccess, policy, selectors, services
from .models import Card, MisuseReport

DONE = "careaccess.cards.done"  # session: the change just made, for the confirmation panel
ISSUE_FIELDS = ("serial", "sponsor", "request_reference", "pin", "pin_again")


def signed_in(view):
    """Signed in and acting in a chosen position; no staff right needed to reach the page (a
    pharmacist unlocks at their pharmacy, DS8): the services decide."""

    @functools.wraps(view)
    def chosen(request, *args, **kwargs):
        if web_auth.shell(request).needs_choice:
            return web_auth.choose_position_redirect(request)
        return view(request, *args, **kwargs)

    return web_auth.signin_required(chosen)


def _visible(actor, uid: str) -> Person | None:
    uid = str(uid or "").strip()
    person = Person.objects.filter(uid=uid).first() if is_user_id(uid) else None
    return person if person is not None and cardaccess.may_see(actor, person) else None


def _unknown_message(actor, uid: str) -> tuple[str, int]:
    """One answer for a user ID nobody has and for a person the actor may not see: 404 when the
    actor sees everyone's cards (nothing to hide), 403 otherwise."""
    if permissions.covered_organisations(actor, "card.read") is None:
        return f"No person has the user ID {uid}: check the 12 digits on their card or record", 404
    return (f"No person in the organisations you act for has the user ID {uid}: check the 12 digits on their "
            f"card or record", 403)


def holder_or_refusal(request, uid: str):
    """The card holder, or the page to answer instead."""
    person = _visible(request.actor, uid)
    if person is not None:
        return person, None
    message, status = _unknown_message(request.actor, uid)
    return None, render(request, "credentials/ra_card_unknown.jinja", {"message": message}, status=status)


def cards_url(person: Person) -> str:
    return reverse("credentials:person-cards", args=[person.uid])


def done(request, person: Person, what: str, serial: str):
    """After a change: back to the person's cards, which confirm it in a panel (once)."""
    request.session[DONE] = {"what": what, "uid": person.uid, "serial": serial}
    return redirect(cards_url(person))


def refusal_errors(error: CareAccessError, anchor: str) -> tuple[dict[str, str], int]:
    """A service's refusal by field: its own fields, or the one the page names (`anchor`)."""
    if isinstance(error, InvalidInput):
        return error.errors, 422
    return {anchor: error.message}, 403 if isinstance(error, Forbidden) else 422


@signed_in
@never_cache
@require_GET
def find_card_holder(request):
    """Find a person by user ID, then go to their smartcards."""
    uid = request.GET.get("uid", "").strip()
    errors = []
    if "uid" in request.GET:
        if uid and _visible(request.actor, uid) is not None:
            return redirect(reverse("credentials:person-cards", args=[uid]))
        message = _unknown_message(request.actor, uid)[0] if uid else "Enter the person's user ID"
        errors = error_summary({"uid": message})
    return render(request, "credentials/ra_card_find.jinja", {
        "uid": uid, "errors": errors, "may_decide": permissions.can(request.actor, "card.misuse_decide")},
        status=422 if errors else 200)


def _confirmation(request, person: Person, cards: list[Card]) -> dict | None:
    made = request.session.pop(DONE, None)
    if not made or made.get("uid") != person.uid:
        return None
    card = next((c for c in cards if c.serial == made.get("serial")), None)
    if card is None:
        return None
    check_open = MisuseReport.objects.filter(card=card, outcome=MisuseReport.Outcome.OPEN).exists()
    return {"what": made["what"], "card": card, "misuse_check": check_open}


@signed_in
@never_cache
@require_GET
def person_cards(request, uid: str):
    """A person's cards, newest first: state, certificate expiry, and what the viewer may do."""
    person, refusal = holder_or_refusal(request, uid)
    if refusal is not None:
        return refusal
    cards = list(selectors.cards_of(person))
    replaced = {c.replaces_id for c in cards if c.replaces_id}
    reports = list(MisuseReport.objects.filter(card__in=cards, outcome=MisuseReport.Outcome.OPEN)
                   .select_related("card").order_by("reported_at", "id"))
    return render(request, "credentials/ra_cards.jinja", {
        "person": person, "cards": cards, "replaced": replaced, "reports": reports, "now": clock.now(),
        "allowed": cardaccess.allowed(request.actor, person), "check": identity_selectors.latest_check(person),
        "confirmation": _confirmation(request, person, cards)})


def _issue_anchor(error: CareAccessError, actor, sponsor: Person | None) -> str:
    if isinstance(error, Forbidden) and sponsor is not None and actor.person_id == sponsor.id:
        return "sponsor"  # the sponsor of the request never issues its card (DS5)
    if isinstance(error, Conflict):
        return "serial"
    return "identity" if isinstance(error, services.Refused) else "holder-details"


def _sponsor(actor, uid: str) -> Person | None:
    """The request's sponsor, when the actor may look them up (else as if nobody had the ID)."""
    person = Person.objects.filter(uid=uid).first() if is_user_id(uid) else None
    return person if person is not None and person_search.reading(actor, person) is not None else None


@signed_in
@never_cache
@require_http_methods(["GET", "POST"])
def issue_card(request, uid: str):
    """Issue a card to a verified person (DS1, DS5): the holder types the PIN they choose, twice."""
    person, refusal = holder_or_refusal(request, uid)
    if refusal is not None:
        return refusal
    if request.method == "GET" and (refused := cardaccess.refusal(request.actor, person, "issue")) is not None:
        return web_auth.forbidden(request, message=refused.message)
    values = {name: request.POST.get(name, "").strip() for name in ("serial", "sponsor", "request_reference")}
    field_errors, status = {}, 200
    if request.method == "POST":
        pin = request.POST.get("pin", "")
        sponsor = _sponsor(request.actor, values["sponsor"]) if values["sponsor"] else None
        if pin != request.POST.get("pin_again", ""):
            field_errors, status = {"pin_again": f"the two PINs differ: ask {person.full_name} to type the same "
                                                 f"new PIN in both boxes"}, 422
        elif values["sponsor"] and sponsor is None:
            field_errors, status = {"sponsor": f"no person you may look up has the user ID {values['sponsor']}: "
                                               f"enter the sponsor's 12-digit user ID, or leave it empty"}, 422
        else:
            try:
                card = services.issue_card(request.actor, person, pin=pin, sponsor=sponsor,
                                           serial=values["serial"] or None,
                                           request_reference=values["request_reference"])
            except CareAccessError as error:
                field_errors, status = refusal_errors(error, _issue_anchor(error, request.actor, sponsor))
            else:
                return done(request, person, "issued", card.serial)
    return render(request, "credentials/ra_card_issue.jinja", {
        "person": person, "values": values, "field_errors": field_errors,
        "errors": error_summary(field_errors, ISSUE_FIELDS), "check": identity_selectors.latest_check(person),
        "pin_min": policy.pin_min_length(), "pin_max": policy.pin_max_length()}, status=status)

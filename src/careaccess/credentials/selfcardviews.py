"""The card holder's own smartcard pages: renew the certificate (DS11, DS13), register for
self-service unlock, and unlock a locked card with an emailed one-time code (DS9).

Pages only: every rule is the service's (`services.self_renewal_refusal`, `self_renew`,
`register_self_unlock`, `request_unlock_code`, `self_unlock`), as for /api/v1/cards. Renewal and
registration need the holder signed in; unlocking does not (a locked card cannot sign anyone in):
it takes what the API takes — the card's serial, then the code from the holder's mailbox — and
tells no more than the API does about a serial. The one thing checked here is that the new PIN
was typed the same twice (the API takes it once), before the service is asked, so a slip costs
no code attempt.
"""

from __future__ import annotations

import datetime as dt

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods

from careaccess.core.errors import CareAccessError, InvalidInput
from careaccess.web import auth as web_auth
from careaccess.web.forms import error_summary

from . import policy, rules, selectors, services
from .models import Card

# The public unlock journey keeps, in the (anonymous) session, the card a code was sent for.
SESSION_UNLOCK = "careaccess.card_unlock"
SESSION_UNLOCKED = "careaccess.card_unlocked"
UNLOCK_FIELDS = ("code", "new_pin", "confirm_pin")


def account_context(person, card: Card | None) -> dict:
    """What the account page's smartcard section needs: may the holder renew now (and if not, why),
    is self-service unlock registered, and is there a mailbox to register with."""
    if card is None:
        return {}
    return {"renewal_refusal": services.self_renewal_refusal(card),
            "self_unlock_registered_at": card.self_service_registered_at,
            "has_mailbox": services.mailbox_address(person) is not None}


def _by_field(error: CareAccessError, default_field: str = "__all__") -> dict[str, str]:
    """A service's refusal by field: InvalidInput's own fields, a refusal about the one-time code at
    the code field (`services.CodeRefused`), any other at `default_field`."""
    if isinstance(error, InvalidInput):
        return dict(error.errors)
    return {getattr(error, "field", None) or default_field: error.message}


def _shown(field_errors: dict[str, str], order: tuple[str, ...] = ()):
    """Messages as the page shows them (capitalised, as the error summary does) and the summary."""
    shown = {field: message[:1].upper() + message[1:] for field, message in field_errors.items()}
    return shown, error_summary(field_errors, order)


# --- renewal (DS11, DS13), signed in -------------------------------------------------------------

@web_auth.signin_required
@never_cache
@require_http_methods(["GET", "POST"])
def renew(request):
    """Renew your own card's certificate, in the 90 days before it expires (DS13), at most 3 times
    (DS13), never on a card of series 01-03 (DS11); an expired one goes to the RA for repair."""
    person = web_auth.shell(request).person
    card = selectors.current_card(person)
    if card is None:
        return redirect(reverse("credentials:account"))
    errors = []
    if request.method == "POST":
        try:
            services.self_renew(request.actor, card)
        except CareAccessError as error:
            _, errors = _shown(_by_field(error))
        else:
            return redirect(reverse("credentials:account") + "?updated=card-renewed")
        card = selectors.current_card(person) or card
    refusal = services.self_renewal_refusal(card)
    return render(request, "credentials/card_renew.jinja", {
        "card": card, "certificate": card.certificate, "refusal": refusal, "errors": errors,
        "max_renewals": policy.max_renewals(), "window_days": policy.self_renewal_window_days(),
        "ra_email": policy.ra_email()}, status=422 if errors else 200)


# --- registering for self-service unlock (DS9), signed in ----------------------------------------

@web_auth.signin_required
@never_cache
@require_http_methods(["GET", "POST"])
def register_unlock(request):
    """Register your card for self-service unlock: it needs a mailbox account (DS9)."""
    person = web_auth.shell(request).person
    card = selectors.current_card(person)
    if card is None:
        return redirect(reverse("credentials:account"))
    errors = []
    if request.method == "POST":
        try:
            services.register_self_unlock(request.actor, card)
        except CareAccessError as error:
            _, errors = _shown(_by_field(error))
        else:
            return redirect(reverse("credentials:account") + "?updated=self-unlock")
    has_mailbox = services.mailbox_address(person) is not None
    return render(request, "credentials/card_unlock_register.jinja", {
        "card": card, "has_mailbox": has_mailbox, "sent_to": services.masked_mailbox(person) if has_mailbox else "",
        "minutes": policy.unlock_code_minutes(), "errors": errors}, status=422 if errors else 200)


# --- self-service unlock (DS9), not signed in ------------------------------------------------------

def _pending_unlock(request) -> dict | None:
    return request.session.get(SESSION_UNLOCK)


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def unlock_start(request):
    """Card locked? Enter its serial: a one-time code goes to the registered holder's mailbox."""
    serial, field_errors, errors = "", {}, []
    if request.method == "GET":
        serial = (_pending_unlock(request) or {}).get("serial", "")
    else:
        serial = request.POST.get("serial", "").strip()
        try:
            if not serial:
                raise InvalidInput({"serial": "enter the serial number printed on your smartcard, like 0612345678"})
            try:
                serial = rules.check_serial(serial)
            except ValueError as exc:
                raise InvalidInput({"serial": str(exc)}) from None
            code = services.request_unlock_code(serial)
        except CareAccessError as error:
            field_errors, errors = _shown(_by_field(error, default_field="serial"), ("serial",))
        else:
            request.session[SESSION_UNLOCK] = {
                "serial": code.card.serial, "sent_to": services.masked_mailbox(code.card.person),
                "expires_at": code.expires_at.isoformat()}
            return redirect(reverse("credentials:self-unlock-code"))
    return render(request, "credentials/card_unlock_start.jinja", {
        "serial": serial, "field_errors": field_errors, "errors": errors,
        "minutes": policy.unlock_code_minutes()}, status=422 if errors else 200)


@sensitive_post_parameters("code", "new_pin", "confirm_pin")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def unlock_code(request):
    """Enter the emailed code and a new PIN, twice: the card is unlocked (DS9)."""
    pending = _pending_unlock(request)
    if pending is None:
        return redirect(reverse("credentials:self-unlock"))
    field_errors, errors, code = {}, [], ""
    if request.method == "POST":
        code = request.POST.get("code", "").strip()
        new_pin = request.POST.get("new_pin", "")
        confirm_pin = request.POST.get("confirm_pin", "")
        if not code:
            field_errors["code"] = "enter the 8-digit code from the email we sent you"
        if new_pin != confirm_pin:
            field_errors["confirm_pin"] = "the two PINs are not the same: enter your new PIN again, the same twice"
        if field_errors:  # the service is not asked: say now too what is wrong with the PIN itself
            try:
                rules.check_pin(new_pin, policy.pin_min_length(), policy.pin_max_length())
            except ValueError as exc:
                field_errors["new_pin"] = str(exc)
        else:
            try:
                services.self_unlock(pending["serial"], code=code, new_pin=new_pin)
            except CareAccessError as error:
                field_errors = _by_field(error)
            else:
                # The pending code stays: sent again (the back button), it is refused as used.
                request.session[SESSION_UNLOCKED] = pending["serial"]
                return redirect(reverse("credentials:self-unlock-done"))
        field_errors, errors = _shown(field_errors, ("__all__", *UNLOCK_FIELDS))
    return render(request, "credentials/card_unlock_code.jinja", {
        "serial": pending["serial"], "sent_to": pending["sent_to"],
        "expires_at": dt.datetime.fromisoformat(pending["expires_at"]), "code": code,
        "field_errors": field_errors, "errors": errors, "pin_min": policy.pin_min_length(),
        "pin_max": policy.pin_max_length()}, status=422 if errors else 200)


@never_cache
@require_GET
def unlock_done(request):
    serial = request.session.get(SESSION_UNLOCKED)
    if serial is None:
        return redirect(reverse("credentials:self-unlock"))
    return render(request, "credentials/card_unlock_done.jinja", {"serial": serial})

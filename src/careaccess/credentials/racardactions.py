"""The RA's pages for one of a person's cards: unlock with the holder present (DS3, DS8), assisted
renewal (SC9, DS11, DS13), repair in person, cancel (SC6), replace (DS12, DS14), report suspected
misuse (SC3) and reinstate a suspended card. Each page is a form whose submission is one service
call; the rules are the service's. A refusal is shown at the field it is about, or at the card's
details when it is about the card (its state, its certificate, who may act)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from careaccess.core import clock
from careaccess.core.errors import CareAccessError, Conflict, Forbidden
from careaccess.web import auth as web_auth
from careaccess.web.forms import error_summary

from . import cardaccess, policy, rules, selectors, services
from .racardviews import done, holder_or_refusal, refusal_errors, signed_in

CARD = "card-details"  # the anchor of the card's summary on each page
PIN_FIELDS = frozenset({"new_pin", "new_pin_again"})  # never shown again

REPLACEMENT_REASONS = {
    "lost": "Lost", "stolen": "Stolen", "damaged": "Damaged", "faulty": "Faulty",
    "series_not_renewable": "Its series cannot renew certificates (01, 02 or 03)",
    "renewals_used": "Its certificate has been renewed the most times allowed",
    "name_change": "The holder's name has changed", "other": "Another reason (say which below)",
}


@dataclass(frozen=True)
class Page:
    """One card page: its form's fields (in page order), the service call a submission makes,
    and the field a refusal that names no field of its own is shown at."""

    name: str
    fields: tuple[str, ...]
    act: Callable[..., object]
    anchor: Callable[[CareAccessError, dict], str] = lambda error, values: CARD
    done: str = ""


def _ticked(values: dict, field: str) -> bool:
    return values.get(field) == "yes"


def _presence_anchor(field: str):
    def anchor(error: CareAccessError, values: dict) -> str:
        # The service refuses first when the holder is not there (DS3); that refusal is about the box.
        return field if isinstance(error, Forbidden) and not _ticked(values, field) else CARD
    return anchor


def _replace_anchor(error: CareAccessError, values: dict) -> str:
    return "serial" if isinstance(error, Conflict) and values["serial"] and values["serial"] in error.message else CARD


def _unlock(actor, card, values):
    return services.unlock_card(actor, card.serial, new_pin=values["new_pin"],
                                holder_present=_ticked(values, "holder_present"))


def _replace(actor, card, values):
    return services.replace_card(actor, card.serial, reason=values["reason"], note=values["note"],
                                 serial=values["serial"] or None)


PAGES = {page.name: page for page in (
    Page("unlock", ("holder_present", "new_pin", "new_pin_again"), _unlock,
         anchor=_presence_anchor("holder_present"), done="unlocked"),
    Page("renew", (), lambda actor, card, values: services.renew_assisted(actor, card.serial), done="renewed"),
    Page("repair", ("in_person",), lambda actor, card, values: services.repair_card(
        actor, card.serial, in_person=_ticked(values, "in_person")),
         anchor=_presence_anchor("in_person"), done="repaired"),
    Page("cancel", ("reason", "note"), lambda actor, card, values: services.cancel_card(
        actor, card.serial, reason=values["reason"], note=values["note"]), done="cancelled"),
    Page("replace", ("reason", "note", "serial"), _replace, anchor=_replace_anchor, done="replaced"),
    Page("misuse", ("description",), lambda actor, card, values: services.report_misuse(
        actor, card.serial, description=values["description"]), done="misuse"),
    Page("reinstate", ("reason",), lambda actor, card, values: services.reinstate_card(
        actor, card.serial, reason=values["reason"]), done="reinstated"),
)}


def _mismatch(page: Page, values: dict, holder) -> dict[str, str]:
    if "new_pin_again" in page.fields and values["new_pin"] != values["new_pin_again"]:
        return {"new_pin_again": f"the two PINs differ: ask {holder.full_name} to type the same new PIN in both boxes"}
    return {}


def _render(request, page: Page, holder, card, values, field_errors, status):
    shown = {k: ("" if k in PIN_FIELDS else v) for k, v in values.items()}
    return render(request, f"credentials/ra_card_{page.name}.jinja", {
        "person": holder, "card": card, "values": shown, "field_errors": field_errors, "now": clock.now(),
        "errors": error_summary(field_errors, page.fields), "pin_min": policy.pin_min_length(),
        "pin_max": policy.pin_max_length(), "cancel_reasons": rules.CANCEL_REASONS,
        "replacement_reasons": REPLACEMENT_REASONS, "max_renewals": policy.max_renewals(),
        "non_renewable": policy.non_renewable_series()}, status=status)


@signed_in
@never_cache
@require_http_methods(["GET", "POST"])
def card_page(request, uid: str, serial: str, action: str):
    page = PAGES.get(action)
    if page is None:
        raise Http404("no such card page")
    holder, refusal = holder_or_refusal(request, uid)
    if refusal is not None:
        return refusal
    card = selectors.cards_of(holder).filter(serial=str(serial).strip()).first()
    if card is None:
        return render(request, "credentials/ra_card_unknown.jinja", {
            "message": f"{holder.full_name} has no card with the serial {serial}: check the serial printed on it",
            "person": holder}, status=404)
    if request.method == "GET":
        refused = cardaccess.refusal(request.actor, holder, page.name)
        if refused is not None:
            return web_auth.forbidden(request, message=refused.message)
        return _render(request, page, holder, card, {}, {}, 200)
    values = {field: request.POST.get(field, "") for field in page.fields}
    values.update({k: v.strip() for k, v in values.items() if k not in PIN_FIELDS})
    field_errors, status = _mismatch(page, values, holder), 422
    if not field_errors:
        try:
            result = page.act(request.actor, card, values)
        except CareAccessError as error:
            field_errors, status = refusal_errors(error, page.anchor(error, values))
        else:
            return done(request, holder, page.done, getattr(result, "serial", card.serial))
    return _render(request, page, holder, card, values, field_errors, status)

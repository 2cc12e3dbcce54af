"""The card sign-in page (issue 5, item 5): the server issues a challenge, the card signs it with
its key, careaccess checks the chain, expiry, the CRL and the card's state (`signin.verify_sign_in`).

A browser has no card reader here: in a deployment the card middleware on the workstation reads
the challenge, asks the holder for the PIN and signs it. This page takes the card's answer (its
certificate and the signature, base64) as a form, which is what the software card produces in
tests and demos. It says so on the page."""

from __future__ import annotations

import base64

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from careaccess.core.errors import CareAccessError
from careaccess.directory.models import Person
from careaccess.identity import selectors as identity_selectors

from . import signin


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def card_sign_in(request):
    from careaccess.web import views as web_views

    error = None
    if request.method == "POST":
        terms = identity_selectors.current_terms()
        accept = terms.version if terms is not None and request.POST.get("accept_terms") else None
        try:
            result = signin.verify_sign_in(nonce=request.POST.get("nonce", ""),
                                           certificate="".join(request.POST.get("certificate", "").split()),
                                           signature="".join(request.POST.get("signature", "").split()),
                                           accept_terms_version=accept)
        except CareAccessError as refused:
            fields = getattr(refused, "errors", None) or {}
            detail = fields.get("certificate") or fields.get("signature") or refused.message
            error = f"Your card could not sign you in: {detail}."
        else:
            person = Person.objects.select_related("user").get(pk=result.person_id)
            if person.user is None:
                error = "Your card is valid, but you have no careaccess sign-in. Contact your registration authority."
            else:
                # The card is two factors itself (the card's key, unlocked by the PIN): no second step.
                web_views.complete_sign_in(request, person, ["sc"])
                return web_views.after_sign_in(request, request.POST.get("next"))
    challenge = signin.issue_challenge()
    terms = identity_selectors.current_terms()
    return render(request, "credentials/card_sign_in.jinja", {
        "nonce": challenge.nonce, "challenge": base64.b64encode(signin.challenge_bytes(challenge.nonce)).decode(),
        "expires_at": challenge.expires_at, "terms": terms, "error": error, "next": request.GET.get("next", ""),
        "sign_in_url": reverse("web:sign-in")}, status=200 if error is None else 422)

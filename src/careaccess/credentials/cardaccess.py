"""Which of the RA's smartcard pages a member of staff may use for a card holder, for pages to
link to what they may do and to hide the people they may not see. Every answer is the services'
own check (`services.authorise_for_holder`, `core.permissions`) asked without acting: the pages
still call the service, which decides again under its lock, and audits."""

from __future__ import annotations

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import Forbidden
from careaccess.directory.models import Person

from . import services

# page -> (the action the service authorises, whether a pharmacist at the holder's pharmacy may too: DS8)
HOLDER_ACTIONS: dict[str, tuple[str, bool]] = {
    "issue": ("card.issue", False),
    "unlock": ("card.unlock", True),
    "renew": ("card.renew", True),
    "repair": ("card.repair", False),
    "cancel": ("card.cancel", False),
    "replace": ("card.replace", False),
}
# Pages whose service asks a right anywhere, not one at the holder's organisation (SC3).
ANYWHERE_ACTIONS: dict[str, str] = {"misuse": "card.misuse_report", "reinstate": "card.misuse_decide",
                                    "decide": "card.misuse_decide"}
# Nobody takes these for their own card here (the services refuse: DS5, DS3; holders self-renew).
NOT_FOR_ONESELF = frozenset({"issue", "unlock", "renew", "repair", "replace"})


def refusal(actor: Actor, holder: Person, page: str) -> Forbidden | None:
    """Why the actor may not use `page` for this holder's cards, or None when they may."""
    try:
        if page in ANYWHERE_ACTIONS:
            permissions.authorise(actor, ANYWHERE_ACTIONS[page])
        else:
            action, pharmacist = HOLDER_ACTIONS[page]
            services.authorise_for_holder(actor, action, holder, pharmacist=pharmacist)
    except Forbidden as refused:
        return refused
    return None


def allowed(actor: Actor, holder: Person) -> frozenset[str]:
    """The pages the actor may use for this holder's cards (links; the services decide on submit)."""
    own = actor.kind == "person" and actor.person_id == holder.id
    return frozenset(page for page in (*HOLDER_ACTIONS, *ANYWHERE_ACTIONS)
                     if not (own and page in NOT_FOR_ONESELF) and refusal(actor, holder, page) is None)


def may_see(actor: Actor, holder: Person) -> bool:
    """May the actor see this holder's cards: staff reading cards at one of the holder's
    organisations (SC9: a sponsor must know the person), or a pharmacist at their pharmacy (DS8)."""
    for action, pharmacist in (("card.read", False), ("card.unlock", True)):
        try:
            services.authorise_for_holder(actor, action, holder, pharmacist=pharmacist)
        except Forbidden:
            continue
        return True
    return False

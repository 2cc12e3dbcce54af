"""`careaccess cards ...`: smartcards from the console (the operator acts as the system, audited as
"cli"). PINs are read from a prompt, or one per line from stdin with --pin-stdin; never arguments.

    careaccess cards list --person UID
    careaccess cards show SERIAL
    careaccess cards issue --person UID [--sponsor UID] [--serial SERIAL] [--pin-stdin]
    careaccess cards unlock SERIAL --holder-present [--pin-stdin]
    careaccess cards renew SERIAL
    careaccess cards repair SERIAL --in-person
    careaccess cards cancel SERIAL --reason {lost,stolen,damaged} [--note TEXT]
    careaccess cards replace SERIAL --reason REASON [--note TEXT]
    careaccess cards misuse SERIAL --description TEXT
    careaccess cards decide REPORT_ID --outcome {no_action,suspended,revoked} --reason TEXT
    careaccess cards reinstate SERIAL --reason TEXT
    careaccess cards answer SERIAL --challenge BASE64 [--pin-stdin]

`answer` plays the card software of a workstation for the demo's software cards: after the PIN it
signs the challenge shown on the card sign-in page (/account/card-sign-in) and prints the card's
certificate and the signature to paste there. A wrong PIN counts towards locking the card (DS8).
"""

from __future__ import annotations

import base64
import binascii
import getpass
import sys

from django.core.management.base import CommandError
from rich.console import Console
from rich.table import Table

from careaccess.core.context import Actor
from careaccess.core.management.actions import ActionCommand
from careaccess.credentials import rules, selectors, services
from careaccess.credentials.cards import SoftwareCard
from careaccess.credentials.management.people import person_by_uid

ACTOR = Actor.system("cli")


class Command(ActionCommand):
    help = "Issue, unlock, renew, repair, cancel and replace smartcards; misuse reports."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="a person's cards")
        listing.add_argument("--person", required=True, metavar="UID")
        show = sub.add_parser("show", help="one card")
        show.add_argument("serial")
        issue = sub.add_parser("issue", help="issue a card to a person whose identity was checked")
        issue.add_argument("--person", required=True, metavar="UID")
        issue.add_argument("--sponsor", default=None, metavar="UID")
        issue.add_argument("--serial", default=None)
        issue.add_argument("--pin-stdin", action="store_true", help="read the holder's PIN from stdin")
        unlock = sub.add_parser("unlock", help="unlock with the holder present setting a new PIN (DS3)")
        unlock.add_argument("serial")
        unlock.add_argument("--holder-present", action="store_true", help="the holder is here and enters the PIN")
        unlock.add_argument("--pin-stdin", action="store_true")
        renew = sub.add_parser("renew", help="assisted renewal of an unexpired certificate")
        renew.add_argument("serial")
        repair = sub.add_parser("repair", help="repair a card whose certificate expired (in person)")
        repair.add_argument("serial")
        repair.add_argument("--in-person", action="store_true")
        cancel = sub.add_parser("cancel", help="cancel a lost, stolen or damaged card")
        cancel.add_argument("serial")
        cancel.add_argument("--reason", required=True, choices=rules.CANCEL_REASONS)
        cancel.add_argument("--note", default="")
        replace = sub.add_parser("replace", help="issue a replacement (locked) for a card")
        replace.add_argument("serial")
        replace.add_argument("--reason", required=True, choices=rules.REPLACEMENT_REASONS)
        replace.add_argument("--note", default="")
        misuse = sub.add_parser("misuse", help="report suspected misuse")
        misuse.add_argument("serial")
        misuse.add_argument("--description", required=True)
        decide = sub.add_parser("decide", help="decide a misuse report")
        decide.add_argument("report", type=int)
        decide.add_argument("--outcome", required=True, choices=("no_action", "suspended", "revoked"))
        decide.add_argument("--reason", required=True)
        reinstate = sub.add_parser("reinstate", help="reinstate a suspended card")
        reinstate.add_argument("serial")
        reinstate.add_argument("--reason", required=True)
        answer = sub.add_parser("answer", help="sign a card sign-in challenge with a software card (demo card software)")
        answer.add_argument("serial")
        answer.add_argument("--challenge", required=True, metavar="BASE64", help="the challenge the sign-in page shows")
        answer.add_argument("--pin-stdin", action="store_true", help="read the holder's PIN from stdin")

    def _pin(self, options, prompt: str) -> str:
        if options.get("pin_stdin"):
            return sys.stdin.readline().strip()
        first = getpass.getpass(f"{prompt}: ")
        if getpass.getpass("Again: ") != first:
            raise CommandError("the two PINs differ; nothing was changed")
        return first

    def _print(self, cards) -> None:
        table = Table(title="Smartcards", title_justify="left")
        for column in ("serial", "holder", "state", "locked", "renewals", "certificate expires", "issued"):
            table.add_column(column, overflow="fold")
        for card in cards:
            table.add_row(card.serial, card.person.uid, card.state, card.lock_reason or "no", str(card.renewals),
                          f"{card.certificate.not_after:%Y-%m-%d}" if card.certificate_id else "-",
                          f"{card.issued_at:%Y-%m-%d}")
        Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False).print(table)

    def _done(self, card, what: str) -> None:
        self.stdout.write(f"Card {card.serial} {what}.")

    def do_list(self, options):
        self._print(selectors.cards_of(person_by_uid(options["person"])).select_related("person"))

    def do_show(self, options):
        self._print([selectors.card(options["serial"])])

    def do_issue(self, options):
        person = person_by_uid(options["person"])
        sponsor = person_by_uid(options["sponsor"]) if options["sponsor"] else None
        pin = self._pin(options, "The holder's new PIN (6 to 8 digits)")
        card = services.issue_card(ACTOR, person, pin=pin, sponsor=sponsor, serial=options["serial"])
        self._done(card, f"issued to {person.uid}; certificate valid until {card.certificate.not_after:%Y-%m-%d}")

    def do_unlock(self, options):
        pin = self._pin(options, "The holder enters their new PIN")
        card = services.unlock_card(ACTOR, options["serial"], new_pin=pin, holder_present=options["holder_present"])
        self._done(card, "unlocked")

    def do_renew(self, options):
        card = services.renew_assisted(ACTOR, options["serial"])
        self._done(card, f"renewed; certificate valid until {card.certificate.not_after:%Y-%m-%d}")

    def do_repair(self, options):
        card = services.repair_card(ACTOR, options["serial"], in_person=options["in_person"])
        self._done(card, f"repaired; certificate valid until {card.certificate.not_after:%Y-%m-%d}")

    def do_cancel(self, options):
        card = services.cancel_card(ACTOR, options["serial"], reason=options["reason"], note=options["note"])
        self._done(card, "cancelled and its certificate revoked")

    def do_replace(self, options):
        card = services.replace_card(ACTOR, options["serial"], reason=options["reason"], note=options["note"])
        extra = "; to be collected in person" if card.collect_in_person else ""
        self._done(card, f"issued locked to replace {options['serial']}{extra}")

    def do_misuse(self, options):
        report = services.report_misuse(ACTOR, options["serial"], description=options["description"])
        self.stdout.write(f"Misuse report {report.id} opened; the RA team has been emailed.")

    def do_decide(self, options):
        report = services.decide_misuse(ACTOR, options["report"], outcome=options["outcome"], reason=options["reason"])
        self.stdout.write(f"Misuse report {report.id} decided: {report.outcome}.")

    def do_reinstate(self, options):
        card = services.reinstate_card(ACTOR, options["serial"], reason=options["reason"])
        self._done(card, "reinstated")

    def do_answer(self, options):
        try:
            challenge = base64.b64decode("".join(options["challenge"].split()), validate=True)
        except (binascii.Error, ValueError):
            raise CommandError("--challenge: copy the challenge exactly as the sign-in page shows it (base64)") from None
        if not challenge:
            raise CommandError("--challenge: copy the challenge the sign-in page shows; it is empty")
        card = selectors.card(options["serial"])
        pin = sys.stdin.readline().strip() if options["pin_stdin"] else getpass.getpass("The card's PIN: ")
        soft = SoftwareCard.open(card)
        soft.verify_pin(pin)
        signature = soft.sign(challenge)
        card.refresh_from_db()
        self.stdout.write("Card certificate (base64 DER):")
        self.stdout.write(base64.b64encode(bytes(card.certificate.der)).decode())
        self.stdout.write("Signature over the challenge (base64):")
        self.stdout.write(base64.b64encode(signature).decode())

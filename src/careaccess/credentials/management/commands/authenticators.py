"""`careaccess authenticators ...`: a person's second factors from the console (the operator acts
as the system, audited as "cli").

    careaccess authenticators list --person UID
    careaccess authenticators remove AUTHENTICATOR --person UID --in-person --id-document DOCUMENT --reason TEXT
    careaccess authenticators rotate-key [--retire-old]

`remove` takes away a lost authenticator app or security key (its id from `list`), with the person
present and their photo ID checked (rules DS3, DS5); they are emailed and set up a new one at
their next sign-in. `rotate-key` adds a new key for the TOTP secrets sealed at rest
(`CAREACCESS_TOTP_KEYS`) and reseals every secret with it; `--retire-old` then drops the older keys
(run it at a quiet moment: an app being set up during the rotation may still be sealed with an
older key).
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from careaccess.core.context import Actor
from careaccess.core.management.actions import ActionCommand
from careaccess.credentials import authenticators, removal, sealing
from careaccess.credentials.management.people import person_by_uid
from careaccess.identity.rules import PHOTO_DOCUMENTS

ACTOR = Actor.system("cli")


class Command(ActionCommand):
    help = "A person's authenticator apps and security keys; remove a lost one."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="a person's second factors")
        listing.add_argument("--person", required=True, metavar="UID")
        remove = sub.add_parser("remove", help="remove a lost authenticator, the person present (DS3)")
        remove.add_argument("authenticator", help="its id from `list`, like app-3 or key-7")
        remove.add_argument("--person", required=True, metavar="UID")
        remove.add_argument("--in-person", action="store_true", help="the person is here with you")
        remove.add_argument("--id-document", required=True, choices=sorted(PHOTO_DOCUMENTS),
                            help="the photo ID you checked now")
        remove.add_argument("--reason", required=True)
        rotate = sub.add_parser("rotate-key", help="seal every TOTP secret with a new key")
        rotate.add_argument("--retire-old", action="store_true", help="then drop the older keys from the key file")

    def do_list(self, options):
        table = Table(title="Second factors", title_justify="left")
        for column in ("id", "kind", "name", "set up", "last used"):
            table.add_column(column, overflow="fold")
        for a in removal.authenticators_of(person_by_uid(options["person"])):
            table.add_row(a.id, a.kind, a.name, f"{a.registered_at:%Y-%m-%d}",
                          f"{a.last_used_at:%Y-%m-%d}" if a.last_used_at else "-")
        Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False).print(table)

    def do_remove(self, options):
        person = person_by_uid(options["person"])
        removed = removal.remove_authenticator(ACTOR, person, options["authenticator"], reason=options["reason"],
                                               in_person=options["in_person"], id_document=options["id_document"])
        self.stdout.write(f"{removed.kind} {removed.name} ({removed.id}) removed from {person.uid}'s sign-in.")

    def do_rotate_key(self, options):
        resealed = authenticators.rotate_sealing_key(ACTOR, retire_old=options["retire_old"])
        kept = "older keys retired" if options["retire_old"] else "older keys kept"
        self.stdout.write(f"{resealed} TOTP secrets resealed with a new key in {sealing.keys_path()} ({kept}).")

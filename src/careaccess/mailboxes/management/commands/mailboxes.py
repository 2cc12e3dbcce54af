"""`careaccess mailboxes list|assess|approve|reject|search|reset-password`: the care-home mailbox
applications queue and decisions (NM3-NM9), the directory search (NM10) and password resets
(NM11) from the console. `--as UID` acts as that member of staff (default: the operator)."""

from __future__ import annotations

from django.core.management.base import CommandError
from rich.console import Console
from rich.table import Table

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.management.actions import ActionCommand
from careaccess.directory.models import Person

from careaccess.mailboxes import selectors, services
from careaccess.mailboxes.models import Application, Mailbox


class Command(ActionCommand):
    help = "Care home mailboxes: list and decide applications, search the directory, reset passwords."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="applications waiting for a decision")
        listing.add_argument("--state", default="submitted", choices=Application.State.values)
        assess = sub.add_parser("assess", help="record the CQC and IG toolkit checks (NM3, NM4)")
        assess.add_argument("reference")
        assess.add_argument("--ig-toolkit-checked", action="store_true")
        assess.add_argument("--justification", default="")
        assess.add_argument("--accept-justification", action="store_true")
        approve = sub.add_parser("approve", help="approve and provision (NM5, NM7-NM9)")
        approve.add_argument("reference")
        approve.add_argument("--shared-name", default=None)
        approve.add_argument("--location", default=None)
        approve.add_argument("--hidden", action="store_true")
        reject = sub.add_parser("reject", help="reject with reasons (NM5)")
        reject.add_argument("reference")
        reject.add_argument("--reasons", required=True)
        search = sub.add_parser("search", help="search the directory (NM10)")
        search.add_argument("--name", default="")
        search.add_argument("--organisation", default="")
        search.add_argument("--role", default="")
        reset = sub.add_parser("reset-password", help="send a new temporary password (NM11)")
        reset.add_argument("address")
        for p in (listing, assess, approve, reject, reset):
            p.add_argument("--as", dest="as_uid", metavar="UID", help="act as this member of staff")

    def handle(self, *args, **options):
        self.console = Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False)
        super().handle(*args, **options)

    def _actor(self, uid: str | None) -> Actor:
        if not uid:
            return Actor.system("cli")
        person = Person.objects.filter(uid=uid.strip()).first()
        if person is None:
            raise CommandError(f"no person has the user id {uid}")
        return permissions.actor_for_person(person)

    def _app(self, actor, reference):
        return selectors.application_for(actor, reference.strip().upper())

    def do_list(self, options):
        table = Table("reference", "home", "CQC number", "sponsor", "received")
        for app in selectors.queue(self._actor(options.get("as_uid")), options["state"]):
            table.add_row(app.reference, app.home_name, app.cqc_number, app.sponsor.code, f"{app.created_at:%Y-%m-%d}")
        self.console.print(table)

    def do_assess(self, options):
        actor = self._actor(options.get("as_uid"))
        app = services.assess(actor, self._app(actor, options["reference"]),
                              ig_toolkit_checked=options["ig_toolkit_checked"], justification=options["justification"],
                              justification_accepted=options["accept_justification"])
        match = app.cqc_home.code if app.cqc_home_id else "no care home in the directory"
        self.console.print(f"{app.reference} assessed: CQC {app.cqc_number} matches {match}")

    def do_approve(self, options):
        actor = self._actor(options.get("as_uid"))
        app = services.approve(actor, self._app(actor, options["reference"]), shared_display_name=options["shared_name"],
                               location=options["location"], hidden=options["hidden"])
        self.console.print(f"{app.reference} approved; unit {app.unit.code}")
        for m in app.mailboxes.all():
            self.console.print(f"  {m.address}")
        for s in app.shared_mailboxes.all():
            self.console.print(f"  shared {s.address}")

    def do_reject(self, options):
        actor = self._actor(options.get("as_uid"))
        app = services.reject(actor, self._app(actor, options["reference"]), reasons=options["reasons"])
        self.console.print(f"{app.reference} rejected")

    def do_search(self, options):
        table = Table("name", "address", "home", "organisation", "role")
        for e in selectors.search(name=options["name"], organisation=options["organisation"], role=options["role"]):
            table.add_row(e.name, e.address, e.home, e.organisation, e.role)
        self.console.print(table)

    def do_reset_password(self, options):
        mailbox = Mailbox.objects.filter(address=options["address"].strip().lower()).first()
        if mailbox is None:
            raise CommandError(f"no mailbox has the address {options['address']}")
        services.reset_password(self._actor(options.get("as_uid")), mailbox)
        self.console.print(f"a new temporary password was sent to {mailbox.address}")

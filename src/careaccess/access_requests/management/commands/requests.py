"""`careaccess requests import FILE --organisation CODE --service CODE [--as UID] [--draft]`: a
batch of new users or changes from a CSV (rules SC11, CC7). Every row is checked first and every
bad row reported; nothing is created unless all are good, then all are raised in one transaction
as one batch. `careaccess requests list` shows a queue, overdue first (CC7)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from careaccess.access_requests import rules, selectors, services
from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.management.actions import ActionCommand
from careaccess.directory.models import Organisation, Person, Service


class Command(ActionCommand):
    help = "Access requests: import a batch from a CSV, list a queue."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{import,list}")
        batch = sub.add_parser("import", help="raise a batch of requests from a CSV (one row per request)")
        batch.add_argument("file", help=f"CSV with a header row; columns: {', '.join(rules.BATCH_COLUMNS)} "
                                        f"(kind defaults to new_user)")
        batch.add_argument("--organisation", required=True, metavar="CODE", help="the organisation the rows are for")
        batch.add_argument("--service", metavar="CODE", help="the service the accounts are on")
        batch.add_argument("--as", dest="as_uid", metavar="UID",
                           help="raise as this member of staff (default: the operator at the console)")
        batch.add_argument("--draft", action="store_true", help="leave the requests as drafts (default: submitted)")
        listing = sub.add_parser("list", help="a queue of requests, overdue first")
        listing.add_argument("--queue", default="organisation", choices=selectors.QUEUES)
        listing.add_argument("--as", dest="as_uid", metavar="UID", help="whose queue (default: every request)")

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

    def do_import(self, options):
        organisation = Organisation.objects.filter(code=options["organisation"].strip().upper()).first()
        if organisation is None:
            raise CommandError(f"no organisation has the code {options['organisation']}")
        service = None
        if options["service"]:
            service = Service.objects.filter(code=options["service"].strip()).first()
            if service is None:
                raise CommandError(f"no service has the code {options['service']}")
        path = Path(options["file"])
        try:
            rows = rules.parse_batch_csv(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {path}: {exc}") from exc
        except ValueError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        actor = self._actor(options["as_uid"])
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(file=self.stderr, highlight=False), transient=False)
        with progress:
            checking = progress.add_task("checking rows", total=len(rows))
            raising = progress.add_task("raising requests", total=len(rows))
            try:
                batch = services.import_batch(
                    actor, organisation, service, rows, filename=path.name, submit=not options["draft"],
                    checked=lambda n: progress.advance(checking, n), progress=lambda n: progress.advance(raising, n))
            except services.BatchInvalid as exc:
                progress.stop()
                self._report(exc.rows)
                raise CommandError(f"{len(exc.rows)} of {len(rows)} rows are wrong; nothing was created. "
                                   f"Correct them and import the file again.") from exc
        self.console.print(f"Batch {batch.reference}: {len(rows)} requests raised for {organisation.name} "
                           f"({'drafts' if options['draft'] else 'submitted'}).")

    def _report(self, bad: dict[int, dict[str, str]]):
        table = Table(title="Rows to correct (row 1 is the first after the header)", title_justify="left")
        for column in ("row", "field", "problem"):
            table.add_column(column, overflow="fold")
        for number, fields in sorted(bad.items()):
            for field, message in fields.items():
                table.add_row(Text(str(number)), Text("(row)" if field == "__all__" else field), Text(message))
        self.console.print(table)

    def do_list(self, options):
        actor = self._actor(options["as_uid"])
        rows = list(selectors.queue(actor, options["queue"])[:500])
        if not rows:
            self.console.print("No requests.")
            return
        table = Table(title=f"Requests: {options['queue']} queue", title_justify="left")
        for column in ("reference", "title", "organisation", "state", "due", "overdue"):
            table.add_column(column, overflow="fold")
        for r in rows:
            table.add_row(Text(r.reference), Text(r.title), Text(r.organisation.code), Text(r.state),
                          Text(r.due_on.isoformat() if r.due_on else "-"), Text("OVERDUE" if r.overdue else ""))
        self.console.print(table)

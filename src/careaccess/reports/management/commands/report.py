"""`careaccess report NAME [--csv FILE] [--as UID] [--param NAME=VALUE ...]`: run a report (rules
DS17, PP15, DS4). Without --csv the first page is printed as a table; with --csv every row is
written to FILE (or - for standard output) with a progress bar on standard error. `careaccess
report list` names the reports. Every run is recorded in the audit ledger."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError
from careaccess.directory.models import Person
from careaccess.reports import export, selectors

CHUNK = 2000


class Command(BaseCommand):
    help = "Run a report: print its first page, or write every row as CSV."

    def add_arguments(self, parser):
        parser.add_argument("name", help=f"list, or one of: {', '.join(selectors.REPORTS)}")
        parser.add_argument("--csv", metavar="FILE", help="write every row to FILE as CSV (- for standard output)")
        parser.add_argument("--as", dest="as_uid", metavar="UID",
                            help="run as this member of staff, scoped to their organisations (default: the operator)")
        parser.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                            help="a report parameter, e.g. -p days=30 -p organisation=B86001")
        parser.add_argument("--page", type=int, default=1, help="which page to print (without --csv)")

    def handle(self, *args, **options):
        self.console = Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False)
        if options["name"] == "list":
            for report in selectors.REPORTS.values():
                params = ", ".join(f"{p.name} ({p.label})" for p in report.params) or "no parameters"
                self.console.print(f"[bold]{report.name}[/bold]: {report.title}. Parameters: {params}")
            return
        try:
            report = selectors.get(options["name"])
            raw = {}
            for item in options["param"]:
                key, sep, value = item.partition("=")
                if not sep:
                    raise CommandError(f"give each parameter as NAME=VALUE, not {item}")
                raw[key.strip()] = value
            unknown = set(raw) - {p.name for p in report.params}
            if unknown:
                raise CommandError(f"{report.name} has no parameter {', '.join(sorted(unknown))}; "
                                   f"it takes: {', '.join(p.name for p in report.params) or 'none'}")
            params = selectors.clean_params(report, raw)
            actor = self._actor(options["as_uid"])
            if options["csv"]:
                self._csv(actor, report, params, options["csv"])
            else:
                self._table(actor, report, params, options["page"])
        except CareAccessError as exc:
            raise CommandError(exc.message) from exc

    def _actor(self, uid: str | None) -> Actor:
        if not uid:
            return Actor.system("cli")
        person = Person.objects.filter(uid=uid.strip()).first()
        if person is None:
            raise CommandError(f"no person has the user id {uid}")
        return permissions.actor_for_person(person)

    def _table(self, actor, report, params, page_number):
        page = selectors.run(actor, report, params, page=page_number, size=50, fmt="cli")
        if page.chart:
            self.console.print(f"{report.chart_title}:")
            peak = max([n for _, n in page.chart] + [1])
            for label, n in page.chart:
                self.console.print(f"  {label:>22} {'#' * round(30 * n / peak)} {n}")
        if not page.rows:
            self.console.print("No rows.")
            return
        table = Table(title=f"{report.title} (rows {page.first} to {page.last})", title_justify="left")
        for _, heading in report.columns:
            table.add_column(heading, overflow="fold")
        for row in page.rows:
            table.add_row(*(Text(export.cell(row.get(k))) for k, _ in report.columns))
        self.console.print(table)
        if page.has_next:
            self.console.print(f"More rows: --page {page.number + 1}, or --csv FILE for every row.")

    def _csv(self, actor, report, params, target):
        total = selectors.count(actor, report, params)
        rows = selectors.stream(actor, report, params, chunk_size=CHUNK)
        out = None if target == "-" else open(target, "w", encoding="utf-8", newline="")
        write = (lambda text: self.stdout.write(text, ending="")) if out is None else out.write
        progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(file=self.stderr, highlight=False), transient=False)
        written = 0
        try:
            with progress:
                task = progress.add_task(f"writing {report.name}", total=total)
                lines = export.lines(report, rows)
                write(next(lines))
                for line in lines:
                    write(line)
                    written += 1
                    if written % 500 == 0:
                        progress.update(task, completed=written)
                progress.update(task, completed=written, total=max(total, written))
        finally:
            if out is not None:
                out.close()
        if target != "-":
            self.console.print(f"{written} rows of {report.name} written to {target}.")

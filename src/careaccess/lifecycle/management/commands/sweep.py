"""`careaccess sweep [KIND|all] [--dry-run]`: run the lifecycle sweeps now (the worker runs them on
a schedule). `--dry-run` lists what would change and changes nothing."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from careaccess.core.errors import CareAccessError
from careaccess.lifecycle import sweeps


class Command(BaseCommand):
    help = "Run the lifecycle sweeps: " + ", ".join(sweeps.SWEEPS) + " (or all)."

    def add_arguments(self, parser):
        parser.add_argument("kind", nargs="?", default="all", choices=["all", *sweeps.SWEEPS])
        parser.add_argument("--dry-run", action="store_true", help="list what would change; change nothing")
        parser.add_argument("--limit", type=int, default=50, help="lines listed per sweep (default 50; 0: all)")

    def handle(self, *args, **options):
        console = Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False)
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=Console(file=self.stderr, highlight=False), transient=False)
        tasks: dict[str, int] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(what, total=total)
            bar.update(tasks[what], completed=done, total=total)

        kinds = list(sweeps.SWEEPS) if options["kind"] == "all" else [options["kind"]]
        results = []
        try:
            with bar:
                for kind in kinds:
                    tasks.clear()
                    results.append(sweeps.SWEEPS[kind](dry_run=options["dry_run"], progress=progress))
        except CareAccessError as exc:
            raise CommandError(exc.message) from exc
        limit = options["limit"]
        verb = "would change" if options["dry_run"] else "changed"
        for result in results:
            counts = ", ".join(f"{n} {what}" for what, n in result.counts.items() if n) or "nothing"
            console.print(f"[bold]{result.kind}[/bold]: {verb} {counts}")
            shown = result.changes if not limit else result.changes[:limit]
            for line in shown:
                console.print(f"  {line}")
            if len(result.changes) > len(shown):
                console.print(f"  ... and {len(result.changes) - len(shown)} more")
        if options["dry_run"]:
            console.print("Dry run: nothing was changed.")

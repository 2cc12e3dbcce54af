"""`careaccess bulk OPERATION ...`: the RA manager's bulk operations (rule DS17). Every run shows
the preview first (how many, and a few of the people); nothing changes without --yes. Applying
goes a batch at a time with a progress bar; each batch is all-or-nothing, with one audit entry
per person, and the end says what changed and which batches failed.

    careaccess bulk end-assignments --organisation B86001 --position "Locum GP" --on 2026-07-31 --yes
    careaccess bulk suspend-accounts --organisation B86001 --service connecting-care --yes
    careaccess bulk move-assignments --organisation B86001 --position "Clerk" --to "Receptionist" --on 2026-07-01 --yes
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from careaccess.core import permissions
from careaccess.core.context import Actor
from careaccess.core.errors import CareAccessError
from careaccess.directory.models import Person
from careaccess.reports import bulk


class Command(BaseCommand):
    help = "Bulk operations by the RA manager: preview, then apply with --yes."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="operation", required=True, metavar="{" + ",".join(bulk.OPERATIONS) + "}")
        end = sub.add_parser("end-assignments", help="end every assignment of a position on a date")
        suspend = sub.add_parser("suspend-accounts", help="suspend every account on a service of an organisation's people")
        move = sub.add_parser("move-assignments", help="move everyone from one position to another on a date")
        for p in (end, suspend, move):
            p.add_argument("--organisation", required=True, metavar="CODE")
            p.add_argument("--as", dest="as_uid", metavar="UID", help="act as this RA manager (default: the operator)")
            p.add_argument("--reason", default="", help="recorded in every audit entry")
            p.add_argument("--batch-size", type=int, default=bulk.BATCH_SIZE)
            p.add_argument("--yes", action="store_true", help="apply (without it, only the preview is shown)")
        for p in (end, move):
            p.add_argument("--position", required=True, metavar="NAME")
            p.add_argument("--on", required=True, metavar="YYYY-MM-DD")
        suspend.add_argument("--service", required=True, metavar="CODE")
        move.add_argument("--to", required=True, metavar="NAME", help="the position to move people to")
        move.add_argument("--to-organisation", metavar="CODE", help="its organisation (default: the same)")

    def handle(self, *args, **options):
        self.console = Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False)
        try:
            actor = self._actor(options["as_uid"])
            plan = self._plan(actor, options)
            self._preview(plan)
            if not options["yes"]:
                self.console.print("Nothing changed: run again with --yes to apply.")
                return
            if plan.count == 0:
                return
            progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(file=self.stderr, highlight=False))
            with progress:
                task = progress.add_task(plan.operation, total=plan.count)
                result = bulk.apply(actor, plan, batch_size=max(1, options["batch_size"]),
                                    progress=lambda n: progress.advance(task, n))
        except CareAccessError as exc:
            raise CommandError(exc.message) from exc
        self.console.print(result.describe())
        if not result.ok:
            raise CommandError(f"{len(result.failed)} batches failed; the others were applied. "
                               f"Correct the cause and run again: only the rows still to change are taken.")

    def _actor(self, uid: str | None) -> Actor:
        if not uid:
            return Actor.system("cli")
        person = Person.objects.filter(uid=uid.strip()).first()
        if person is None:
            raise CommandError(f"no person has the user id {uid}")
        return permissions.actor_for_person(person)

    def _plan(self, actor: Actor, options) -> bulk.Plan:
        """The page's lookups and checks (`bulk.plan_from`), from the command's options."""
        fields = {"operation": options["operation"], "organisation": options["organisation"],
                  "reason": options["reason"]}
        for name, option in (("position", "position"), ("on", "on"), ("service", "service"), ("target", "to"),
                             ("target_organisation", "to_organisation")):
            fields[name] = options.get(option) or ""
        return bulk.plan_from(actor, fields)

    def _preview(self, plan: bulk.Plan) -> None:
        self.console.print(f"{plan.description}: {plan.count} to change.")
        for who in plan.sample:
            self.console.print(f"  {who}")
        if plan.count > len(plan.sample):
            self.console.print(f"  ... and {plan.count - len(plan.sample)} more")

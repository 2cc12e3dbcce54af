"""`careaccess demo load` and `careaccess demo logins`: the demo directory and its sign-ins.

The demo passwords are public (demo only): never load the demo where real people sign in.
"""

from django.core.management.base import BaseCommand
from rich.console import Console
from rich.table import Table


class Command(BaseCommand):
    help = ("Load the demo directory (`demo load`, idempotent: a second run changes nothing) or list its "
            "demo sign-ins (`demo logins`). Demo data and passwords only: never on a live deployment.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["load", "logins"], help="load: create what is missing; logins: list the sign-ins")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar (scripts, CI)")

    def handle(self, *args, action, no_progress=False, **options):
        from careaccess.directory import demo

        console = Console(file=self.stdout._out)
        if not console.is_terminal:  # piped or captured: keep every row on one line
            console = Console(file=self.stdout._out, width=200)
        if action == "load":
            result = demo.load(progress=not no_progress and console.is_terminal)
            if result.total:
                made = ", ".join(f"{n} {what}" for what, n in result.created.items())
                console.print(f"Demo loaded in {result.seconds:.1f} s: {made}.")
            else:
                console.print(f"The demo is already loaded: nothing to do ({result.seconds:.1f} s).")
            console.print("See the demo sign-ins with [bold]careaccess demo logins[/bold].")
            return
        rows = demo.logins()
        if not rows:
            console.print("No demo sign-ins yet: run [bold]careaccess demo load[/bold] first.")
            return
        table = Table(title="Demo sign-ins (demo passwords: never use on a live deployment)")
        for column in ("actor", "name", "username (user id)", "password", "acting position"):
            table.add_column(column, no_wrap=column != "acting position")
        for row in rows:
            table.add_row(row.actor.replace("_", " "), f"{row.person.given_name} {row.person.family_name}",
                          row.person.uid, row.password, acting_label(row))
        console.print(table)


def acting_label(row) -> str:
    """The position the login acts in, as the page header says it: a position carrying no staff
    capability (the plain user's) is not one to act in, so the header reads "No staff position"."""
    from careaccess.core import permissions

    if not permissions.grants(row.person.id):
        return f"none: not staff (holds {row.position})" if row.position else "none: not staff"
    return row.position

"""`careaccess outbox list [--state queued|sent|failing]` and `careaccess outbox retry ID`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from django.utils import timezone

from careaccess.core import clock
from careaccess.core.errors import CareAccessError
from careaccess.core.outbox import selectors, services
from careaccess.core.outbox.models import Message


def _when(instant) -> str:
    if instant is None:
        return "-"
    return timezone.localtime(instant).strftime("%Y-%m-%d %H:%M:%S")


class Command(BaseCommand):
    help = "List outbox messages, or retry a waiting one at once."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{list,retry}")
        listing = sub.add_parser("list", help="show outbox messages in a table")
        listing.add_argument("--state", choices=selectors.STATES, default=None, help="only messages in this state")
        listing.add_argument("--kind", default=None, help="only messages of this kind")
        listing.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
        retry = sub.add_parser("retry", help="make a waiting message due now (the next worker pass sends it)")
        retry.add_argument("id", help="the message's id from `outbox list` (or a unique prefix), or its Message-ID")
        retry.add_argument("--reason", default="", help="why, for the audit ledger")

    def console(self) -> Console:
        # Wide enough for ids and addresses when not writing to a terminal (pipes, tests).
        return Console(file=self.stdout, width=None if self.stdout.isatty() else 200, highlight=False)

    def handle(self, *args, **options):
        try:
            if options["action"] == "list":
                self.list(options)
            else:
                self.retry(options)
        except CareAccessError as exc:
            raise CommandError(exc.message) from exc

    def list(self, options):
        limit = options["limit"]
        if limit < 1:
            raise CommandError("--limit is at least 1")
        queryset = selectors.messages(options["state"], kind=options["kind"])
        total = queryset.count()
        rows = list(queryset[:limit])
        title = f"outbox: {options['state'] or 'all'} messages"
        table = Table(title=title, title_justify="left")
        for column in ("id", "state", "kind", "to", "subject", "attempts", "next attempt / sent", "last error"):
            table.add_column(column, overflow="fold")
        for message in rows:
            failing = selectors.is_failing(message)
            state = "failing" if failing else message.state
            if message.state == Message.State.QUEUED and message.lease_until and message.lease_until > clock.now():
                state += f" (sending: {message.claimed_by})"
            when = _when(message.sent_at) if message.state == Message.State.SENT else _when(message.next_attempt_at)
            # Text cells: subjects and errors are shown as written, never read as rich markup.
            table.add_row(
                Text(str(message.id)),
                Text(state, style="red" if failing else ""),
                Text(message.kind),
                Text(", ".join(message.to)),
                Text(message.subject),
                Text(str(message.attempts)),
                Text(when),
                Text((message.last_error or "")[:120]),
            )
        console = self.console()
        if rows:
            console.print(table)
        else:
            console.print(Text(f"{title}: none"))
        if total > len(rows):
            console.print(f"showing {len(rows)} of {total}; use --limit to see more")

    def retry(self, options):
        message = services.retry_now(options["id"], reason=options["reason"])
        self.console().print(Text(
            f"message {message.id} ({message.subject!r} to {', '.join(message.to)}) is due now; "
            f"attempts so far: {message.attempts}. The next worker pass sends it."
        ))

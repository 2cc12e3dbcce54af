"""The shape of every `careaccess <noun> <action>` command."""

from django.core.management.base import BaseCommand, CommandError

from careaccess.core.errors import CareAccessError


class ActionCommand(BaseCommand):
    """Runs `do_<action>` for the action sub-command given (dashes read as underscores); a refusal
    from a service function ends the command with its message, as a CommandError."""

    def handle(self, *args, **options):
        try:
            getattr(self, f"do_{options['action'].replace('-', '_')}")(options)
        except CareAccessError as exc:
            raise CommandError(exc.message) from exc

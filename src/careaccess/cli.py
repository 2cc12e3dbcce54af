"""The `careaccess` command: Django's management commands under the project's settings.

`careaccess migrate`, `careaccess demo load`, `careaccess audit verify`, ... are management
commands; this wrapper points Django at the settings, and keeps out of an operator's way the
commands of Django's own that would change the directory behind careaccess's back: every change
goes through a service function that also writes the audit ledger (PP9), and nothing is ever
deleted (PP8). Those are refused; Django's developer commands still run but are not listed.
"""

import os
import sys

# command -> why careaccess refuses it
REFUSED = {
    "flush": "it deletes every row, the audit ledger's and the people's included (rules PP8, PP9: nothing is "
             "ever deleted)",
    "sqlflush": "it prints the SQL that deletes every row (rules PP8, PP9)",
    "createsuperuser": "careaccess has no superusers: staff rights come only from positions (rule SC8); give "
                       "someone an RA manager position instead",
    "changepassword": "a password set this way skips the audit ledger (rule PP9); the person changes it at "
                      "/account/password, or an RA agent resets their sign-in through a request",
    "loaddata": "rows loaded this way skip the service functions and the audit ledger (rule PP9); use "
                "`careaccess demo load`, the API or the batch pages",
    "remove_stale_contenttypes": "it deletes rows (rule PP8)",
}

# Django's developer commands: they still run, but an operator's `careaccess help` does not list them.
DEVELOPER = {
    "compilemessages", "createcachetable", "diffsettings", "dumpdata", "inspectdb", "makemessages",
    "makemigrations", "optimizemigration", "squashmigrations", "startapp", "startproject", "test", "testserver",
    "sendtestemail", "sqlmigrate", "sqlsequencereset", "findstatic",
}


def help_text() -> str:
    """Django's list of commands without the refused and developer ones."""
    from django.core.management import ManagementUtility

    hidden = set(REFUSED) | DEVELOPER
    lines = ManagementUtility(["careaccess"]).main_help_text().splitlines()
    kept = [line for line in lines if line.strip() not in hidden]
    # A section whose commands are all hidden loses its heading too.
    result: list[str] = []
    for i, line in enumerate(kept):
        if line.startswith("[") and (i + 1 >= len(kept) or not kept[i + 1].startswith("    ")):
            continue
        if line or (result and result[-1]):
            result.append(line)
    return "\n".join(result) + (
        "\n\nNot listed: Django's developer commands (makemigrations, test, ...), which still run. Refused: "
        + ", ".join(sorted(REFUSED)) + " (`careaccess help <command>` says why).\n")


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    args = sys.argv[1:]
    asked = args[1] if len(args) > 1 and args[0] == "help" else args[0] if args else "help"
    if asked in REFUSED:
        sys.stderr.write(f"careaccess refuses `{asked}`: {REFUSED[asked]}.\n")
        sys.exit(2)
    import django

    if asked in ("help", "--help", "-h"):
        django.setup()
        sys.stdout.write(help_text())
        return
    from django.core.management import execute_from_command_line

    execute_from_command_line(["careaccess", *args])


if __name__ == "__main__":
    main()

"""The `careaccess` command: Django's management commands under the project's settings.

`careaccess migrate`, `careaccess demo load`, `careaccess audit verify`, ... are management
commands; this wrapper only points Django at the settings.
"""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careaccess.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["careaccess", *sys.argv[1:]])


if __name__ == "__main__":
    main()

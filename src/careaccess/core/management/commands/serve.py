"""`careaccess serve`: the production server (gunicorn) on the project's WSGI application."""

import os

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve careaccess with gunicorn (production). Use `careaccess runserver` while developing."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("CAREACCESS_BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=int(os.environ.get("CAREACCESS_WORKERS", os.cpu_count() or 2)))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("CAREACCESS_THREADS", 1)))

    def handle(self, *args, **options):
        from gunicorn.app.wsgiapp import WSGIApplication

        argv = [
            "gunicorn",
            "careaccess.wsgi:application",
            "--bind", options["bind"],
            "--workers", str(options["workers"]),
            "--threads", str(options["threads"]),
            "--access-logfile", "-",
        ]
        import sys

        sys.argv = argv
        WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()

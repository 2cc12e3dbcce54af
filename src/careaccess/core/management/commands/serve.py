"""`careaccess serve`: the production server (gunicorn) on the project's WSGI application.

No access log by default: formatting and writing a line per request costs the workers about a tenth
of an access decision's budget, and the audit trail and request ids already say who changed what.
`--access-log -` (or CAREACCESS_ACCESS_LOG) turns it on, to standard output or a file.

Each worker (one a core) runs 4 threads by default (careaccess.core.serve_worker, gunicorn's gthread
worker keeping a busy connection on its thread): a thread waiting on PostgreSQL leaves the core to
another, and connections are kept alive between requests, as a relying service's pooled HTTP client
keeps them, so one asking decision after decision opens no TCP connection for each. With
`--threads 1` the workers are gunicorn's sync ones, which close the connection after every answer.
"""

import os
import sys

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve careaccess with gunicorn (production). Use `careaccess runserver` while developing."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("CAREACCESS_BIND", "127.0.0.1:8000"),
                            help="the address to listen on, HOST:PORT or unix:PATH (CAREACCESS_BIND; "
                                 "127.0.0.1:8000 by default)")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("CAREACCESS_WORKERS", os.cpu_count() or 2)),
                            help="worker processes (CAREACCESS_WORKERS; one a core by default)")
        parser.add_argument("--threads", type=int, default=int(os.environ.get("CAREACCESS_THREADS", 4)),
                            help="threads per worker (CAREACCESS_THREADS; 4 by default, 1 for sync workers)")
        parser.add_argument("--access-log", default=os.environ.get("CAREACCESS_ACCESS_LOG", ""),
                            help="where to log each request ('-' for standard output); none by default")
        parser.add_argument("--control-socket", default=os.environ.get("CAREACCESS_CONTROL_SOCKET", ""),
                            help="gunicorn's control socket (CAREACCESS_CONTROL_SOCKET); by default gunicorn.ctl "
                                 "under CAREACCESS_VAR, mode 0600, never gunicorn's own default in the home "
                                 "directory that every deployment on the machine would share; 'none' turns it off")

    def gunicorn_argv(self, options) -> list[str]:
        from django.conf import settings

        argv = [
            "gunicorn",
            "careaccess.wsgi:application",
            "--bind", options["bind"],
            "--workers", str(options["workers"]),
            "--threads", str(options["threads"]),
        ]
        if options["threads"] > 1:
            argv += ["--worker-class", "careaccess.core.serve_worker.LingeringThreadWorker"]
        if options["access_log"]:
            argv += ["--access-logfile", options["access_log"]]
        control = options.get("control_socket") or str(settings.VAR_DIR / "gunicorn.ctl")
        argv += ["--no-control-socket"] if control == "none" else ["--control-socket", control,
                                                                    "--control-socket-mode", "384"]
        return argv

    def handle(self, *args, **options):
        from gunicorn.app.wsgiapp import WSGIApplication

        sys.argv = self.gunicorn_argv(options)
        WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()

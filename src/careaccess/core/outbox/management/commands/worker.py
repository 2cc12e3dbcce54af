"""`careaccess worker`: deliver the outbox and run the periodic jobs (audit checkpoints, sweeps)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from careaccess.core.outbox import delivery
from careaccess.core.outbox.runner import PassResult, Worker


class Command(BaseCommand):
    # The worker loads no URLs or views; it must not refuse to deliver mail over a page's check
    # (run `careaccess check --deploy` for those).
    requires_system_checks = []
    help = (
        "Deliver queued notifications and run the periodic jobs, every --interval seconds until "
        "stopped (SIGTERM/SIGINT finish the message being sent, then stop). Several workers may run "
        "at once; each message is sent by one of them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="run one pass (deliver what is due, run due jobs) and exit")
        parser.add_argument("--interval", type=float, default=2.0, help="seconds to sleep between passes (default 2)")
        parser.add_argument("--worker-id", default=None, help="name shown on claimed messages (default host:pid)")
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help=f"messages claimed and sent per SMTP connection (default CAREACCESS_OUTBOX_BATCH_SIZE or {delivery.DEFAULT_BATCH_SIZE})",
        )
        jobs = parser.add_mutually_exclusive_group()
        jobs.add_argument("--no-jobs", action="store_true", help="deliver mail only; run no periodic jobs")
        jobs.add_argument("--job", action="append", dest="only_jobs", metavar="NAME", help="run only this job (repeatable)")

    def handle(self, *args, **options):
        if options["interval"] < 0:
            raise CommandError("--interval is a number of seconds, 0 or more")
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size is at least 1")
        verbosity = options["verbosity"]

        def report(result: PassResult) -> None:
            d = result.delivery
            failed_jobs = {n: o for n, o in result.jobs.items() if o != "ok"}
            # Quiet passes stay quiet: a line when mail moved or a job failed (-v 2: every pass).
            if verbosity >= 2 or (verbosity >= 1 and (d.claimed or failed_jobs)):
                parts = [f"sent {d.sent}", f"failed {d.failed}"]
                if d.released:
                    parts.append(f"handed back {d.released}")
                if d.lost_lease:
                    parts.append(f"lease lost {d.lost_lease}")
                shown = result.jobs if verbosity >= 2 else failed_jobs
                if shown:
                    parts.append("jobs: " + ", ".join(f"{name} {outcome}" for name, outcome in shown.items()))
                self.stdout.write(f"[{worker.worker_id}] " + "; ".join(parts))

        worker = Worker(
            options["worker_id"],
            interval=options["interval"],
            batch_size=options["batch_size"],
            run_jobs=not options["no_jobs"],
            only_jobs=set(options["only_jobs"]) if options["only_jobs"] else None,
            report=report,
        )
        if not options["once"]:
            worker.install_signal_handlers()
            if verbosity >= 1:
                self.stdout.write(f"worker {worker.worker_id} started (every {worker.interval:g}s); Ctrl-C to stop")
        worker.run(once=options["once"])
        if not options["once"] and verbosity >= 1:
            self.stdout.write(f"worker {worker.worker_id} stopped")

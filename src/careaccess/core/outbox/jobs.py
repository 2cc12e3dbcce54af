"""The worker's periodic jobs: a tiny registry so later work adds sweeps without touching the loop.

A job is a name, an interval in seconds and a callable taking no arguments. Register one from a
module named `jobs.py` in any installed app (the worker imports them all at start-up)::

    from careaccess.core.outbox.jobs import job

    @job("lifecycle.inactivity-sweep", every=3600)
    def inactivity_sweep():
        ...

or call `register(name, every, func)`. `every=0` runs the job on every pass of the worker loop.
The schedule is kept in the worker's memory and read from `careaccess.core.clock`: a job runs on
the worker's first pass and then whenever `every` seconds have gone by since it last started.
Each worker process keeps its own schedule, so jobs must be idempotent and safe to run beside
another worker's run of the same job (set-based, conditional updates), or run in one worker only
(`careaccess worker --jobs NAME`, or `--no-jobs` on the others). A job that raises is logged and
retried on its next turn; it never stops the worker.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from careaccess.core import clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    every: float  # seconds
    func: Callable[[], object]


_registry: dict[str, Job] = {}


def register(name: str, every: float, func: Callable[[], object]) -> Job:
    """Add (or replace, by name) a periodic job."""
    if every < 0:
        raise ValueError("a job's interval is zero (every pass) or more seconds")
    registered = Job(name=name, every=float(every), func=func)
    _registry[name] = registered
    return registered


def job(name: str, *, every: float):
    """Decorator form of `register`."""

    def decorate(func):
        register(name, every, func)
        return func

    return decorate


def unregister(name: str) -> None:
    _registry.pop(name, None)


def registered() -> list[Job]:
    return sorted(_registry.values(), key=lambda j: j.name)


def autodiscover() -> None:
    """Import `<app>.jobs` for every installed app, so their registrations run."""
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("jobs")


# The audit ledger's signed checkpoints (the checkpoint function decides itself whether one is due,
# from CAREACCESS_CHECKPOINT_EVERY_SECONDS, so it is offered a turn on every pass).
from careaccess.core.audit.checkpoints import checkpoint_if_due  # noqa: E402

register("audit.checkpoint", 0, checkpoint_if_due)

# On PostgreSQL audited changes write their entries pending; this gives them their places in the
# ledger in batches (a no-op on SQLite, and one index probe when nothing is pending).
from careaccess.core.audit.sequencing import sequence as _audit_sequence  # noqa: E402

register("audit.sequence", 0, _audit_sequence)

# Sent messages older than CAREACCESS_OUTBOX_SENT_RETENTION_DAYS are deleted, audited (services.prune_sent).
from careaccess.core.outbox.services import prune_sent as _prune_sent  # noqa: E402

register("outbox.prune-sent", 3600, _prune_sent)


@dataclass
class Scheduler:
    """Which registered jobs are due, for one worker. `only` limits it to the named jobs."""

    only: set[str] | None = None
    last_started: dict[str, dt.datetime] = field(default_factory=dict)

    def due(self, now: dt.datetime) -> list[Job]:
        jobs = []
        for candidate in registered():
            if self.only is not None and candidate.name not in self.only:
                continue
            last = self.last_started.get(candidate.name)
            if last is None or now - last >= dt.timedelta(seconds=candidate.every):
                jobs.append(candidate)
        return jobs

    def run_due(self, should_stop: Callable[[], bool] | None = None) -> dict[str, str]:
        """Run every due job once; returns {name: "ok" | "failed: ..."}."""
        outcomes: dict[str, str] = {}
        for due_job in self.due(clock.now()):
            if should_stop is not None and should_stop():
                break
            self.last_started[due_job.name] = clock.now()
            try:
                due_job.func()
            except Exception as exc:  # noqa: BLE001 - one broken job must not stop the worker
                log.exception("worker job %s failed", due_job.name)
                outcomes[due_job.name] = f"failed: {type(exc).__name__}: {exc}"
            else:
                outcomes[due_job.name] = "ok"
        return outcomes

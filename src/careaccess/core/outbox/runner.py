"""The `careaccess worker` loop: deliver the outbox, run the periodic jobs, sleep, repeat.

One pass = deliver due messages in batches (for at most `pass_seconds`, so jobs are not starved by a
large backlog) then run the jobs that are due (jobs.py; the audit checkpoint is one). Between
passes the worker sleeps `interval` seconds unless the last pass left messages due. A stop request
(SIGTERM, SIGINT) lets the message being sent finish, hands the rest of the batch back (they are
due again at once for the next worker) and ends the loop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connections

from . import delivery, jobs

log = logging.getLogger(__name__)


def _tidy_connections() -> None:
    """Drop broken or over-age database connections between passes (like Django does per request).

    A connection inside an atomic block (a test's transaction) is left alone.
    """
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close_if_unusable_or_obsolete()


@dataclass
class PassResult:
    delivery: delivery.BatchResult = field(default_factory=delivery.BatchResult)
    jobs: dict[str, str] = field(default_factory=dict)
    more_due: bool = False


class Worker:
    def __init__(
        self,
        worker_id: str | None = None,
        *,
        interval: float = 2.0,
        batch_size: int | None = None,
        pass_seconds: float = 30.0,
        run_jobs: bool = True,
        only_jobs: set[str] | None = None,
        report: Callable[[PassResult], None] | None = None,
    ):
        self.worker_id = worker_id or delivery.default_worker_id()
        self.interval = interval
        self.batch_size = batch_size or delivery.batch_size_setting()
        self.pass_seconds = pass_seconds
        self.run_jobs = run_jobs
        self.scheduler = jobs.Scheduler(only=only_jobs)
        self.report = report
        self._stop = threading.Event()

    # -- stopping --------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: finish the current message and stop. A second one: stop now."""

        def handle(signum, _frame):
            log.warning("worker %s: signal %s, stopping after the current message", self.worker_id, signum)
            self.stop()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    # -- the loop --------------------------------------------------------------------------------

    def run_pass(self) -> PassResult:
        _tidy_connections()
        result = PassResult()
        started = time.monotonic()
        while not self.stopping:
            batch = delivery.deliver_batch(self.worker_id, batch_size=self.batch_size, should_stop=lambda: self.stopping)
            result.delivery.add(batch)
            if batch.claimed < self.batch_size:
                break
            if time.monotonic() - started >= self.pass_seconds:
                result.more_due = True
                break
        if self.run_jobs and not self.stopping:
            result.jobs = self.scheduler.run_due(should_stop=lambda: self.stopping)
        _tidy_connections()
        if self.report is not None:
            self.report(result)
        return result

    def run(self, *, once: bool = False) -> None:
        if self.run_jobs:
            jobs.autodiscover()
        while not self.stopping:
            if once:
                self.run_pass()
                return
            try:
                result = self.run_pass()
            except Exception:  # noqa: BLE001 - a database or mail outage must not end the daemon
                log.exception("worker %s: pass failed; retrying in %ss", self.worker_id, self.interval)
                _tidy_connections()
                result = PassResult()
            if not result.more_due:
                self._stop.wait(self.interval)

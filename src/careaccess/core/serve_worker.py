"""The gunicorn worker `careaccess serve` runs: gunicorn's gthread worker, but a thread that has just
answered on a kept-alive connection waits a moment for that connection's next request and answers
it too, instead of handing the connection back to the worker's poller after every answer.

The hand-back (a pipe write to wake the main thread, an epoll registration and removal, a poll,
and a thread-pool hand-off for the next request) costs about as much CPU as the rest of gunicorn's
work on a request, and a relying service asking decision after decision on a pooled connection pays
it every time (measured with a trivial application; see the README's decisions rows).

A thread waits only while the worker holds no more connections than it has threads, so every
connection can have one and none queues behind a waiting thread; and at most LINGER seconds, after
which the connection goes back to the poller, where an idle connection holds no thread.
"""

from __future__ import annotations

import select

from gunicorn.workers.gthread import ThreadWorker

LINGER = 0.05  # seconds: more than the gap between a busy client's requests, little for a newcomer to wait


class LingeringThreadWorker(ThreadWorker):
    def handle(self, conn):
        keepalive = super().handle(conn)
        while keepalive is True and self.alive and self._next_request_comes(conn):
            keepalive = super().handle(conn)
        return keepalive

    def _next_request_comes(self, conn) -> bool:
        if conn.parser.unreader.buf.getvalue():  # already read ahead
            return True
        if self.nr_conns > self.cfg.threads:
            return False
        poll = select.poll()
        poll.register(conn.sock, select.POLLIN)
        return bool(poll.poll(LINGER * 1000))

"""The worker `careaccess serve` runs keeps a busy kept-alive connection on its thread, and only
while every connection can have a thread of its own."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

from careaccess.core import serve_worker
from careaccess.core.serve_worker import LingeringThreadWorker


def worker(connections: int, threads: int) -> LingeringThreadWorker:
    instance = LingeringThreadWorker.__new__(LingeringThreadWorker)  # no arbiter: only the waiting rule
    instance.nr_conns, instance.cfg = connections, SimpleNamespace(threads=threads)
    return instance


def connection(sock, read_ahead: bytes = b""):
    return SimpleNamespace(sock=sock, parser=SimpleNamespace(unreader=SimpleNamespace(buf=io.BytesIO(read_ahead))))


def test_a_thread_waits_for_the_next_request_only_while_each_connection_can_have_one(monkeypatch):
    monkeypatch.setattr(serve_worker, "LINGER", 0.01)
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert worker(2, 4)._next_request_comes(connection(ours, b"GET / HTTP/1.1\r\n")) is True  # read ahead
        assert worker(2, 4)._next_request_comes(connection(ours)) is False  # nothing came within LINGER
        theirs.sendall(b"POST /api/v1/decisions HTTP/1.1\r\n")
        assert worker(4, 4)._next_request_comes(connection(ours)) is True
        assert worker(5, 4)._next_request_comes(connection(ours)) is False  # more connections than threads


APP = textwrap.dedent("""
    def application(environ, start_response):
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
""")


def test_requests_on_a_kept_alive_connection_are_answered_in_order(tmp_path):
    (tmp_path / "echo_app.py").write_text(APP)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--chdir", str(tmp_path), "echo_app:application",
                               "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2",
                               "--worker-class", "careaccess.core.serve_worker.LingeringThreadWorker"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.1)
        with client, client.makefile("rb") as reader:
            def ask(body: bytes) -> bytes:
                return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)

            client.sendall(ask(b"one") + ask(b"two"))  # the second arrives with the first: read ahead
            answers = []
            for expected in (b"one", b"two", b"three"):
                if expected == b"three":
                    client.sendall(ask(b"three"))
                assert reader.readline().startswith(b"HTTP/1.1 200")
                length = 0
                while (line := reader.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                answers.append(reader.read(length))
            assert answers == [b"one", b"two", b"three"]
            # a second connection is answered while the first stays open
            with socket.create_connection(("127.0.0.1", port), timeout=10) as other, other.makefile("rb") as other_reader:
                other.sendall(ask(b"four"))
                assert other_reader.readline().startswith(b"HTTP/1.1 200")
    finally:
        server.terminate()
        server.wait(timeout=30)

"""A webhook receiver for the alert dispatcher's tests: a real HTTP/1.1 server (http.server in a
thread, keep-alive) on 127.0.0.1 and a free port, that answers a script of statuses and records
every POST. Used by tests/integration/connectors/test_alert_dispatcher.py and the unit tests of
the per-webhook delivery (tests/unit/connectors/test_alert_delivery.py)."""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: dict
    client_port: int
    received_at: float = 0.0  # time.monotonic()


class Receiver:
    """Answers `status` to the first `failures` POSTs (or the statuses of `answers`, in turn),
    then `then` (200 by default); `slow` first POSTs are answered only after `slow_s`, and
    `retry_after` goes in the Retry-After header of every answer that is not 2xx. `requests`
    holds the POSTs answered 2xx, in order; `attempts` counts every POST and `statuses` lists
    what each got."""

    def __init__(
        self,
        port: int = 0,
        failures: int = 0,
        status: int = 503,
        answers: list[int] = (),
        then: int = 200,
        slow: int = 0,
        slow_s: float = 0.0,
        retry_after: str | None = None,
    ) -> None:
        self.requests: list[Request] = []
        self.attempts = 0
        self.statuses: list[int] = []
        self.answers = deque([*answers, *[status] * failures])
        self.then, self.slow, self.slow_s, self.retry_after = then, slow, slow_s, retry_after
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.attempts += 1
                    status = receiver.answers.popleft() if receiver.answers else receiver.then
                    receiver.statuses.append(status)
                    slow = receiver.slow > 0
                    receiver.slow -= slow
                    if 200 <= status < 300:
                        receiver.requests.append(
                            Request(
                                self.path,
                                dict(self.headers),
                                orjson.loads(data),
                                self.client_address[1],
                                time.monotonic(),
                            )
                        )
                if slow:
                    time.sleep(receiver.slow_s)
                answer = b"ok" if 200 <= status < 300 else b"busy"
                try:
                    self.send_response(status)
                    if receiver.retry_after is not None and not 200 <= status < 300:
                        self.send_header("Retry-After", receiver.retry_after)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:  # the client gave up waiting (a timeout test)
                    self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def keys(self) -> list[str]:
        """The Idempotency-Key of each accepted POST, in order."""
        with self.lock:
            return [request.headers["Idempotency-Key"] for request in self.requests]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

"""A webhook for the chaos suite's alert deliveries: a real HTTP server on 127.0.0.1 that
answers 503 while it is down and 200 once up, recording each accepted POST's Idempotency-Key
(`<episode_id>:<state>`)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class OutageWebhook:
    def __init__(self) -> None:
        self.down = True
        self.accepted: Counter[str] = Counter()
        self.refused = 0
        self.lock = threading.Lock()
        webhook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with webhook.lock:
                    status = 503 if webhook.down else 200
                    if webhook.down:
                        webhook.refused += 1
                    else:
                        webhook.accepted[self.headers["Idempotency-Key"]] += 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="chaos-webhook", daemon=True)
        self.all_delivered_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def __enter__(self) -> OutageWebhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered(self, keys: set[str]) -> bool:
        """Whether every one of `keys` was accepted; notes when that first held."""
        with self.lock:
            done = keys <= set(self.accepted)
        if done and self.all_delivered_at is None:
            self.all_delivered_at = time.monotonic()
        return done

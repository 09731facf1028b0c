"""A real HTTP webhook receiver on 127.0.0.1 for the alert-delivery tests (a thread in the test process).

``WebhookReceiver(answers=[307, 302, 500])`` answers its requests with those statuses in turn, then 200 for
ever; a 3xx carries ``Location: redirect_to``. Every request is kept (method, path, JSON body), so a test
can tell a POST that was taken from one that was bounced, and see whether a redirect was followed (the
*trap* receiver's own request list). ``port`` may be fixed: a receiver "comes back" on the port a sink
already knows.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    status: int  # what the receiver answered
    body: object  # the parsed JSON (None for no body)


class WebhookReceiver:
    def __init__(self, answers: list[int] | tuple[int, ...] = (), redirect_to: str = "", port: int = 0) -> None:
        self.answers = list(answers)
        self.redirect_to = redirect_to
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                with outer._lock:
                    status = outer.answers.pop(0) if outer.answers else 200
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        body = raw
                    outer.requests.append(Request(self.command, self.path, status, body))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", outer.redirect_to)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_GET = do_PUT = _answer

            def log_message(self, *a) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/api/v2/alerts"
        self._thread = threading.Thread(target=self.server.serve_forever, name="test:webhook-receiver", daemon=True)
        self._thread.start()

    def taken(self) -> list[Request]:
        """The POSTs answered 2xx (what a sink may count as delivered)."""
        with self._lock:
            return [r for r in self.requests if r.method == "POST" and 200 <= r.status < 300]

    def alerts(self) -> list[dict]:
        """Every alert body of every taken POST, in order."""
        return [a for r in self.taken() for a in r.body]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""Fixtures of the probe tests: a tiny static HTTP server for hand-made (malformed) playlists/bodies."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class StaticServer:
    """Loopback HTTP server answering registered paths with (status, body, content type, delay)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes, str, float]] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                status, body, ctype, delay = owner.routes.get(self.path, (404, b"not found", "text/plain", 0.0))
                if delay:
                    time.sleep(delay)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self.thread.start()

    def put(self, path: str, body: str | bytes, status: int = 200, ctype: str = "application/vnd.apple.mpegurl",
            delay: float = 0.0) -> str:  # fmt: skip
        self.routes[path] = (status, body.encode() if isinstance(body, str) else body, ctype, delay)
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def static_http():
    srv = StaticServer()
    yield srv
    srv.stop()

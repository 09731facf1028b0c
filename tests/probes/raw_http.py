"""Loopback servers that answer HTTP requests with raw bytes (optionally over TLS) for the fan-out tests.

The lab's FakeAnalyticsApi (http.server) always sends Content-Length; real servers also send chunked
bodies, close-delimited HTTP/1.0 bodies, drop kept-alive connections, trickle, or are not HTTP at all.
A :class:`RawServer` is a real TCP server on 127.0.0.1 that lets a test write exactly those bytes.
"""

from __future__ import annotations

import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

Responder = Callable[[str, socket.socket], bool]  # (path, socket) -> keep the connection open?


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(cert.pem, key.pem) for 127.0.0.1, made by the openssl CLI (a P-256 key: ~10 ms)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


class RawServer:
    """Reads HTTP requests (keep-alive loop) and lets *respond(path, sock)* write raw bytes.

    ``heads`` records every request head (bytes, without the final blank line). With *tls* = (cert, key)
    the server speaks HTTPS; the TLS handshake happens in the connection's own thread.
    """

    def __init__(self, respond: Responder, tls: tuple[Path, Path] | None = None) -> None:
        self.respond = respond
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.heads: list[bytes] = []
        self.lock = threading.Lock()
        owner = self
        ctx = None
        if tls is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(tls[0]), str(tls[1]))

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                with owner.lock:
                    owner.connections += 1
                    owner.active += 1
                    owner.max_active = max(owner.max_active, owner.active)
                try:
                    if ctx is not None:
                        self.request = ctx.wrap_socket(self.request, server_side=True)
                    buf = b""
                    while True:
                        while b"\r\n\r\n" not in buf:
                            data = self.request.recv(65536)
                            if not data:
                                return
                            buf += data
                        head, buf = buf.split(b"\r\n\r\n", 1)
                        with owner.lock:
                            owner.heads.append(head)
                        path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
                        if not owner.respond(path, self.request):
                            return
                except OSError:  # incl. ssl.SSLError: a client that refused our certificate
                    return
                finally:
                    if ctx is not None:
                        self.request.close()  # the TLS wrapper owns the socket now; socketserver closes the old one
                    with owner.lock:
                        owner.active -= 1

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        scheme = "https" if tls is not None else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def refuse_new(self) -> None:
        """Close the listening socket: new connections are refused, accepted ones keep being served."""
        self.server.shutdown()  # the accept loop ends; handler threads of open connections go on
        self.server.socket.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def ok_response(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )

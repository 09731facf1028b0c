"""Slow and hostile HTTP peers on 127.0.0.1 for the bounded-read, redirect and scheduler tests.

A :class:`SlowPeer` is a real threaded TCP server that reads an HTTP request head and answers by path:

==========================  ======================================================================
path (prefix)               what the server does
==========================  ======================================================================
``/ok``                     200 with :attr:`SlowPeer.ok_body` (JSON by default), Content-Length
``/trickle-headers``        the status line, then one header byte every ``period`` s, forever
``/trickle-body``           full headers (Content-Length 1,000,000), then one body byte per ``period``
``/silent``                 reads the request and never answers
``/redirect/<n>``           302 to ``/redirect/<n-1>``; ``/redirect/0`` answers like ``/ok``
``/loop``                   302 to ``/loop`` (an endless chain)
``/elsewhere``              302 to :attr:`SlowPeer.elsewhere` (another port of this host)
``/broken-chunked``         chunked body whose second chunk size is not hex, then closes
``/truncated``              Content-Length 100, sends 10 bytes, closes
``/bad-gzip``               ``Content-Encoding: gzip`` over bytes that are not gzip
``/not-http``               a line of text that is not an HTTP status line, then closes
==========================  ======================================================================

``period`` is the trickle interval (1 s = the 1 byte/s of a slow-loris). Loops wait on the server's stop
event, so :meth:`close` ends every connection thread at once; counters say how many connections and
which paths were seen (the redirect tests prove a refused hop was never requested).
"""

from __future__ import annotations

import socket
import threading


class SlowPeer:
    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self.ok_body = b'{"streaming": {"state": "Streaming", "bitrate": 6000000}, "hdd": "42%", "uptime": "3h"}'
        self.ok_type = "application/json"
        self.elsewhere = "http://127.0.0.1:9/ok"
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.connections = 0
        self.paths: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept_loop, name=f"slowpeer:{self.port}", daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return self.base_url + path

    # ------------------------------------------------------------------ server side

    def _accept_loop(self) -> None:
        self.sock.settimeout(0.1)  # closing a socket does not wake a blocked accept(): poll the stop flag
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
            t = threading.Thread(
                target=self._serve_safely, args=(conn,), name=f"slowpeer:{self.port}:conn", daemon=True
            )
            with self._lock:
                self._threads.append(t)
            t.start()

    def _serve_safely(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(0.2)
            buf = b""
            while not self._stop.is_set():  # keep-alive: one request after another on this connection
                while b"\r\n\r\n" not in buf:
                    if self._stop.is_set():
                        return
                    try:
                        data = conn.recv(65536)
                    except TimeoutError:
                        continue
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                parts = head.split(b"\r\n", 1)[0].split(b" ")
                path = parts[1].decode("latin-1") if len(parts) > 1 else "/"
                with self._lock:
                    self.paths.append(path)
                conn.settimeout(None)
                if not self._answer(path, conn):
                    return
                conn.settimeout(0.2)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def _answer(self, path: str, conn: socket.socket) -> bool:
        """Write the answer for *path*; True = keep the connection for another request."""
        if path.startswith("/ok"):
            conn.sendall(self._response(200, "OK", self.ok_body, self.ok_type))
            return True
        if path.startswith("/redirect/"):
            n = int(path.split("/")[2] or 0)
            if n <= 0:
                conn.sendall(self._response(200, "OK", self.ok_body, self.ok_type))
            else:
                conn.sendall(self._redirect(f"/redirect/{n - 1}"))
            return True
        if path.startswith("/loop"):
            conn.sendall(self._redirect("/loop"))
            return True
        if path.startswith("/elsewhere"):
            conn.sendall(self._redirect(self.elsewhere))
            return True
        if path.startswith("/trickle-headers"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            while not self._stop.wait(self.period):
                conn.sendall(b"a")
            return False
        if path.startswith("/trickle-body"):
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: 1000000\r\n\r\n" % self.ok_type.encode()
            )
            while not self._stop.wait(self.period):
                conn.sendall(b" ")
            return False
        if path.startswith("/silent"):
            conn.settimeout(0.2)
            while not self._stop.is_set():
                try:
                    if not conn.recv(4096):
                        return False
                except TimeoutError:
                    continue
            return False
        if path.startswith("/broken-chunked"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                         b"5\r\n{\"a\":\r\nzz\r\n1}\r\n")  # fmt: skip
            return False
        if path.startswith("/truncated"):
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a": 1, ')
            return False
        if path.startswith("/bad-gzip"):
            body = b"this is not gzip at all, not even close"
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))  # fmt: skip
            return True
        if path.startswith("/not-http"):
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            return False
        conn.sendall(self._response(404, "Not Found", b"not found", "text/plain"))
        return True

    @staticmethod
    def _response(status: int, reason: str, body: bytes, ctype: str) -> bytes:
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        return head.encode() + body

    @staticmethod
    def _redirect(location: str) -> bytes:
        return f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        with self._lock:
            conns, self._conns = self._conns, []
            threads, self._threads = self._threads, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(2)

    def __enter__(self) -> SlowPeer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

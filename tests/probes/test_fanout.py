"""FanOutClient (probes/fanout.py) against real loopback servers that answer with raw bytes.

The lab's FakeAnalyticsApi (http.server) always sends Content-Length; real servers also send chunked
bodies, close-delimited HTTP/1.0 bodies, drop kept-alive connections, trickle, or are not HTTP at all.
Each case below is a real TCP server on 127.0.0.1 writing exactly those bytes.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable

import pytest

from probes.fanout import FanOutClient
from tests.lab import FakeAnalyticsApi, free_port

Responder = Callable[[str, socket.socket], bool]  # (path, socket) -> keep the connection open?


class RawServer:
    """Reads HTTP requests (keep-alive loop) and lets *respond(path, sock)* write raw bytes."""

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.connections = 0
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                with owner.lock:
                    owner.connections += 1
                    owner.active += 1
                    owner.max_active = max(owner.max_active, owner.active)
                try:
                    buf = b""
                    while True:
                        while b"\r\n\r\n" not in buf:
                            data = self.request.recv(65536)
                            if not data:
                                return
                            buf += data
                        head, buf = buf.split(b"\r\n\r\n", 1)
                        path = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
                        if not owner.respond(path, self.request):
                            return
                except OSError:
                    return
                finally:
                    with owner.lock:
                        owner.active -= 1

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def start(respond: Responder) -> RawServer:
        s = RawServer(respond)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def _ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


def test_content_length_keep_alive_and_bounded_parallelism(raw_server):
    def respond(path, sock):
        time.sleep(0.03)  # every connection stays busy long enough for all of them to be opened
        sock.sendall(_ok(b'{"p": "%s"}' % path.encode()))
        return True

    srv = raw_server(respond)
    client = FanOutClient(srv.base_url, parallelism=4, timeout=5)
    try:
        paths = [f"/streams/0/{i}" for i in range(40)]
        out = client.get_many(paths)
        assert [r.body for r in out] == [b'{"p": "%s"}' % p.encode() for p in paths]  # order kept
        assert all(r.ok and r.status == 200 and r.content_type == "application/json" for r in out)
        again = client.get_many(paths[:8])
        assert all(r.ok for r in again)
    finally:
        client.close()
    assert srv.max_active <= 4
    assert srv.connections == 4  # kept alive across requests and across cycles


def test_chunked_body_with_extensions_trailers_and_100_continue(raw_server):
    def respond(path, sock):
        sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
        for part in (b'{"state": ', b'"RUNNING"', b"}"):
            sock.sendall(b"%x;ext=1\r\n%s\r\n" % (len(part), part))
            time.sleep(0.01)
        sock.sendall(b"0\r\nX-Trailer: yes\r\n\r\n")
        return True

    srv = raw_server(respond)
    client = FanOutClient(srv.base_url, parallelism=2, timeout=5)
    try:
        out = client.get_many(["/a", "/b", "/c"])
    finally:
        client.close()
    assert [r.body for r in out] == [b'{"state": "RUNNING"}'] * 3 and all(r.ok for r in out)
    assert srv.connections <= 2


def test_http10_close_delimited_body(raw_server):
    def respond(path, sock):
        sock.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"x": ')
        sock.sendall(b"1}")
        return False  # close = end of body

    srv = raw_server(respond)
    client = FanOutClient(srv.base_url, parallelism=2, timeout=5)
    try:
        out = client.get_many(["/a", "/b", "/c"])
    finally:
        client.close()
    assert [r.body for r in out] == [b'{"x": 1}'] * 3 and all(r.ok for r in out)
    assert srv.connections == 3  # not reusable


def test_kept_alive_connection_closed_by_the_server_is_retried_once(raw_server):
    def respond(path, sock):
        sock.sendall(_ok(b"{}"))  # says nothing about closing, then closes: a server-side idle timeout
        return False

    srv = raw_server(respond)
    client = FanOutClient(srv.base_url, parallelism=3, timeout=5)
    try:
        first = client.get_many(["/1", "/2", "/3"])
        time.sleep(0.1)
        second = client.get_many(["/1", "/2", "/3"])
    finally:
        client.close()
    assert all(r.ok for r in first + second), [r.error for r in first + second]


@pytest.mark.parametrize(
    "raw,words",
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n{}", "invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunked encoding"),
        (b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"trunc', "before the response was complete"),
        (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\n{}", "HTTP 503 Service Unavailable"),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000, "response headers too large"),
    ],
)
def test_broken_answers_are_errors_in_words(raw_server, raw, words):
    def respond(path, sock):
        sock.sendall(raw)
        return False

    srv = raw_server(respond)
    client = FanOutClient(srv.base_url, parallelism=2, timeout=5)
    try:
        out = client.get_many(["/a", "/b"])
    finally:
        client.close()
    assert all(words in r.error for r in out), [r.error for r in out]


def test_size_cap_holds_for_chunked_and_close_delimited_bodies(raw_server):
    def respond(path, sock):
        if path == "/chunked":
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for _ in range(40):
                sock.sendall(b"%x\r\n%s\r\n" % (50_000, b"x" * 50_000))
            sock.sendall(b"0\r\n\r\n")
            return True
        sock.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
        for _ in range(40):
            sock.sendall(b"y" * 50_000)
        return False

    srv = raw_server(respond)
    client = FanOutClient(srv.base_url, parallelism=2, timeout=5, max_bytes=1_000_000)
    try:
        out = client.get_many(["/chunked", "/close"])
    finally:
        client.close()
    assert all("response too large: more than 1,000,000 bytes" in r.error for r in out), [r.error for r in out]
    assert all(r.body == b"" for r in out)


def test_trickling_server_hits_the_total_deadline(raw_server):
    stop = threading.Event()

    def respond(path, sock):
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        while not stop.wait(0.1):  # one byte every 0.1 s: never idle for the 1 s timeout
            sock.sendall(b" ")
        return False

    srv = raw_server(respond)
    client = FanOutClient(srv.base_url, parallelism=1, timeout=1.0, deadline_s=1.5)
    try:
        [r] = client.get_many(["/slow"])
    finally:
        stop.set()
        client.close()
    assert "server too slow: body not complete after 1.5 s" in r.error, r.error


def test_refused_server_fails_every_request_at_once_in_words():
    client = FanOutClient(f"http://127.0.0.1:{free_port()}", parallelism=4, timeout=2)
    out = client.get_many([f"/{i}" for i in range(50)])
    assert len(out) == 50 and all(r.error == "connection refused" for r in out), {r.error for r in out}
    assert all(r.url.startswith("http://127.0.0.1:") for r in out)


def test_stop_flag_ends_the_fan_out():
    api = FakeAnalyticsApi(streams=40, latency=0.05).start()
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    client = FanOutClient(api.base_url, parallelism=2, timeout=5)
    try:
        out = client.get_many([api.detail_path(i) for i in range(40)], stop=stop)
    finally:
        client.close()
        api.stop()
    assert len(out) == 40 and sum(r.error == "stopped" for r in out) >= 30


def test_credentials_become_basic_auth_and_never_appear_in_results(raw_server):
    seen: list[bytes] = []

    def respond(path, sock):
        seen.append(path.encode())
        sock.sendall(_ok(b"{}"))
        return True

    srv = raw_server(respond)
    url = srv.base_url.replace("http://", "http://viewer:pa55w0rd@")
    client = FanOutClient(url, parallelism=1, timeout=5)
    try:
        r = client.get("/streams")
    finally:
        client.close()
    assert r.ok and "pa55w0rd" not in r.url and "viewer:***@" in r.url
    assert client._head.count(b"Authorization: Basic ") == 1


def test_not_http_scheme_is_refused_in_words():
    with pytest.raises(ValueError, match="not an http:// URL"):
        FanOutClient("https://user:secret@host/x")
    with pytest.raises(ValueError) as e:
        FanOutClient("rtsp://user:secret@host/x")
    assert "secret" not in str(e.value)

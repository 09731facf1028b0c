"""FanOutClient (probes/fanout.py, aiohttp) against real loopback servers that answer with raw bytes.

The lab's FakeAnalyticsApi (http.server) always sends Content-Length; real servers also send chunked
bodies, close-delimited HTTP/1.0 bodies, drop kept-alive connections, trickle, or are not HTTP at all.
Each case below is a real TCP server on 127.0.0.1 writing exactly those bytes (tests/probes/raw_http.py),
over TLS where the case is about https.
"""

from __future__ import annotations

import base64
import threading
import time

import pytest

from probes.fanout import FanOutClient
from tests.lab import FakeAnalyticsApi, free_port
from tests.probes.raw_http import RawServer, Responder, ok_response, self_signed_cert


@pytest.fixture
def raw_server():
    servers: list[RawServer] = []

    def start(respond: Responder, tls=None) -> RawServer:
        s = RawServer(respond, tls)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def test_content_length_keep_alive_and_bounded_parallelism(raw_server):
    def respond(path, sock):
        time.sleep(0.03)  # every connection stays busy long enough for all of them to be opened
        sock.sendall(ok_response(b'{"p": "%s"}' % path.encode()))
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
        sock.sendall(ok_response(b"{}"))  # says nothing about closing, then closes: a server-side idle timeout
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
    try:
        out = client.get_many([f"/{i}" for i in range(50)])
    finally:
        client.close()
    assert len(out) == 50 and all(r.error == "connection refused" for r in out), {r.error for r in out}
    assert all(r.url.startswith("http://127.0.0.1:") for r in out)


def test_one_refused_connection_stops_only_its_worker(raw_server):
    """A device that accepts no new connection while kept-alive ones still work: only the new fail."""

    def respond(path, sock):
        time.sleep(0.01)
        sock.sendall(ok_response(b'{"p": "%s"}' % path.encode()))
        return True

    srv = raw_server(respond)
    client = FanOutClient(srv.base_url, parallelism=4, timeout=5)
    try:
        assert all(r.ok for r in client.get_many(["/a", "/b"]))  # two connections, kept alive
        assert srv.connections == 2
        srv.refuse_new()
        out = client.get_many([f"/streams/0/{i}" for i in range(20)])
    finally:
        client.close()
    failed = [r for r in out if not r.ok]
    assert all(r.error == "connection refused" for r in failed), {r.error for r in failed}
    assert len(failed) <= 2 and sum(r.ok for r in out) >= 18, [r.error for r in out]
    assert srv.connections == 2


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
    def respond(path, sock):
        sock.sendall(ok_response(b"{}"))
        return True

    srv = raw_server(respond)
    url = srv.base_url.replace("http://", "http://viewer:pa55w0rd@")
    client = FanOutClient(url, parallelism=1, timeout=5)
    try:
        r = client.get("/streams")
    finally:
        client.close()
    assert r.ok and "pa55w0rd" not in r.url and "viewer:***@" in r.url
    [head] = srv.heads
    auth = [line for line in head.split(b"\r\n") if line.lower().startswith(b"authorization:")]
    assert auth == [b"Authorization: Basic " + base64.b64encode(b"viewer:pa55w0rd")]
    assert head.startswith(b"GET /streams HTTP/1.1\r\n")  # the credentials are not in the request line


def test_not_http_scheme_is_refused_in_words():
    for url in ("rtsp://user:secret@host/x", "ftp://user:secret@host/", "http://"):
        with pytest.raises(ValueError, match=r"not an http\(s\) URL") as e:
            FanOutClient(url)
        assert "secret" not in str(e.value)


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


def test_https_with_a_trusted_certificate_keeps_connections_alive(raw_server, cert):
    def respond(path, sock):
        time.sleep(0.02)
        sock.sendall(ok_response(b'{"p": "%s"}' % path.encode()))
        return True

    srv = raw_server(respond, tls=cert)
    url = srv.base_url.replace("https://", "https://viewer:pa55w0rd@")
    client = FanOutClient(url, parallelism=3, timeout=5, cafile=str(cert[0]))
    try:
        paths = [f"/streams/0/{i}" for i in range(12)]
        out = client.get_many(paths)
        again = client.get_many(paths[:3])
    finally:
        client.close()
    assert [r.body for r in out] == [b'{"p": "%s"}' % p.encode() for p in paths], [r.error for r in out]
    assert all(r.ok for r in out + again) and all("pa55w0rd" not in r.url for r in out)
    assert srv.connections == 3 and srv.max_active <= 3  # TLS connections kept alive across cycles
    assert all(b"Authorization: Basic " in h for h in srv.heads)


def test_https_with_an_untrusted_certificate_fails_at_once_in_words(raw_server, cert):
    def respond(path, sock):
        sock.sendall(ok_response(b"{}"))
        return True

    srv = raw_server(respond, tls=cert)
    client = FanOutClient(srv.base_url.replace("https://", "https://u:secret@"), parallelism=2, timeout=5)
    try:
        out = client.get_many([f"/{i}" for i in range(20)])  # the system CAs only: self-signed is refused
    finally:
        client.close()
    assert all(r.error.startswith("TLS certificate not trusted: ") for r in out), {r.error for r in out}
    assert all("secret" not in r.url and "secret" not in r.error for r in out)
    assert srv.connections <= 2 and not srv.heads  # nothing was sent over the untrusted connection


def test_http_server_behind_an_https_url_is_an_error_in_words(static_http):
    url = static_http.put("/a", b"{}", ctype="application/json")  # http.server answers a ClientHello with a 400
    client = FanOutClient(url.rsplit("/", 1)[0].replace("http://", "https://"), parallelism=2, timeout=5)
    try:
        out = client.get_many(["/a", "/a", "/a"])
    finally:
        client.close()
    assert all(r.error.startswith("TLS handshake failed: ") for r in out), {r.error for r in out}

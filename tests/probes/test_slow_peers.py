"""Bounded network reads against real slow-loris and hostile HTTP servers on 127.0.0.1 (tests/probes/slow_peers.py).

Every bound is asserted loosely (a hang check, not a speed test): the words say which bound was hit.
"""

from __future__ import annotations

import threading
import time

import pytest

from probes.fanout import FanOutClient
from probes.http import MAX_REDIRECTS, fetch, make_session
from tests.probes.slow_peers import SlowPeer


@pytest.fixture
def peer():
    srv = SlowPeer(period=0.2)  # a byte every 0.2 s: never silent for the 1 s read timeout
    yield srv
    srv.close()


@pytest.fixture
def other():
    srv = SlowPeer()
    yield srv
    srv.close()


def _fetch(url: str, **kw):
    t0 = time.monotonic()
    r = fetch(make_session(1), url, **kw)
    return r, time.monotonic() - t0


def test_trickled_headers_end_at_the_total_deadline(peer):
    r, took = _fetch(peer.url("/trickle-headers"), timeout=1.0, deadline_s=2.0)
    assert r.error == "server too slow: no complete answer after 2 s", r.error
    assert r.status == 0 and r.body == b""  # the half-received headers are no answer
    assert took < 10, took  # without the watchdog this never returned


def test_trickled_body_ends_at_the_total_deadline_and_is_not_taken_as_complete(peer):
    r, took = _fetch(peer.url("/trickle-body"), timeout=1.0, deadline_s=2.0)
    assert r.error == "server too slow: body not complete after 2 s", r.error
    assert r.status == 200 and r.body == b""
    assert took < 10, took


def test_the_default_deadline_is_twice_the_timeout(peer):
    r, took = _fetch(peer.url("/trickle-body"), timeout=1.0)
    assert r.error == "server too slow: body not complete after 2 s", r.error
    assert took < 10, took


def test_a_silent_server_is_no_answer_within_the_read_timeout(peer):
    r, took = _fetch(peer.url("/silent"), timeout=1.0, deadline_s=5.0)
    assert r.error == "no answer within 1 s", r.error
    assert took < 10, took


def test_closing_the_session_cuts_a_request_in_flight():
    srv = SlowPeer(period=0.2)
    session = make_session(1)
    out: dict = {}

    def go():
        out["r"] = fetch(session, srv.url("/trickle-body"), timeout=30, deadline_s=60)

    t = threading.Thread(target=go, daemon=True)
    try:
        t.start()
        deadline = time.monotonic() + 10
        while srv.connections < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # the request is in its body now
        t0 = time.monotonic()
        session.close()  # what a stopping scheduler does through probe.close()
        t.join(10)
        assert not t.is_alive() and time.monotonic() - t0 < 5
    finally:
        srv.close()
    assert out["r"].error == "stopped", out["r"].error


def test_same_host_redirects_are_followed_up_to_the_limit(peer):
    r, _ = _fetch(peer.url(f"/redirect/{MAX_REDIRECTS}"), timeout=2)
    assert r.ok and r.status == 200 and b"Streaming" in r.body, r.error
    r, _ = _fetch(peer.url(f"/redirect/{MAX_REDIRECTS + 1}"), timeout=2)
    assert r.error.startswith("too many redirects (limit 5)"), r.error
    assert r.status == 302


def test_an_endless_redirect_loop_stops_after_the_limit(peer):
    r, took = _fetch(peer.url("/loop"), timeout=2)
    assert r.error.startswith("too many redirects (limit 5), the last to http://127.0.0.1:"), r.error
    assert peer.paths.count("/loop") == MAX_REDIRECTS + 1  # the first request and five hops, no more
    assert took < 10


def test_a_redirect_to_another_port_is_refused_and_never_contacted(peer, other):
    peer.elsewhere = f"http://admin:hunter2@127.0.0.1:{other.port}/ok?token=abc"
    r, _ = _fetch(peer.url("/elsewhere"), timeout=2)
    assert r.error.startswith(f"redirect to another host refused: http://admin:***@127.0.0.1:{other.port}/ok"), r.error
    assert "hunter2" not in r.error
    assert other.connections == 0 and other.paths == []


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/broken-chunked", "the server broke off the answer mid-body (invalid chunked encoding)"),
        ("/truncated", "the server broke off the answer mid-body (got 9 of 100 bytes)"),
        ("/bad-gzip", "the server's compressed body cannot be decoded (corrupt Content-Encoding data)"),
        ("/not-http", "not an HTTP response from the server"),
    ],
)
def test_broken_answers_are_told_in_words(peer, path, words):
    r, _ = _fetch(peer.url(path), timeout=2)
    assert r.error == words
    assert "Error" not in r.error  # no exception class names for the operator


def test_the_deadline_watchdog_thread_ends_when_nothing_is_in_flight(peer):
    r, _ = _fetch(peer.url("/ok"), timeout=2)
    assert r.ok
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(t.name == "probes:http-deadlines" for t in threading.enumerate()):
        time.sleep(0.05)
    assert not any(t.name == "probes:http-deadlines" for t in threading.enumerate())


# ---------------------------------------------------------------------- the aiohttp fan-out


def _fan_out(base: str, paths: list[str], **kw):
    client = FanOutClient(base, parallelism=2, **kw)
    try:
        t0 = time.monotonic()
        return client.get_many(paths), time.monotonic() - t0
    finally:
        client.close()


def test_fan_out_trickled_headers_end_at_the_total_deadline(peer):
    [r], took = _fan_out(peer.base_url, ["/trickle-headers"], timeout=1.0, deadline_s=2.0)
    assert r.error == "server too slow: no complete answer after 2 s", r.error
    assert took < 10, took


def test_fan_out_trickled_body_ends_at_the_total_deadline(peer):
    [r], took = _fan_out(peer.base_url, ["/trickle-body"], timeout=1.0, deadline_s=2.0)
    assert r.error == "server too slow: body not complete after 2 s", r.error
    assert took < 10, took


def test_fan_out_follows_same_host_redirects_within_the_limit(peer, other):
    peer.elsewhere = other.url("/ok")
    out, _ = _fan_out(peer.base_url, [f"/redirect/{MAX_REDIRECTS}", "/loop", "/elsewhere"], timeout=2)
    ok, loop, elsewhere = out
    assert ok.ok and b"Streaming" in ok.body, ok.error
    assert loop.error.startswith("too many redirects (limit 5)"), loop.error
    assert elsewhere.error.startswith(f"redirect to another host refused: http://127.0.0.1:{other.port}/ok")
    assert other.connections == 0


def _wait_for(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_closing_the_fan_out_client_mid_batch_is_bounded_and_cuts_the_batch(peer):
    """close() comes from the GUI thread (a config change): it must not wait for a batch that would hold
    the client for 32 / 4 x 60 s against a server trickling every body; the client works again after."""
    client = FanOutClient(peer.base_url, parallelism=4, timeout=30, deadline_s=60)
    out: dict = {}

    def batch():
        out["results"] = client.get_many([f"/trickle-body/{i}" for i in range(32)])  # no stop callable

    t = threading.Thread(target=batch, daemon=True)
    try:
        t.start()
        assert _wait_for(lambda: peer.connections >= 4, 10), peer.connections  # four requests mid-body
        time.sleep(0.3)
        t0 = time.monotonic()
        client.close()
        took = time.monotonic() - t0
        assert took < 5, took  # hang check, loose: close waits at most ~1 s for the batch
        t.join(10)
        assert not t.is_alive()  # the batch ended too, cut by close(), not by its 60 s deadlines
        results = out["results"]
        assert len(results) == 32 and all(r.error == "stopped" and r.body == b"" for r in results), {
            r.error for r in results
        }
        assert peer.connections == 4  # the queued requests were never sent
        [again] = client.get_many(["/ok"])  # a closed client may be used again
        assert again.ok and b"Streaming" in again.body, again.error
    finally:
        client.close()

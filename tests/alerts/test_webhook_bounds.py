"""Webhooks against receivers that trickle their answer (tests/probes/slow_peers.py, a real TCP server on
127.0.0.1): one POST is bounded in total, not per read; the engine's stop is one deadline for all webhooks
and still writes every backlog; a receiver listed twice gets one webhook and one backlog file."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from app.alerts import AlertEngine
from app.alerts.evaluator import AlertEvent
from app.alerts.service import default_sinks
from app.alerts.sinks import WebhookSink, backlog_file
from app.config import AlertSettings
from app.pipeline.state import HealthSnapshot, StreamState
from tests.alerts.test_webhook_delivery import _alert
from tests.alerts.webhook_receiver import WebhookReceiver
from tests.helpers import wait_for
from tests.probes.slow_peers import SlowPeer


@pytest.fixture
def peer():
    p = SlowPeer(period=1.0)  # one byte a second: every byte resets a per-read timeout
    yield p
    p.close()


def _webhook_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("alerts:webhook:")]


def test_a_trickled_answer_is_cut_at_the_post_deadline_and_is_not_a_delivery(peer, tmp_path):
    """The status line "HTTP/1.1 200 OK" arrives, then a header byte a second: the socket is shut down at
    the deadline and the cut header block (it parses as complete headers) is not taken for a 200."""
    url = peer.url("/trickle-headers")
    sink = WebhookSink(url, timeout_s=2, max_attempts=100, backoff_cap_s=0.05, backlog_path=backlog_file(tmp_path, url))
    sink.start()
    try:
        sink.notify(AlertEvent("fired", _alert()))
        wait_for(lambda: sink.failed_total >= 2, timeout=60, what="two attempts cut at their deadline")
        assert sink.sent_total == 0 and sink.pending() == 1
        assert "the receiver did not answer completely within 2 s" in sink.last_error
        assert peer.paths.count("/trickle-headers") >= 2  # each attempt reached the receiver
    finally:
        sink.stop()
    doc = json.loads(backlog_file(tmp_path, url).read_text())
    assert [a["id"] for a in doc["alerts"]] == ["a1"]


def test_engine_stop_is_bounded_with_trickling_receivers_and_keeps_the_backlog(peer, tmp_path, caplog):
    """Three receivers that each trickle their answer 1 byte/s, a POST deadline of 30 s: stop cuts the
    POSTs in flight, returns well within the loose hang bound, every webhook thread has ended and each
    backlog file holds the undelivered alert. Before: each sink was joined for 5 s in turn (>= 15 s), and a
    trickled answer held its thread for as long as the receiver went on."""
    urls = [peer.url("/trickle-headers/a"), peer.url("/trickle-body"), peer.url("/trickle-headers/b")]
    settings = AlertSettings(debounce_s=0, eval_interval_s=0.1, webhook_urls=urls, webhook_timeout_s=30,
                             webhook_max_attempts=1000, webhook_resend_s=600)  # fmt: skip
    down = {"cam1": HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.OFFLINE, reason="refused")}
    engine = AlertEngine(settings, lambda: down, backlog_dir=tmp_path)
    engine.start()
    try:
        wait_for(engine.active, what="CameraOffline")
        wait_for(lambda: {"/trickle-headers/a", "/trickle-body", "/trickle-headers/b"} <= set(peer.paths),
                 what="each receiver answering its POST a byte a second")  # fmt: skip
        (alert,) = engine.active()
    finally:
        caplog.set_level(logging.WARNING, "app.alerts.sinks")
        t0 = time.monotonic()
        engine.stop()
        took = time.monotonic() - t0
    assert took < 10, f"engine.stop() took {took:.1f} s"  # a loose hang check, not a timing
    wait_for(lambda: not _webhook_threads(), timeout=5, what="the webhook threads to end")
    hooks = engine.sinks[1:]
    assert all(s.sent_total == 0 for s in hooks)
    for url in urls:
        doc = json.loads(backlog_file(tmp_path, url).read_text())
        assert [a["id"] for a in doc["alerts"]] == [alert.id], url
    assert caplog.text.count("not delivered at stop (cut off: Vigil is stopping); kept in the backlog") == 3


def test_a_receiver_listed_twice_gets_one_webhook_and_one_backlog(tmp_path, caplog):
    a = "http://hook:pa55word@127.0.0.1:9/api/v2/alerts"
    b = "http://127.0.0.1:10/api/v2/alerts"
    caplog.set_level(logging.WARNING, "app.alerts.service")
    sinks = default_sinks(AlertSettings(webhook_urls=[a, b, a]), tmp_path)
    hooks = [s for s in sinks if isinstance(s, WebhookSink)]
    assert [s.url for s in hooks] == [a, b]
    assert len({s.backlog_path for s in hooks}) == 2
    assert "alerts.webhook_urls lists http://hook:***@127.0.0.1:9/api/v2/alerts 2 times" in caplog.text
    assert "pa55word" not in caplog.text


def test_a_duplicated_receiver_is_posted_each_alert_once(tmp_path):
    hook = WebhookReceiver()
    settings = AlertSettings(debounce_s=0, eval_interval_s=0.1, webhook_urls=[hook.url, hook.url],
                             webhook_resend_s=600)  # fmt: skip
    down = {"cam1": HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.OFFLINE, reason="refused")}
    engine = AlertEngine(settings, lambda: down, backlog_dir=tmp_path)
    engine.start()
    try:
        wait_for(lambda: hook.alerts(), what="the alert delivered")
        time.sleep(0.5)  # a second webhook to the same receiver would have posted by now
        assert len(hook.alerts()) == 1
    finally:
        engine.stop()
        hook.close()
    assert not list(tmp_path.glob("alert-backlog-*.json"))  # delivered: no backlog left behind

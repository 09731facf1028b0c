"""The webhook sink against real HTTP receivers on 127.0.0.1: redirects are refused in words, only a 2xx is
a delivery, firing alerts are re-sent (resolves only for a real end), and what is undelivered at stop waits
in a private backlog file for the next start (with the alert engine and a real SQLite store)."""

from __future__ import annotations

import json
import logging
import stat
import time
from dataclasses import replace

import pytest

from app.alerts import AlertEngine
from app.alerts.evaluator import Alert, AlertEvent, AlertStatus
from app.alerts.rules import Severity
from app.alerts.sinks import WebhookSink, backlog_file
from app.config import AlertSettings
from app.pipeline.state import HealthSnapshot, StreamState
from app.store import Store
from app.store.db import sqlite_url
from tests.alerts.webhook_receiver import WebhookReceiver
from tests.helpers import wait_for
from tests.lab.servers import free_port


def _alert(aid: str = "a1", status: AlertStatus = AlertStatus.ACTIVE, t: float = 1_700_000_000.0, **kw) -> Alert:
    return Alert(aid, f"CameraOffline:{aid}", "CameraOffline", Severity.CRITICAL, status, f"{aid} is offline",
                 aid, aid, aid.title(), "", t, t, **kw)  # fmt: skip


@pytest.fixture
def receivers():
    made: list[WebhookReceiver] = []

    def make(*a, **kw) -> WebhookReceiver:
        r = WebhookReceiver(*a, **kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


@pytest.fixture
def sinks():
    made: list[WebhookSink] = []

    def make(url: str, **kw) -> WebhookSink:
        kw.setdefault("backoff_cap_s", 0.05)
        kw.setdefault("timeout_s", 2)
        s = WebhookSink(url, **kw)
        made.append(s)
        s.start()
        return s

    yield make
    for s in made:
        s.stop()


@pytest.mark.parametrize("code", [307, 308, 301, 302, 303])
def test_a_redirect_is_a_failure_in_words_and_is_never_followed(receivers, sinks, caplog, code):
    trap = receivers()  # where the redirect points: another host:port that must never see an alert
    hook = receivers(answers=[code] * 10, redirect_to=trap.url)
    sink = sinks(hook.url, max_attempts=2)
    caplog.set_level(logging.WARNING, "app.alerts.sinks")
    sink.notify(AlertEvent("fired", _alert()))
    wait_for(lambda: sink.pending() == 0, what="the sink to give up")
    assert trap.requests == []  # neither the POST (307/308) nor a GET (301/302/303) reached the other port
    assert [r.method for r in hook.requests] == ["POST", "POST"] and hook.taken() == []
    assert sink.sent_total == 0 and sink.failed_total == 2
    words = f"the receiver answered {code} redirect to {trap.url}; redirects are not followed"
    assert words in sink.last_error and words in caplog.text
    assert "giving up on 1 alert notifications after 2 attempts" in caplog.text


def test_only_a_2xx_is_delivered_and_other_answers_are_retried_with_backoff(receivers, sinks, caplog):
    trap = receivers()
    hook = receivers(answers=[307, 302, 500], redirect_to=trap.url)
    sink = sinks(hook.url, max_attempts=10)
    caplog.set_level(logging.WARNING, "app.alerts.sinks")
    sink.notify(AlertEvent("fired", _alert()))
    wait_for(lambda: sink.sent_total == 1, what="delivery after the 307, the 302 and the 500")
    assert [r.status for r in hook.requests] == [307, 302, 500, 200]
    assert {r.method for r in hook.requests} == {"POST"} and trap.requests == []
    assert sink.failed_total == 3 and sink.last_error == ""
    assert "the receiver answered HTTP 500 Internal Server Error" in caplog.text
    (body,) = hook.alerts()
    assert body["annotations"]["alert_id"] == "a1" and "endsAt" not in body


def test_a_redirect_without_location_is_said(receivers, sinks):
    hook = receivers(answers=[307] * 5, redirect_to="")
    sink = sinks(hook.url, max_attempts=1)
    sink.notify(AlertEvent("fired", _alert()))
    wait_for(lambda: sink.failed_total == 1, what="the refused redirect")
    assert "the receiver answered 307 redirect to" in sink.last_error
    assert "redirects are not followed" in sink.last_error and sink.sent_total == 0


def test_firing_alerts_are_resent_and_a_resolve_is_sent_once_with_ends_at(receivers, sinks):
    hook = receivers()
    sink = sinks(hook.url, resend_s=0.3)
    fired = _alert()
    sink.notify(AlertEvent("fired", fired))
    wait_for(lambda: len(hook.alerts()) >= 4, what="three re-sends of the firing alert")
    bodies = hook.alerts()
    assert all("endsAt" not in b and b["startsAt"] == bodies[0]["startsAt"] for b in bodies)
    assert sink.resent_total >= 3 and sink.firing() == 1
    # an acknowledged alert still fires: re-sent too, with the acknowledgement
    acked = replace(fired, status=AlertStatus.ACKNOWLEDGED, acknowledged_at=fired.started_at + 5,
                    acknowledged_by="dewi", updated_at=fired.started_at + 5)  # fmt: skip
    sink.notify(AlertEvent("acknowledged", acked))
    n = len(hook.alerts())
    wait_for(lambda: len(hook.alerts()) >= n + 2, what="re-sends of the acknowledged alert")
    assert hook.alerts()[-1]["annotations"]["acknowledged_by"] == "dewi"
    # the condition cleared: one body with endsAt, then silence
    end = acked.updated_at + 10
    done = replace(acked, status=AlertStatus.RESOLVED, cleared_at=end, resolved_at=end, resolved_by="auto",
                   updated_at=end)  # fmt: skip
    sink.notify(AlertEvent("resolved", done))
    wait_for(lambda: "endsAt" in hook.alerts()[-1], what="the resolve")
    n = len(hook.alerts())
    time.sleep(1.2)  # four re-send intervals
    assert len(hook.alerts()) == n and sink.firing() == 0
    ended = [b for b in hook.alerts() if "endsAt" in b]
    assert len(ended) == 1 and ended[0]["endsAt"] == "2023-11-14T22:13:35.000Z"


def test_resend_interval_is_a_live_setting(receivers, sinks):
    hook = receivers()
    sink = sinks(hook.url, resend_s=600)
    sink.notify(AlertEvent("fired", _alert()))
    wait_for(lambda: len(hook.alerts()) == 1, what="the first delivery")
    time.sleep(0.5)
    assert len(hook.alerts()) == 1  # nothing due for 10 minutes
    sink.set_resend_interval(0.2)
    wait_for(lambda: len(hook.alerts()) >= 3, what="re-sends at the new interval")


def test_adopted_firing_alerts_are_posted_at_once_and_cleared_ones_are_not(receivers, sinks):
    hook = receivers()
    sink = sinks(hook.url, resend_s=600)
    cleared = _alert("b2", AlertStatus.CLEARED, cleared_at=1_700_000_100.0)
    sink.adopt([_alert("a1"), cleared])
    wait_for(lambda: len(hook.alerts()) == 1, what="the adopted firing alert")
    assert hook.alerts()[0]["annotations"]["alert_id"] == "a1" and sink.firing() == 1


def test_undelivered_states_wait_in_a_private_backlog_file_for_the_next_start(tmp_path, receivers, caplog):
    port = free_port()  # nothing listens yet: connection refused
    url = f"http://hook:pa55word@127.0.0.1:{port}/api/v2/alerts"
    path = backlog_file(tmp_path, url)
    sink = WebhookSink(url, timeout_s=1, max_attempts=100, backoff_cap_s=0.05, backlog_path=path)
    sink.start()
    fired, other = _alert("a1"), _alert("b2")
    sink.notify(AlertEvent("fired", fired))
    sink.notify(AlertEvent("fired", other))
    end = other.started_at + 60
    ended = replace(other, status=AlertStatus.CLEARED, cleared_at=end, updated_at=end)
    sink.notify(AlertEvent("cleared", ended))
    wait_for(lambda: sink.failed_total >= 2, what="failed attempts")
    sink.stop()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "pa55word" not in text
    doc = json.loads(text)
    assert doc["receiver"] == f"http://hook:***@127.0.0.1:{port}/api/v2/alerts"
    assert sorted((a["id"], a["status"]) for a in doc["alerts"]) == [("a1", "active"), ("b2", "cleared")]
    assert not list(tmp_path.glob(".*.tmp"))  # written through a temp file that was renamed

    hook = receivers(port=port)  # the receiver is back, Vigil starts again
    caplog.set_level(logging.INFO, "app.alerts.sinks")
    again = WebhookSink(url, timeout_s=1, max_attempts=5, backoff_cap_s=0.05, backlog_path=path)
    again.start()
    try:
        wait_for(lambda: again.sent_total == 2, what="the backlog delivered")
        by_id = {a["annotations"]["alert_id"]: a for a in hook.alerts()}
        assert "endsAt" not in by_id["a1"] and by_id["b2"]["endsAt"] == "2023-11-14T22:14:20.000Z"
        wait_for(lambda: not path.exists(), what="the backlog file removed once delivered")
        assert "2 undelivered alert notifications from the previous run queued again" in caplog.text
    finally:
        again.stop()
    assert not path.exists()


def test_an_unreadable_backlog_is_said_and_does_not_stop_the_sink(tmp_path, receivers, caplog):
    hook = receivers()
    path = backlog_file(tmp_path, hook.url)
    path.write_text("{not json")
    sink = WebhookSink(hook.url, backlog_path=path)
    sink.start()
    try:
        sink.notify(AlertEvent("fired", _alert()))
        wait_for(lambda: sink.sent_total == 1, what="delivery")
        assert "cannot be read" in caplog.text and "its notifications are lost" in caplog.text
    finally:
        sink.stop()


def test_engine_backlog_survives_a_restart_with_the_receiver_down_then_up(tmp_path, receivers):
    """Receiver down -> alert fires -> Vigil stops -> Vigil starts with the receiver up -> the alert arrives."""
    port = free_port()
    settings = AlertSettings(debounce_s=0, clear_s=5, eval_interval_s=0.1, webhook_max_attempts=1000,
                             webhook_urls=[f"http://127.0.0.1:{port}/api/v2/alerts"], webhook_resend_s=600)  # fmt: skip
    down = {"cam1": HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.OFFLINE, reason="refused")}
    url = sqlite_url(tmp_path / "h.sqlite3")
    store = Store(url)
    store.start()
    e1 = AlertEngine(settings, lambda: down, store, backlog_dir=tmp_path)
    e1.start()
    wait_for(lambda: e1.active(), what="CameraOffline")
    (alert,) = e1.active()
    hook1 = e1.sinks[1]
    wait_for(lambda: hook1.failed_total >= 1, what="a failed delivery")
    e1.stop()
    store.stop()
    assert backlog_file(tmp_path, settings.webhook_urls[0]).exists()

    hook = receivers(port=port)
    store = Store(url)
    store.start()
    e2 = AlertEngine(settings, lambda: down, store, backlog_dir=tmp_path)
    e2.start()
    try:
        wait_for(lambda: hook.alerts(), what="the alert delivered after the restart")
        body = hook.alerts()[0]
        assert body["annotations"]["alert_id"] == alert.id and "endsAt" not in body
        # the same alarm continues (other alerts, e.g. a history store slow to open on a loaded machine, may join)
        offline = [a.id for a in e2.active() if a.alertname == alert.alertname]
        assert offline == [alert.id], e2.active()
    finally:
        e2.stop()
        store.stop()

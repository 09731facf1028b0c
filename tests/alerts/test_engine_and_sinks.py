"""AlertEngine with a real SQLite store, and the webhook sink against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.alerts import AlertEngine, AlertStatus
from app.alerts.evaluator import AlertEvent
from app.alerts.sinks import LogSink, WebhookSink, alertmanager_alert
from app.config import AlertSettings
from app.pipeline.state import HealthSnapshot, StreamState
from app.store import Store, repository
from app.store.db import sqlite_url
from tests.helpers import wait_for


class Receiver:
    """An Alertmanager stand-in: answers 500 for the first *fail* POSTs, then 200; keeps the bodies."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.bodies: list = []
        self.attempts = 0
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                data = self.rfile.read(n)
                outer.attempts += 1
                if outer.attempts <= outer.fail:
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.bodies.append((self.path, json.loads(data)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v2/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, name="test:receiver", daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver(fail=2)
    yield r
    r.close()


class FakeClock:
    def __init__(self, t=1_700_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


def test_engine_persists_lifecycle_and_notifies(tmp_path, receiver, caplog):
    snaps = {"cam1": HealthSnapshot(camera_id="cam1", name="Lobby", group="HQ", state=StreamState.LIVE)}
    clock = FakeClock()
    store = Store(sqlite_url(tmp_path / "h.sqlite3"))
    store.start()
    hook = WebhookSink(receiver.url, timeout_s=5, max_attempts=10, instance="vigil@test", backoff_cap_s=0.2)
    engine = AlertEngine(AlertSettings(debounce_s=30, clear_s=10), lambda: dict(snaps), store,
                         sinks=[LogSink(), hook], clock=clock)  # fmt: skip
    seen: list[AlertEvent] = []
    engine.subscribe(seen.append)
    for s in engine.sinks:
        s.start()
    try:
        caplog.set_level("INFO")
        snaps["cam1"] = HealthSnapshot(camera_id="cam1", name="Lobby", group="HQ", state=StreamState.OFFLINE,
                                       reason="connection refused")  # fmt: skip
        assert engine.evaluate_once(clock.t) == []
        assert engine.evaluate_once(clock.t + 29) == []
        (fired,) = engine.evaluate_once(clock.t + 30)
        assert engine.active()[0].id == fired.alert.id and seen == [fired]
        clock.t += 40
        a = engine.acknowledge(fired.alert.id, "alice", "called the site")
        assert a.status is AlertStatus.ACKNOWLEDGED and engine.active()[0].acknowledged_by == "alice"
        snaps["cam1"] = HealthSnapshot(camera_id="cam1", name="Lobby", group="HQ", state=StreamState.LIVE)
        engine.evaluate_once(clock.t + 1)
        (res,) = engine.evaluate_once(clock.t + 11)
        assert res.kind == "resolved" and engine.active() == ()
        assert [e.kind for e in seen] == ["fired", "acknowledged", "resolved"]
        assert store.flush(30)
        (row,) = store.query(repository.alerts, 0, 2e9).result(30)
        assert (row.status, row.acknowledged_by, row.ack_note, row.resolved_by) == (
            "resolved",
            "alice",
            "called the site",
            "auto",
        )
        assert "ALERT FIRED CameraOffline [CRITICAL] Lobby is offline: connection refused" in caplog.text
        # the webhook got through after the receiver's two 500s, with the latest state of the alert
        wait_for(lambda: hook.pending() == 0 and receiver.bodies, what="webhook delivery")
        assert receiver.attempts >= 3 and hook.failed_total >= 2
        path, body = receiver.bodies[-1]
        assert path == "/api/v2/alerts"
        last = body[-1]
        assert last["labels"] == {"alertname": "CameraOffline", "severity": "critical", "source": "vigil",
                                  "camera": "cam1", "group": "HQ", "instance": "vigil@test"}  # fmt: skip
        assert last["annotations"]["acknowledged_by"] == "alice"
        assert "endsAt" in last and last["startsAt"].endswith("Z")
    finally:
        for s in engine.sinks:
            s.stop()
        store.stop()


def test_engine_adopts_open_alerts_after_restart(tmp_path):
    clock = FakeClock()
    url = sqlite_url(tmp_path / "h.sqlite3")
    offline = {"cam1": HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.OFFLINE, reason="x")}
    store = Store(url)
    store.start()
    e1 = AlertEngine(AlertSettings(debounce_s=0, clear_s=5), lambda: offline, store, sinks=[], clock=clock)
    (fired,) = e1.evaluate_once(clock.t)
    store.stop()
    store2 = Store(url)
    store2.start()
    try:
        e2 = AlertEngine(AlertSettings(debounce_s=0, clear_s=5), lambda: offline, store2, sinks=[], clock=clock)
        e2.start()
        try:
            # adoption runs on the engine thread (the store opens in the background)
            wait_for(lambda: [a.id for a in e2.active()] == [fired.alert.id], what="open alerts adopted")
            assert e2.evaluate_once(clock.t + 1) == []  # same condition: the adopted alert continues
        finally:
            e2.stop()
    finally:
        store2.stop()


def test_webhook_never_blocks_and_gives_up_on_dead_receiver(caplog):
    from app.alerts.evaluator import Alert
    from app.alerts.rules import Severity

    dead = "http://127.0.0.1:9/api/v2/alerts"  # discard port: connection refused
    sink = WebhookSink(dead, timeout_s=1, max_attempts=2, backoff_cap_s=0.1)
    sink.start()
    try:
        a = Alert("x1", "k", "CameraOffline", Severity.CRITICAL, AlertStatus.ACTIVE, "s", "cam1", "cam1", "n", "", 1, 1)
        for _ in range(100):
            sink.notify(AlertEvent("fired", a))  # only buffers (latest state per alert id)
        assert sink.pending() <= 1
        wait_for(lambda: sink.pending() == 0, what="the sink to give up")
        assert sink.failed_total == 2 and sink.sent_total == 0
        assert "giving up on 1 alert notifications after 2 attempts" in caplog.text
    finally:
        sink.stop()


def test_alertmanager_body_has_no_credentials():
    from app.alerts.evaluator import Alert
    from app.alerts.rules import Severity

    a = Alert(
        "x1",
        "k",
        "CameraOffline",
        Severity.MAJOR,
        AlertStatus.ACTIVE,
        "cam offline: cannot open rtsp://admin:hunter22@10.0.0.5/stream",
        "cam1",
        "cam1",
        "Gate",
        "",
        1,
        1,
    )
    body = alertmanager_alert(a)
    assert "hunter22" not in json.dumps(body)
    assert body["labels"]["severity"] == "major" and "endsAt" not in body

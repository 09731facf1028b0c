"""Stopping Vigil resolves nothing, and the next start carries the open alarms on (a real composed runtime,
real RTSP streams from the lab, some cameras down and some up, a real webhook receiver and SQLite store).

The acceptance run found 20 false "RESOLVED (auto: condition cleared)" in one stop: the supervisor stopped
the pipelines (cameras IDLE: an outage ends silently) while the engine kept evaluating, and every open
alarm cleared or closed, with ``endsAt`` posted to Alertmanager. ``Runtime.stop`` now freezes the engine
first. ``clear_s`` is 0 and the engine evaluates every 0.1 s here, so a single evaluation after the
pipelines stopped would clear an alarm: the test fails on the old order.
"""

from __future__ import annotations

import logging
import time

import pytest

from app import compose
from app.config import AlertSettings, AppConfig, CameraConfig
from app.paths import Paths
from app.pipeline.state import StreamState
from app.store import repository
from tests.alerts.webhook_receiver import WebhookReceiver
from tests.helpers import wait_for
from tests.lab.servers import free_port

DOWN = ("Gate", "Dock", "Yard")  # nothing listens on their ports: connection refused, CameraOffline
UP = ("Lobby", "Hall")  # lab RTSP mounts: LIVE all along


def _config(rtsp_lab, dead_ports: dict[str, int], hook_url: str) -> AppConfig:
    cams = [CameraConfig(name=n, url=f"rtsp://127.0.0.1:{dead_ports[n]}/cam") for n in DOWN]
    cams += [CameraConfig(name=n, url=rtsp_lab.url(i + 1)) for i, n in enumerate(UP)]
    alerts = AlertSettings(debounce_s=5, clear_s=0, eval_interval_s=0.1, webhook_urls=[hook_url],
                           webhook_resend_s=2, disk_min_free_gb=0)  # fmt: skip
    cfg = AppConfig(cameras=cams, alerts=alerts)
    cfg.metrics.port = 0
    cfg.pipeline.backoff_cap_s = 2
    return cfg


@pytest.fixture
def hook():
    r = WebhookReceiver()
    yield r
    r.close()


def test_stop_resolves_nothing_and_the_next_start_carries_the_alarms_on(tmp_path, rtsp_lab, hook, caplog):
    caplog.set_level(logging.INFO)
    paths = Paths(tmp_path / "vigil.json", tmp_path, tmp_path / "rec", tmp_path / "logs")
    dead = {n: free_port() for n in DOWN}
    config = _config(rtsp_lab, dead, hook.url)
    rt = compose.build_runtime(config, paths)
    events = []
    rt.alerts.subscribe(events.append)
    rt.start()
    try:
        offline = {n.lower() for n in DOWN}
        wait_for(lambda: {a.camera_id for a in rt.alerts.active() if a.alertname == "CameraOffline"} == offline,
                 timeout=60, what="CameraOffline for the three down cameras")  # fmt: skip
        wait_for(lambda: all(rt.supervisor.snapshots()[c.lower()].state is StreamState.LIVE for c in UP),
                 timeout=60, what="the lab cameras LIVE")  # fmt: skip
        acked = rt.alerts.acknowledge(next(a.id for a in rt.alerts.active() if a.camera_id == "dock"), "dewi")
        wait_for(lambda: {a["annotations"]["alert_id"] for a in hook.alerts()} >= {a.id for a in rt.alerts.active()},
                 what="every alarm at the receiver")  # fmt: skip
        before = {a.id: a for a in rt.alerts.active()}
        assert not [e for e in events if e.kind in ("cleared", "resolved")]
    finally:
        mark = len(hook.requests)
        t0 = time.monotonic()
        rt.stop()
        stop_s = time.monotonic() - t0
    # nothing cleared or closed during the stop: not to subscribers, the log, the receiver or the store
    assert [e.kind for e in events if e.kind in ("cleared", "resolved")] == []
    assert "ALERT CLEARED" not in caplog.text and "ALERT RESOLVED" not in caplog.text
    assert [a for r in hook.requests[mark:] for a in r.body if "endsAt" in a] == []
    assert stop_s < 30  # hang check only
    from app.store import Store
    from app.store.db import sqlite_url

    check = Store(sqlite_url(paths.database_file))
    check.start()
    try:
        rows = {r.id: r for r in check.query(repository.open_alerts).result(30)}
    finally:
        check.stop()
    assert {i: r.status for i, r in rows.items() if i in before} == {
        i: ("acknowledged" if i == acked.id else "active") for i in before
    }

    # the next start: the same alarms continue (same ids, the acknowledgement kept), still nothing resolved,
    # and the receiver hears of the firing ones again (re-sent, no endsAt)
    caplog.clear()
    mark = len(hook.requests)
    rt2 = compose.build_runtime(config, paths)
    events2 = []
    rt2.alerts.subscribe(events2.append)
    rt2.start()
    try:
        wait_for(lambda: set(before) <= {a.id for a in rt2.alerts.active()}, timeout=30, what="the alarms adopted")
        wait_for(lambda: all(rt2.supervisor.snapshots()[c.lower()].state is StreamState.LIVE for c in UP),
                 timeout=60, what="the lab cameras LIVE again")  # fmt: skip
        wait_for(lambda: all(rt2.supervisor.snapshots()[c.lower()].state.is_down for c in (n.lower() for n in DOWN)),
                 timeout=60, what="the down cameras seen down again")  # fmt: skip
        time.sleep(3)  # thirty evaluations with clear_s 0
        now = {a.id: a for a in rt2.alerts.active()}
        assert set(before) <= set(now)
        assert now[acked.id].status.value == "acknowledged" and now[acked.id].acknowledged_by == "dewi"
        assert [e.kind for e in events2 if e.kind in ("cleared", "resolved")] == []
        resent = [a for r in hook.requests[mark:] for a in r.body]
        assert {a["annotations"]["alert_id"] for a in resent} >= set(before)
        assert not [a for a in resent if "endsAt" in a]
    finally:
        rt2.stop()
    assert [e.kind for e in events2 if e.kind in ("cleared", "resolved")] == []


class _Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_an_adopted_firing_alarm_waits_for_its_inputs_before_it_can_clear(tmp_path):
    """After a start nothing reports yet (no snapshot, no picture window): the adopted alarms are held for
    restart_settle_s, or until their condition is seen again, and only then may they clear."""
    from app.alerts import AlertEngine
    from app.pipeline.state import HealthSnapshot
    from app.store import Store
    from app.store.db import sqlite_url

    clock = _Clock()
    url = sqlite_url(tmp_path / "h.sqlite3")
    settings = AlertSettings(debounce_s=0, clear_s=0, restart_settle_s=30, disk_min_free_gb=0)
    down = {n: HealthSnapshot(camera_id=n, name=n.title(), state=StreamState.OFFLINE, reason="refused")
            for n in ("gate", "dock")}  # fmt: skip
    store = Store(url)
    store.start()
    first = AlertEngine(settings, lambda: down, store, sinks=[], clock=clock)
    fired = {e.alert.camera_id: e.alert for e in first.evaluate_once()}
    assert set(fired) == {"gate", "dock"}
    first.freeze()
    store.stop()

    snaps: dict = {}  # the next start: the supervisor has nothing to say yet
    store = Store(url)
    store.start()
    try:
        engine = AlertEngine(settings, lambda: dict(snaps), store, sinks=[], clock=clock)
        engine._adopt_from_store()
        assert {a.id for a in engine.active()} == {a.id for a in fired.values()}
        clock.t += 1
        assert engine.evaluate_once() == []  # nothing seen: held, not cleared
        snaps["dock"] = down["dock"]
        clock.t += 1
        assert engine.evaluate_once() == []  # the dock is seen down again: its alarm continues, released
        snaps["dock"] = HealthSnapshot(camera_id="dock", name="Dock", state=StreamState.LIVE)
        clock.t += 1
        (cleared,) = engine.evaluate_once()  # the dock came back while Vigil runs: a real end
        assert (cleared.kind, cleared.alert.id) == ("cleared", fired["dock"].id)
        clock.t += 10
        assert engine.evaluate_once() == []  # the gate: still within restart_settle_s, still held
        clock.t += 20
        (late,) = engine.evaluate_once()  # settle time over and never seen again: the hysteresis applies
        assert (late.kind, late.alert.id) == ("cleared", fired["gate"].id)
    finally:
        store.stop()

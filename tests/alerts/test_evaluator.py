"""Pure tests of the alert rules and state machine: debounce, hysteresis, lifecycle (no threads, no clock)."""

from __future__ import annotations

import itertools

import pytest

from app.alerts import DEFAULT_RULES, AlertError, AlertEvaluator, AlertStatus, Severity
from app.alerts.rules import observe_probe_result, observe_snapshot, rules_with_overrides
from app.pipeline.state import HealthSnapshot, StreamState
from probes.base import ProbeResult


def snap(state=StreamState.LIVE, conditions=(), reason="", cid="cam1", fps=25.0):
    return HealthSnapshot(camera_id=cid, name=cid.upper(), group="HQ", state=state, reason=reason,
                          conditions=tuple(conditions), fps_received=fps)  # fmt: skip


def obs(*snaps):
    return [o for s in snaps for o in observe_snapshot(s, DEFAULT_RULES)]


def make(debounce=30.0, clear=10.0):
    ids = (f"id{i}" for i in itertools.count(1))
    return AlertEvaluator(debounce, clear, id_factory=lambda: next(ids))


def test_rule_table_maps_states_and_conditions():
    names = {o.rule.alertname: o.rule.severity for o in obs(snap(StreamState.OFFLINE, reason="refused"))}
    assert names == {"CameraOffline": Severity.CRITICAL}
    got = {o.rule.alertname for o in obs(snap(conditions=("FROZEN", "LOW_FPS", "BITRATE_HIGH", "HLS_STALE")))}
    assert got == {"PictureFrozen", "LowFrameRate", "BitrateOutOfBand", "HlsStale"}
    assert obs(snap()) == []
    (o,) = obs(snap(StreamState.OFFLINE, reason="connection refused"))
    assert o.summary == "CAM1 is offline: connection refused" and o.key == "CameraOffline:cam1"
    (low,) = obs(snap(conditions=("LOW_FPS",), fps=3.2))
    assert "3.2 fps" in low.summary


def test_probe_results_without_camera_become_alerts():
    api = ProbeResult(kind="analytics_server", target="10.0.28.11:4004", ok=False, state="API_ERROR",
                      error="HTTP 500 from /streams")  # fmt: skip
    (o,) = observe_probe_result(api, DEFAULT_RULES)
    assert (o.rule.alertname, o.rule.severity, o.subject) == ("ApiError", Severity.MINOR,
                                                               "probe:analytics_server:10.0.28.11:4004")  # fmt: skip
    disk = ProbeResult(kind="json_device", target="nas", ok=True, conditions=("DISK_FULL",))
    assert [o.rule.alertname for o in observe_probe_result(disk, DEFAULT_RULES)] == ["DiskFull"]
    cam_scoped = ProbeResult(kind="hls", target="cam1", ok=True, conditions=("HLS_STALE",), camera_id="cam1")
    assert observe_probe_result(cam_scoped, DEFAULT_RULES) == []  # already in the camera's snapshot


def test_debounce_ignores_blips_and_fires_after_hold():
    ev = make(debounce=30, clear=10)
    offline = obs(snap(StreamState.OFFLINE, reason="refused"))
    assert ev.evaluate(0, offline) == []
    assert ev.evaluate(20, offline) == []
    assert ev.evaluate(21, []) == []  # blip over: the wait restarts
    assert ev.evaluate(40, offline) == []
    assert ev.evaluate(69, offline) == []
    (fired,) = ev.evaluate(70, offline)
    assert fired.kind == "fired"
    a = fired.alert
    assert (a.alertname, a.severity, a.status, a.started_at, a.camera_id) == (
        "CameraOffline", Severity.CRITICAL, AlertStatus.ACTIVE, 40, "cam1")  # fmt: skip
    assert ev.evaluate(71, offline) == []  # one alert, not one per evaluation
    assert [x.id for x in ev.open_alerts()] == ["id1"]


def test_hysteresis_keeps_alert_through_short_clears_then_it_waits_cleared_for_the_acknowledgement():
    ev = make(debounce=0, clear=10)
    frozen = obs(snap(conditions=("FROZEN",)))
    (fired,) = ev.evaluate(0, frozen)
    assert ev.evaluate(5, []) == []
    assert ev.evaluate(9, frozen) == []  # came back within clear_s: same alert
    assert ev.evaluate(10, []) == []
    assert ev.evaluate(19, []) == []
    (cleared,) = ev.evaluate(20, [])
    # ISA-18.2: returned to normal but never acknowledged -> stays in the list, still needs attention
    assert cleared.kind == "cleared" and cleared.alert.id == fired.alert.id
    a = cleared.alert
    assert (a.status, a.cleared_at, a.resolved_at) == (AlertStatus.CLEARED, 20, None)
    assert cleared.alert.is_open and cleared.alert.needs_attention and not cleared.alert.condition_active
    assert ev.evaluate(500, []) == [] and ev.open_alerts() == (cleared.alert,)  # however long it takes
    (res,) = [ev.acknowledge(fired.alert.id, "alice", "saw it", 600)]
    assert res.kind == "resolved" and res.alert.status is AlertStatus.RESOLVED
    assert (res.alert.acknowledged_by, res.alert.acknowledged_at, res.alert.resolved_at) == ("alice", 600, 600)
    assert ev.open_alerts() == ()
    (again,) = ev.evaluate(630, frozen)  # a new occurrence is a new alert
    assert again.alert.id != fired.alert.id


def test_acknowledge_then_auto_resolve_keeps_who_and_note():
    ev = make(debounce=0, clear=0)
    (fired,) = ev.evaluate(0, obs(snap(StreamState.STALLED)))
    ack = ev.acknowledge(fired.alert.id, "alice", "site informed", 3)
    assert ack.kind == "acknowledged"
    assert (ack.alert.status, ack.alert.acknowledged_by, ack.alert.ack_note, ack.alert.acknowledged_at) == (
        AlertStatus.ACKNOWLEDGED, "alice", "site informed", 3)  # fmt: skip
    assert not ack.alert.needs_attention
    with pytest.raises(AlertError, match="already acknowledged by alice"):
        ev.acknowledge(fired.alert.id, "bob", "", 4)
    (res,) = ev.evaluate(5, [])
    assert res.alert.acknowledged_by == "alice" and res.alert.status is AlertStatus.RESOLVED
    with pytest.raises(AlertError, match="not open"):
        ev.acknowledge(fired.alert.id, "bob", "", 6)


def test_manual_resolve_latches_until_condition_clears():
    ev = make(debounce=0, clear=10)
    black = obs(snap(conditions=("BLACK",)))
    (fired,) = ev.evaluate(0, black)
    res = ev.resolve(fired.alert.id, "bob", "lens cap, known", 1)
    assert (res.alert.status, res.alert.resolved_by, res.alert.resolve_note) == (AlertStatus.RESOLVED, "bob",
                                                                                 "lens cap, known")  # fmt: skip
    assert ev.evaluate(2, black) == [] and ev.evaluate(100, black) == []  # still black: no re-fire
    assert ev.evaluate(101, []) == [] and ev.evaluate(111, []) == []  # cleared for clear_s: latch released
    (fresh,) = ev.evaluate(112, black)
    assert fresh.kind == "fired" and fresh.alert.id != fired.alert.id


def test_several_cameras_sorted_by_severity():
    ev = make(debounce=0, clear=0)
    ev.evaluate(0, obs(snap(conditions=("SILENT",), cid="a"), snap(StreamState.OFFLINE, cid="b"),
                       snap(conditions=("LOW_FPS",), cid="c")))  # fmt: skip
    assert [(a.camera_id, a.severity) for a in ev.open_alerts()] == [
        ("b", Severity.CRITICAL), ("c", Severity.MINOR), ("a", Severity.WARNING)]  # fmt: skip


def test_rule_overrides_and_errors():
    rules = rules_with_overrides(
        {"AudioSilent": {"severity": "major", "debounce_s": 0}, "LowFrameRate": {"enabled": 0}}
    )
    by = {r.alertname: r for r in rules}
    assert by["AudioSilent"].severity is Severity.MAJOR and by["AudioSilent"].debounce_s == 0
    assert observe_snapshot(snap(conditions=("LOW_FPS",)), rules) == []
    with pytest.raises(ValueError, match="unknown rule 'Nope'"):
        rules_with_overrides({"Nope": {}})
    with pytest.raises(ValueError, match="severity must be one of CRITICAL"):
        rules_with_overrides({"AudioSilent": {"severity": "loud"}})
    ev = make(debounce=60, clear=0)
    silent = [o for o in observe_snapshot(snap(conditions=("SILENT",)), rules)]
    (fired,) = ev.evaluate(0, silent)  # per-rule debounce 0 beats the global 60 s
    assert fired.alert.severity is Severity.MAJOR

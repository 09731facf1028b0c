"""Pure tests: outages across reconnect cycles, flapping with hysteresis, and the probe/device rules.

Synthetic snapshots with explicit times (one evaluation per second, like the engine); no threads, no sleeps.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from app.alerts import DEFAULT_RULES, AlertEvaluator, Severity
from app.alerts.outage import OutageTracker
from app.alerts.rules import observe_probe_result, rules_with_overrides
from app.pipeline.state import HealthSnapshot, StreamState
from probes.base import ProbeResult
from probes.json_device import PRESETS, evaluate

L, OFF, C, S, E, IDLE = (StreamState.LIVE, StreamState.OFFLINE, StreamState.CONNECTING, StreamState.STALLED,
                         StreamState.ERROR, StreamState.IDLE)  # fmt: skip
REASONS = {OFF: "connection refused", C: "reconnecting", S: "no picture for 10 s (connected)", E: "unsupported codec",
           L: "receiving pictures", IDLE: "not started"}  # fmt: skip


def cycle(*spells: tuple[StreamState, float]) -> Callable[[float], StreamState]:
    """A state timeline repeating *spells* ((state, seconds), ...)."""
    period = sum(d for _, d in spells)

    def at(t: float) -> StreamState:
        x = t % period
        for st, d in spells:
            if x < d:
                return st
            x -= d
        raise AssertionError

    return at


class Camera:
    """A synthetic pipeline: state from a timeline, state_since and frames_decoded_total kept like the real one."""

    def __init__(self, timeline, cid="cam1", fps=25):
        self.timeline, self.cid, self.fps = timeline, cid, fps
        self.state, self.since, self.frames = None, 0.0, 0

    def snap(self, t: float, frames_extra: int = 0, recovered_at: float | None = None) -> HealthSnapshot:
        """*frames_extra*: pictures decoded since the last sample without a recovery (a stray frame);
        *recovered_at*: the pipeline recorded a recovery then (a LIVE spell between two samples)."""
        st = self.timeline(t)
        if st is not self.state:
            self.state, self.since = st, t
        if st is L:
            self.frames += self.fps
        self.frames += frames_extra
        if recovered_at is not None:
            self.recovered = recovered_at
        return HealthSnapshot(camera_id=self.cid, name=self.cid.upper(), group="HQ", state=st, state_since=self.since,
                              reason=REASONS[st], frames_decoded_total=self.frames,
                              recovered_at=getattr(self, "recovered", None))  # fmt: skip


def run(cams, seconds, *, start=1_000.0, debounce=30.0, clear=10.0, rules=DEFAULT_RULES, ev=None, tracker=None):
    ids = (f"id{i}" for i in itertools.count(1))
    ev = ev or AlertEvaluator(debounce, clear, id_factory=lambda: next(ids))
    tracker = tracker or OutageTracker()
    events = []
    for k in range(int(seconds)):
        t = start + k
        snaps = [c.snap(t) for c in cams]
        events += [(t, e) for e in ev.evaluate(t, tracker.observe(t, snaps, rules))]
    return events, ev, tracker


def fired(events):
    return [(t, e.alert.alertname) for t, e in events if e.kind == "fired"]


def test_reconnecting_camera_alerts_once_after_debounce():
    # what the reconnect backoff does: OFFLINE 25 s, CONNECTING 5 s (the retry), OFFLINE again ... never LIVE
    cam = Camera(lambda t: L if t < 1_000 + 60 else cycle((OFF, 25), (C, 5))(t - 1_060))
    events, ev, tracker = run([cam], 600)
    assert fired(events) == [(1_090.0, "CameraOffline")]  # left LIVE at 1060, alerted 30 s later
    (a,) = ev.open_alerts()
    assert a.started_at == 1_060.0 and a.severity is Severity.CRITICAL
    assert a.summary == "CAM1 is offline: connection refused"
    assert [e for _, e in events if e.kind == "resolved"] == []  # the CONNECTING retries do not clear it
    assert tracker.drops("cam1") == 1  # one drop, not one per retry: no flapping
    # back LIVE: the one alert resolves after clear_s
    cam.timeline = lambda t: L
    more, _, _ = run([cam], 15, start=1_600.0, ev=ev, tracker=tracker)
    # back after the outage: returned to normal, still unacknowledged (ISA-18.2): it stays in the list
    assert [(t, e.kind, e.alert.id) for t, e in more] == [(1_610.0, "cleared", a.id)]
    assert [x.id for x in ev.open_alerts() if x.needs_attention] == [a.id]


def test_alternating_down_states_are_one_outage_and_one_alert():
    cam = Camera(cycle((OFF, 7), (C, 3), (E, 7), (S, 7), (C, 3)))
    events, ev, _ = run([cam], 600)
    assert fired(events) == [(1_030.0, "CameraOffline")]  # OFFLINE and ERROR tie (CRITICAL): the first stays
    assert len(ev.open_alerts()) == 1


def test_outage_escalates_from_stalled_to_offline():
    cam = Camera(lambda t: S if t < 1_040 else (C if t < 1_045 else OFF))
    events, _, _ = run([cam], 120)
    # STALLED 40 s: CameraStalled after 30 s; then OFFLINE: CameraOffline at once (the outage is 45 s old)
    assert fired(events) == [(1_030.0, "CameraStalled"), (1_045.0, "CameraOffline")]
    cleared = [(t, e.alert.alertname) for t, e in events if e.kind == "cleared"]
    assert cleared == [(1_055.0, "CameraStalled")]  # superseded by CameraOffline, cleared after clear_s


def test_camera_that_never_connects_is_offline():
    events, ev, _ = run([Camera(lambda t: C)], 60)
    assert fired(events) == [(1_030.0, "CameraOffline")]
    assert ev.open_alerts()[0].summary == "CAM1 is offline: reconnecting, no picture yet"


def test_short_blips_and_file_loops_do_not_alert():
    loop = Camera(cycle((L, 10), (C, 1)), cid="loop")  # a looping file restarts at end of file: not a drop
    blip = Camera(cycle((L, 290), (OFF, 10)), cid="blip")  # one 10 s outage every 5 min: below both rules
    idle = Camera(lambda t: IDLE, cid="idle")  # disabled camera
    events, _, tracker = run([loop, blip, idle], 900)
    assert fired(events) == []
    assert tracker.drops("loop") == 0 and tracker.drops("blip") == 2


def test_flapping_camera_alerts_and_clears_with_hysteresis():
    cam = Camera(cycle((L, 10), (OFF, 10)))
    events, ev, tracker = run([cam], 600)
    # drops at 1010, 1030, 1050, 1070: the 4th within 10 min raises it; each outage is 10 s (< debounce)
    assert fired(events) == [(1_070.0, "CameraFlapping")]
    (a,) = ev.open_alerts()
    assert a.severity is Severity.MAJOR and a.summary == "CAM1 keeps dropping out: 4 drops in the last 10 min"
    # stable again: holds for quiet_s (300 s) after the last drop, then clear_s (10 s), then resolves
    last_drop = 1_590.0
    cam.timeline = lambda t: L
    more, _, _ = run([cam], 400, start=1_600.0, ev=ev, tracker=tracker)
    assert [(t, e.kind) for t, e in more] == [(last_drop + 300 + 10, "cleared")]


def test_flapping_counts_live_spells_shorter_than_the_evaluation_interval():
    # OFFLINE on every sample, but the pipeline recorded a recovery in between: LIVE for a moment each time
    cam = Camera(lambda t: OFF)
    ev, tracker = AlertEvaluator(30, 10), OutageTracker()
    kinds = []
    for k in range(200):
        t = 1_000.0 + k
        back = t - 0.5 if k % 20 == 0 else None  # a 0.2 s LIVE spell every 20 s
        snap = cam.snap(t, 5 if back else 0, recovered_at=back)
        kinds += [e.alert.alertname for e in ev.evaluate(t, tracker.observe(t, [snap], DEFAULT_RULES))]
    assert kinds == ["CameraFlapping"]  # the outage restarts each time (never 30 s), the drops add up


def test_one_long_outage_with_stray_pictures_and_reconnect_attempts_is_one_outage_not_flapping():
    # a hung server: STALLED, ERROR, CONNECTING, OFFLINE over and over for 10 min; each socket time-out
    # releases one held picture (decoded, but no recovery: the pipeline needs two new pictures for that)
    states = cycle((S, 5), (E, 3), (C, 4), (OFF, 8))
    cam = Camera(lambda t: L if t < 1_060 else states(t))
    ev, tracker = AlertEvaluator(30, 10), OutageTracker()
    events = []
    for k in range(660):
        t = 1_000.0 + k
        snap = cam.snap(t, 1 if k > 60 and k % 20 == 0 else 0)
        events += [e for e in ev.evaluate(t, tracker.observe(t, [snap], DEFAULT_RULES)) if e.kind == "fired"]
    assert tracker.drops("cam1") == 1  # the one real drop, at 1 060
    # one alarm for the outage (its worst state, ERROR, beats STALLED before the debounce), no CameraFlapping
    assert [e.alert.alertname for e in events] == ["CameraError"]
    assert events[0].alert.started_at == 1_060.0  # timed from when the pictures stopped


def test_flapping_parameters_are_configurable_with_words():
    rules = rules_with_overrides({"CameraFlapping": {"drops": 2, "window_s": 60, "quiet_s": 30}})
    events, _, _ = run([Camera(cycle((L, 10), (OFF, 10)))], 60, rules=rules)
    assert fired(events) == [(1_030.0, "CameraFlapping")]
    with pytest.raises(ValueError, match=r"alerts.rules.CameraFlapping.drops must be a number, not 'many'"):
        rules_with_overrides({"CameraFlapping": {"drops": "many"}})
    with pytest.raises(ValueError, match=r"unknown setting 'burst' \(severity, debounce_s, clear_s, enabled, drops"):
        rules_with_overrides({"CameraFlapping": {"burst": 3}})
    with pytest.raises(ValueError, match="must not be negative"):
        rules_with_overrides({"CameraOffline": {"debounce_s": -1}})
    off = rules_with_overrides({"CameraFlapping": {"enabled": 0}})
    assert fired(run([Camera(cycle((L, 10), (OFF, 10)))], 300, rules=off)[0]) == []


# ----------------------------------------------------------------------------- probe results, devices


def device_result(doc, preset="web_presenter", target="encoder-1"):
    metrics, labels, problems, conditions, state = evaluate(doc, PRESETS[preset], {})
    return ProbeResult("json_device", target, ok=True, state=state, error="; ".join(problems), metrics=metrics,
                       labels=labels, conditions=conditions)  # fmt: skip


def names(result):
    return [(o.rule.alertname, o.rule.severity, o.summary) for o in observe_probe_result(result, DEFAULT_RULES)]


def test_encoder_not_streaming_and_unreachable_device_alert():
    assert names(device_result({"streaming": {"state": "Streaming", "bitrate": 6e6}})) == []
    assert names(device_result({"streaming": {"state": "Idle", "bitrate": 0}})) == [
        ("DeviceNotStreaming", Severity.MAJOR, "encoder-1 is not streaming: device state 'Idle'")]  # fmt: skip
    down = ProbeResult("json_device", "nas", ok=False, state="UNREACHABLE", error="connection refused")
    assert names(down) == [("DeviceUnreachable", Severity.MAJOR, "nas does not answer: connection refused")]
    http500 = ProbeResult("json_device", "nas", ok=False, state="API_ERROR", error="HTTP 500 from /status")
    assert names(http500) == [("ApiError", Severity.MINOR, "nas API error: HTTP 500 from /status")]


def test_analytics_stream_error_is_worded_after_the_api():
    labels = {"stream_name": "Dock", "last_error_msg": "Failed to open input stream: Connection timed out"}
    err = ProbeResult("analytics_stream", "10.0.0.9/0/abc", ok=True, state="ERROR", labels=labels)
    ((name, sev, summary),) = names(err)
    assert (name, sev) == ("AnalyticsStreamError", Severity.MAJOR)
    assert summary == ("analytics server reports Dock (10.0.0.9/0/abc) in error: "
                       "Failed to open input stream: Connection timed out")  # fmt: skip
    assert "decoded" not in summary
    for fine in ("RUNNING", "CONNECTING", "RECONNECTING", "STOPPED"):
        assert names(ProbeResult("analytics_stream", "h/0/a", ok=True, state=fine, labels=labels)) == []
    failed = ProbeResult("analytics_stream", "h/0/a", ok=False, state="API_ERROR", error="HTTP 404")
    assert [n for n, _, _ in names(failed)] == ["ApiError"]
    odd = ProbeResult("analytics_stream", "h/0/a", ok=True, state="FAILED", labels={"last_error_msg": "GPU lost"})
    assert names(odd)[0][2] == "analytics server reports h/0/a in error: FAILED: GPU lost"


def test_drops_are_not_kept_without_the_flapping_rule():
    """CameraFlapping disabled on a 24/7 wall: the per-camera drop list must not grow forever."""
    rules = rules_with_overrides({"CameraFlapping": {"enabled": False}})
    cam = Camera(cycle((L, 10), (OFF, 10)))  # one drop every 20 s: 180 in an hour
    _, _, tracker = run([cam], 3600, rules=rules)
    assert tracker.drops("cam1") == 0
    # enabled again: counting resumes, bounded by the window (10 min = 30 drops at most)
    _, _, tracker = run([cam], 3600, start=4_600.0, rules=DEFAULT_RULES, tracker=tracker)
    assert 0 < tracker.drops("cam1") <= 31

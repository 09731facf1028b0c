"""The scheduler under slow and hung targets: healthy probes keep their interval, slow ones are reported
"too slow" (and alert), every thread is bounded, and stop() returns promptly whatever the peers do."""

from __future__ import annotations

import threading
import time

from app.alerts.rules import DEFAULT_RULES, observe_probe_result
from probes.base import ProbeResult
from probes.hls import HlsProbe
from probes.json_device import JsonDeviceProbe
from probes.network import NetworkProbe
from probes.scheduler import ProbeScheduler
from tests.probes.slow_peers import SlowPeer
from tests.probes.tcp_peers import SilentServer


def _counting(sched: ProbeScheduler) -> dict[str, int]:
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def listener(probe, results) -> None:
        with lock:
            counts[probe.name] = counts.get(probe.name, 0) + 1

    sched.add_listener(listener)
    return counts


def _wait(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def _probe_threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("probes:"))


def test_eight_hung_devices_do_not_starve_the_healthy_probes():
    """The acceptance run: 8 devices trickling 1 byte/s took all 8 workers; healthy probes got 0 results."""
    peer = SlowPeer(period=1.0)
    sched = ProbeScheduler(workers=8, slow_after_s=1.0)
    hung = [JsonDeviceProbe(f"hung{i}", peer.url("/trickle-body"), interval_s=1, timeout_s=2) for i in range(8)]
    healthy = [JsonDeviceProbe(f"ok{i}", peer.url("/ok"), preset="web_presenter", interval_s=1) for i in range(3)]
    for p in hung:
        sched.add(p)
    for p in healthy:
        sched.add(p, first_run_in=0.3)  # the hung ones hold their workers first
    counts = _counting(sched)
    sched.start()
    try:
        time.sleep(12)
        got = {p.name: counts.get(p.name, 0) for p in healthy}
        assert all(n >= 5 for n in got.values()), got  # ~12 each at a 1 s interval; 0 before
        assert sched.slow_probes() >= {p.name for p in hung}
        # threads stay bounded: the lanes plus at most one written-off thread per hung device
        assert len(sched.threads()) <= 8 + 8 + len(hung) + 1, _probe_threads()
        for p in hung:  # each hung device has its own result in words, and it alerts
            [r] = sched.results.for_probe(p.name)
            assert not r.ok and r.error == "server too slow: body not complete after 4 s", r.error
            assert [o.rule.alertname for o in observe_probe_result(r, DEFAULT_RULES)] == ["ApiError"]
        for p in healthy:
            [r] = sched.results.for_probe(p.name)
            assert r.ok and r.state == "Streaming"
    finally:
        sched.stop()
        peer.close()


class _Stuck:
    """A probe stuck where no socket deadline reaches (a C name lookup, a bug): it returns when released."""

    kind = "json_device"

    def __init__(self, name: str, release: threading.Event, run_limit_s: float | None = None) -> None:
        self.name = f"json:{name}"
        self.interval_s = 0.5
        self.release = release
        if run_limit_s is not None:
            self.run_limit_s = run_limit_s
        self.runs = 0

    def run(self, ctx=None) -> list[ProbeResult]:
        self.runs += 1
        self.release.wait()
        return [ProbeResult(self.kind, self.name.split(":", 1)[1], ok=True)]


def test_any_number_of_hung_targets_leave_the_healthy_ones_served_and_are_reported_too_slow():
    release = threading.Event()
    peer = SlowPeer()
    stuck = [_Stuck(f"stuck{i}", release) for i in range(12)]  # more than both lanes together
    healthy = JsonDeviceProbe("ok", peer.url("/ok"), preset="web_presenter", interval_s=0.5)
    sched = ProbeScheduler(workers=2, slow_workers=2, slow_after_s=0.5, run_limit_s=1.5)
    for p in stuck:
        sched.add(p)
    sched.add(healthy, first_run_in=0.2)
    counts = _counting(sched)
    sched.start()
    try:
        time.sleep(3)
        n0 = counts.get(healthy.name, 0)
        time.sleep(4)
        assert counts.get(healthy.name, 0) - n0 >= 4, counts  # fresh results every interval, still
        for p in stuck:
            assert p.runs == 1  # never run twice at once: one thread per hung target, however long
            [r] = sched.results.for_probe(p.name)
            assert not r.ok and r.state == "UNREACHABLE" and r.target == p.name.split(":", 1)[1]
            assert r.error.startswith("too slow: no result after 2 s (limit 1.5 s)"), r.error
            assert [o.rule.alertname for o in observe_probe_result(r, DEFAULT_RULES)] == ["DeviceUnreachable"]
            assert sched.too_slow_total[p.name] == 1  # reported once per run, not every supervision pass
        assert len(sched.threads()) <= 2 + 2 + len(stuck) + 2, _probe_threads()
    finally:
        release.set()
        sched.stop()
        peer.close()
    assert all(p.runs >= 1 for p in stuck)


def test_a_stalled_hls_probe_alerts_on_its_camera():
    peer = SlowPeer(period=0.2)
    probe = HlsProbe("lobby", peer.url("/trickle-body/master.m3u8"), interval_s=5, timeout_s=5)
    probe.run_limit_s = 1.0  # the fetch deadline (10 s) is longer than this probe may take
    sched = ProbeScheduler(workers=2, slow_after_s=0.5)
    sched.add(probe)
    sched.start()
    try:
        assert _wait(lambda: bool(sched.results.for_probe(probe.name)), 8)
        [r] = sched.results.for_probe(probe.name)
    finally:
        sched.stop()
        peer.close()
    assert not r.ok and r.camera_id == "lobby" and r.conditions == ("HLS_MASTER_ERROR",)
    assert r.error.startswith("too slow: no result after 1 s"), r.error


def test_stop_returns_promptly_with_hung_peers_and_leaves_no_probe_threads():
    peer = SlowPeer(period=1.0)
    silent = SilentServer()
    sched = ProbeScheduler(workers=4)
    probes = [
        *(JsonDeviceProbe(f"body{i}", peer.url("/trickle-body"), interval_s=1, timeout_s=30) for i in range(3)),
        *(JsonDeviceProbe(f"head{i}", peer.url("/trickle-headers"), interval_s=1, timeout_s=30) for i in range(3)),
        JsonDeviceProbe("silent", f"http://127.0.0.1:{silent.port}/status", interval_s=1, timeout_s=30),
        HlsProbe("hls", peer.url("/trickle-body/master.m3u8"), interval_s=1, timeout_s=30),
        NetworkProbe("cam", "127.0.0.1", silent.port, icmp=False, interval_s=1, timeout_s=2),
    ]
    for p in probes:
        sched.add(p)
    sched.start()
    try:
        # every HTTP probe is blocked on its peer (deadlines of 60 s: nothing would end on its own soon)
        assert _wait(lambda: peer.connections >= 7 and silent.accepts >= 1, 15), (peer.connections, silent.accepts)
        time.sleep(0.5)
        t0 = time.monotonic()
        sched.stop()
        took = time.monotonic() - t0
        assert took < 8, took  # bounded by stop_timeout_s (3 s); before: > 60 s
        assert _wait(lambda: not _probe_threads(), max(0.1, 5 - (time.monotonic() - t0))), _probe_threads()
    finally:
        sched.stop()
        peer.close()
        silent.close()

"""The scheduler under slow and hung targets: healthy probes keep their interval, slow ones are reported
"too slow" (and alert), every thread is bounded, and stop() returns promptly whatever the peers do."""

from __future__ import annotations

import json
import re
import threading
import time

from app.alerts.rules import DEFAULT_RULES, observe_probe_result
from probes.analytics_api import AnalyticsApiProbe
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


def _too_slow_after(error: str, limit: str) -> int:
    """The whole seconds a "too slow" result says it waited (the scheduler's supervision pass that noticed
    may run late on a loaded machine, so the number is checked as a bound, never as an exact value)."""
    m = re.fullmatch(
        rf"too slow: no result after (\d+) s \(limit {re.escape(limit)} s\); still waiting on the target", error
    )
    assert m, error
    return int(m.group(1))


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
            assert _too_slow_after(r.error, "1.5") >= 2, r.error  # reported past its limit, never before
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
    assert _too_slow_after(r.error, "1") >= 1, r.error


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


class _TricklingAnalyticsServer(SlowPeer):
    """An analytics server that lists 1,000 streams at once and trickles every stream's details (a byte
    every ``period`` s: never silent for the read timeout, each request held until its total deadline)."""

    def __init__(self, period: float) -> None:
        super().__init__(period)
        listing = {"streams": [{"stream_id": f"s{i:04d}", "stream_node_num": 0} for i in range(1000)]}
        self.listing = json.dumps(listing).encode()

    def _answer(self, path, conn) -> bool:
        if path == "/streams":
            conn.sendall(self._response(200, "OK", self.listing, "application/json"))
            return True
        return super()._answer("/trickle-body", conn)


def test_removing_an_analytics_server_mid_batch_returns_at_once_and_ends_the_batch():
    """apply_config removes probes on the GUI thread: against this server the batch would hold the probe's
    client for 1,000 / 16 x 20 s; the removal must not wait for it, and the batch must not run on."""
    peer = _TricklingAnalyticsServer(period=0.2)
    probe = AnalyticsApiProbe(peer.base_url, name="trickling", interval_s=60, parallelism=16, timeout_s=10)
    ended = threading.Event()
    run = probe.run

    def run_and_tell(ctx=None):
        try:
            return run(ctx)
        finally:
            ended.set()

    probe.run = run_and_tell
    sched = ProbeScheduler(workers=2)
    sched.add(probe)
    sched.start()
    try:
        assert _wait(lambda: peer.connections >= 16 and len(peer.paths) >= 17, 15), (peer.connections, peer.paths)
        time.sleep(0.3)  # sixteen detail requests mid-body
        t0 = time.monotonic()
        sched.remove(probe.name)
        took = time.monotonic() - t0
        assert took < 5, took  # hang check, loose (bounded by remove_wait_s, 0.5 s); before: minutes
        assert ended.wait(10)  # the batch was cut, not left to run against the server
        assert len(peer.paths) < 100, len(peer.paths)  # the queued detail requests were never sent
        assert probe.name not in sched.probes() and not sched.results.for_probe(probe.name)  # nothing stored
    finally:
        sched.stop()
        peer.close()


class _StuckOnClose:
    """A probe whose close() blocks until released, and whose run waits for ctx.stopping."""

    kind = "json_device"

    def __init__(self, release: threading.Event) -> None:
        self.name = "json:stuck-on-close"
        self.interval_s = 60
        self.release = release
        self.running = threading.Event()
        self.ended = threading.Event()

    def run(self, ctx=None) -> list[ProbeResult]:
        self.running.set()
        try:
            while not ctx.stopping:
                time.sleep(0.02)
            return [ProbeResult(self.kind, "stuck-on-close", ok=True)]
        finally:
            self.ended.set()

    def close(self) -> None:
        self.release.wait()


def test_remove_never_waits_on_a_blocked_close_and_the_removed_run_sees_stopping():
    release = threading.Event()
    probe = _StuckOnClose(release)
    sched = ProbeScheduler(workers=2)
    sched.add(probe)
    sched.start()
    try:
        assert probe.running.wait(10)
        t0 = time.monotonic()
        sched.remove(probe.name)
        took = time.monotonic() - t0
        assert took < 5, took  # hang check, loose: bounded by remove_wait_s while close() is still blocked
        assert probe.ended.wait(10)  # ctx.stopping turned true for the removed probe's run
        assert not sched.results.for_probe(probe.name)  # and what it returned was not stored
    finally:
        release.set()
        sched.stop()

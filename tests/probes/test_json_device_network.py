"""JSON device presets/mappings against the lab JSON server; network probe on loopback; scheduler pool."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from probes.base import ProbeResult
from probes.json_device import JsonDeviceProbe, get_path, to_number
from probes.network import NetworkProbe, camera_endpoint, classify
from probes.scheduler import ProbeScheduler
from tests.lab import free_port

# ----------------------------------------------------------------------------- JSON devices


def test_value_parsing():
    assert to_number("80%") == 80 and to_number("72h") == 259200 and to_number("3d 4h") == 3 * 86400 + 4 * 3600
    assert to_number(True) == 1.0 and to_number("1.5 GB") == 1.5e9 and to_number("Streaming") is None
    assert get_path({"a": {"b": [1, {"c": 2}]}}, "a.b.1.c") == 2


def test_web_presenter_preset(json_device_server):
    probe = JsonDeviceProbe("presenter", json_device_server.url("/status"), preset="web_presenter", timeout_s=5)
    [r] = probe.run()
    assert r.ok and r.state == "Streaming" and r.metrics["bitrate_bps"] == 6_000_000 and r.metrics["up"] == 1.0
    assert r.conditions == ()
    json_device_server.set("/status", {"streaming": {"state": "Idle", "bitrate": 0}})
    [r] = probe.run()
    assert r.state == "Idle" and r.metrics["up"] == 0.0 and r.conditions == ("NOT_STREAMING",)


def test_storage_node_preset_and_custom_fields(json_device_server):
    [r] = JsonDeviceProbe("site1", json_device_server.url("/hdd"), preset="storage_node").run()
    assert r.ok and r.metrics["hdd_used_percent"] == 80 and r.metrics["uptime_seconds"] == 72 * 3600
    assert r.labels["node_id"] == "lokasi1" and r.conditions == ()
    json_device_server.set("/hdd", {"node_id": "x", "status": {"hdd": "95%", "uptime": "2d"}})  # report shape
    [r] = JsonDeviceProbe("site1", json_device_server.url("/hdd"), preset="storage_node").run()
    assert r.metrics["hdd_used_percent"] == 95 and r.conditions == ("DISK_FULL",)
    json_device_server.set("/enc", {"enc": {"temp_c": 51.5, "inputs": [{"signal": True}]}})
    fields = {"temp": "enc.temp_c", "signal": "enc.inputs.0.signal", "fan": "enc.fan"}
    [r] = JsonDeviceProbe("enc", json_device_server.url("/enc"), fields=fields).run()
    assert r.metrics["temp"] == 51.5 and r.metrics["signal"] == 1.0
    assert r.ok and "fan: enc.fan not in the response" in r.error


@pytest.mark.parametrize(
    "fault,kw,state,words",
    [
        ("status", {"status": 500}, "API_ERROR", "HTTP 500"),
        ("malformed", {}, "API_ERROR", "invalid JSON"),
        ("huge", {"size": 3_000_000}, "API_ERROR", "too large"),
        ("slow", {"delay": 3}, "UNREACHABLE", "no answer within"),
        ("empty", {}, "API_ERROR", "empty response body"),
    ],
)
def test_device_faults(json_device_server, fault, kw, state, words):
    json_device_server.inject("/status", fault, **kw)
    [r] = JsonDeviceProbe("p", json_device_server.url("/status"), preset="web_presenter",
                          timeout_s=1 if fault == "slow" else 15).run()  # fmt: skip
    assert not r.ok and r.state == state and words in r.error


def test_device_wrong_types(json_device_server):
    json_device_server.inject("/status", "wrong_types")  # state becomes a number, bitrate a string
    [r] = JsonDeviceProbe("p", json_device_server.url("/status"), preset="web_presenter").run()
    assert r.metrics["up"] == 0.0 and r.conditions == ("NOT_STREAMING",)
    assert r.metrics["bitrate_bps"] == 6_000_000  # "6000000" is still read as a number


# ----------------------------------------------------------------------------- network


def test_endpoint_from_camera_url_never_has_credentials():
    assert camera_endpoint("rtsp://admin:s3cret@127.0.0.1/cam") == ("127.0.0.1", 554)
    assert camera_endpoint("rtmp://127.0.0.1:1999/live/x") == ("127.0.0.1", 1999)
    assert camera_endpoint("demo://testsrc2?x=1") is None


def test_classify_tells_network_down_from_camera_down():
    assert classify(["ok", "timeout"]) == ("OK", ())
    assert classify(["refused"] * 3) == ("PORT_CLOSED", ())
    assert classify(["timeout"] * 3) == ("NETWORK_DOWN", ("NETWORK_DOWN",))
    assert classify(["unreachable", "timeout"]) == ("NETWORK_DOWN", ("NETWORK_DOWN",))


def test_open_port_and_refused_port_on_loopback():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    try:
        [r] = NetworkProbe("cam", "127.0.0.1", srv.getsockname()[1], attempts=3).run()
        assert r.ok and r.state == "OK" and r.metrics["loss_ratio"] == 0.0 and r.metrics["connect_latency_s"] > 0
        if "icmp_rtt_s" in r.metrics:  # only where unprivileged ICMP is permitted
            assert r.metrics["icmp_up"] == 1.0
    finally:
        srv.close()
    [r] = NetworkProbe("cam", "127.0.0.1", free_port(), attempts=2, icmp=False).run()
    assert r.state == "PORT_CLOSED" and not r.conditions and "host up" in r.error


def test_silent_host_is_network_down():
    """A listener whose accept queue is full drops SYNs: connects time out like a dead network path."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the backlog (never accepted)
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fillers.append(c)
        time.sleep(0.2)
        [r] = NetworkProbe("cam", "127.0.0.1", port, attempts=2, timeout_s=0.5, icmp=False).run()
        assert r.state == "NETWORK_DOWN" and r.conditions == ("NETWORK_DOWN",) and r.metrics["loss_ratio"] == 1.0
    finally:
        for c in fillers:
            c.close()
        srv.close()


# ----------------------------------------------------------------------------- scheduler


class _FanOut:
    kind = "test"
    interval_s = 0.2

    def __init__(self, name: str, n: int) -> None:
        self.name, self.n = name, n
        self.threads: set[str] = set()

    def run(self, ctx):
        def one(i):
            self.threads.add(threading.current_thread().name)
            time.sleep(0.01)
            return i * 2

        out = ctx.map(one, list(range(self.n)), parallelism=8)
        return [ProbeResult("test", self.name, ok=out == [i * 2 for i in range(self.n)])]


class _Crashes:
    kind = "test"
    interval_s = 0.2
    name = "crashy"

    def run(self, ctx):
        raise KeyError("bug")


def test_fan_out_on_a_saturated_pool_never_deadlocks():
    sched = ProbeScheduler(workers=2)
    probes = [_FanOut(f"p{i}", 20) for i in range(4)]  # 4 fan-outs on 2 workers
    for p in probes:
        sched.add(p)
    sched.add(_Crashes())
    sched.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(sched.runs_total.get(p.name, 0) >= 2 for p in probes):
            time.sleep(0.05)
    finally:
        sched.stop()
    assert all(sched.runs_total.get(p.name, 0) >= 2 for p in probes)
    assert all(r.ok for r in sched.results.of_kind("test") if r.target != "crashy")
    [crash] = sched.results.for_probe("crashy")
    assert crash.state == "PROBE_ERROR" and "KeyError" in crash.error and sched.failures_total["crashy"] >= 1
    assert all(t.startswith("probes:worker") for p in probes for t in p.threads)

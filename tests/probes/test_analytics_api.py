"""Analytics-server probe against the lab's fake API (real loopback HTTP), with its fault catalogue."""

from __future__ import annotations

import pytest

from probes.analytics_api import AnalyticsApiProbe, parse_stream_detail, parse_stream_list
from probes.base import ProbeResults, stream_snapshot
from probes.scheduler import ProbeScheduler
from tests.lab import FakeAnalyticsApi


def by_id(results):
    return {r.labels["stream_id"]: r for r in results if r.kind == "analytics_stream"}


def test_cycle_reads_every_stream(fake_api):
    fake_api.set_state(1, "ERROR")
    fake_api.set_state(2, "STOPPED")
    probe = AnalyticsApiProbe(fake_api.base_url, parallelism=4, timeout_s=5)
    server, *streams = probe.run()
    assert server.ok and server.metrics["streams"] == 8 and server.metrics["errors_total"] == 0
    assert server.labels["source_host"] == "127.0.0.1" and server.metrics["response_time_s"] > 0
    s = by_id(streams)
    first = s["c73a1992f67961d1"]
    assert first.state == "RUNNING" and first.metrics["up"] == 1.0 and first.metrics["fps"] == 15
    assert first.metrics["frame_width"] == 1146 and first.labels["last_error_msg"] == "Stream is running.."
    assert first.labels["stream_name"] == "LOKASI-A" and first.labels["node_num"] == "0"
    err = s[fake_api.stream(1).stream_id]
    assert err.state == "ERROR" and err.metrics["up"] == 0.0 and "Connection timed out" in err.labels["last_error_msg"]
    stopped = s[fake_api.stream(2).stream_id]
    assert stopped.state == "STOPPED" and stopped.metrics["active"] == 0.0
    assert fake_api.requests_to("/streams/*") == 8


def test_fallback_to_pipeline_state_and_wrong_types():
    doc = {"active": True, "stream_stats": {"fps": "15"}, "status": {"pipelines": [{"state": "RUNNING"}]}}
    d = parse_stream_detail(doc)
    assert d["state"] == "RUNNING" and d["active"] and d["fps"] is None  # "15" (str) is not a number
    # the analytics exporter's Python truthiness: "true" (text) is active (tests/probes/test_analytics_parity.py)
    assert parse_stream_detail({"active": "true", "stream_stats": []})["active"] is True
    listing = parse_stream_list({"streams": [{"stream_id": "a", "stream_node_num": 0}, 5, {"x": 1}]})
    assert listing.streams == [("a", "0", "UNKNOWN_STREAM")] and listing.skipped == 2


@pytest.mark.parametrize(
    "fault,kw,words",
    [
        ("status", {"status": 500}, "HTTP 500"),
        ("malformed", {}, "invalid JSON"),
        ("wrong_types", {}, "/streams: expected a list of streams, got an object"),
        ("huge", {"size": 8_000_000}, "response too large"),
        ("close", {}, "connection closed by the server"),
        ("hang", {"delay": 5}, "no answer within"),
        ("body", {"body": b"<html>maintenance</html>", "content_type": "text/html"}, "HTML page"),
        ("empty", {}, "empty response body"),
    ],
)
def test_list_faults_give_api_error_in_words(fake_api, fault, kw, words):
    fake_api.inject("/streams", fault, **kw)
    # only the hang case relies on the timeout; the others get time to build big bodies on a busy machine
    probe = AnalyticsApiProbe(fake_api.base_url, timeout_s=1.0 if fault == "hang" else 15.0)
    results = probe.run()
    assert len(results) == 1
    [server] = results
    assert not server.ok and server.state == "API_ERROR" and words in server.error, server.error
    assert server.metrics["errors_total"] == 1
    probe.run()
    assert probe.errors_total == 2  # a real counter: it only grows


def test_detail_faults_are_per_stream(fake_api):
    fake_api.inject(fake_api.detail_path(3), "status", status=503)
    fake_api.inject(fake_api.detail_path(4), "wrong_types")
    fake_api.inject(fake_api.detail_path(5), "slow", delay=3)
    probe = AnalyticsApiProbe(fake_api.base_url, parallelism=8, timeout_s=1.0)
    server, *streams = probe.run()
    s = by_id(streams)
    assert s[fake_api.stream(3).stream_id].state == "API_ERROR" and "HTTP 503" in s[fake_api.stream(3).stream_id].error
    # wrong types: state is a number (7, the length of "RUNNING") -> "7" as the exporter labels it: down
    w = s[fake_api.stream(4).stream_id]
    assert w.ok and w.state == "7" and w.metrics["up"] == 0.0
    assert s[fake_api.stream(5).stream_id].state == "API_ERROR"
    assert server.state == "DEGRADED" and server.metrics["detail_errors"] == 2 and probe.errors_total == 2
    assert sum(1 for r in streams if r.state == "RUNNING") == 5


def test_unreachable_server():
    from tests.lab import free_port

    [server] = AnalyticsApiProbe(f"http://127.0.0.1:{free_port()}", timeout_s=1).run()
    assert server.state == "API_ERROR" and "connection refused" in server.error


def test_streams_become_status_tiles(fake_api):
    fake_api.set_state(0, "ERROR", last_error_msg="Failed to open input stream")
    store = ProbeResults()
    probe = AnalyticsApiProbe(fake_api.base_url)
    store.replace(probe.name, probe.run())
    tiles = store.snapshots()
    assert len(tiles) == 8 and all(k.startswith("api:127.0.0.1/") for k in tiles)
    t0 = tiles["api:127.0.0.1/0/c73a1992f67961d1"]
    assert t0.state.value == "ERROR" and t0.reason == "Failed to open input stream"
    live = [t for t in tiles.values() if t.state.value == "LIVE"]
    assert len(live) == 7 and live[0].fps_received == 15 and live[0].resolution == "1146x646"
    assert stream_snapshot(store.of_kind("analytics_stream")[0]).extra["source"] == "analytics_api"


def test_many_servers_on_one_bounded_pool():
    servers = [FakeAnalyticsApi(streams=30, per_location=10, latency=0.01).start() for _ in range(3)]
    try:
        sched = ProbeScheduler(workers=4)
        probes = [AnalyticsApiProbe(s.base_url, name=f"site{i}", parallelism=8, timeout_s=5)
                  for i, s in enumerate(servers)]  # fmt: skip
        for p in probes:
            sched.add(p)
        sched.start()
        try:
            import time

            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(sched.results.of_kind("analytics_stream")) < 90:
                time.sleep(0.1)
        finally:
            sched.stop()
        assert len(sched.results.of_kind("analytics_stream")) == 90
        assert all(r.state == "RUNNING" for r in sched.results.of_kind("analytics_stream"))
        worker_threads = {t for t in __import__("threading").enumerate() if t.name.startswith("probes:worker")}
        assert not worker_threads  # the pool is gone after stop()
    finally:
        for s in servers:
            s.stop()


def test_stopping_mid_cycle_stores_nothing():
    """Scheduler stop during the detail fan-out: no half cycle of "stopped" API_ERRORs reaches the store."""
    import time

    api = FakeAnalyticsApi(streams=60, latency=0.05).start()
    sched = ProbeScheduler(workers=2)
    probe = AnalyticsApiProbe(api.base_url, parallelism=2, timeout_s=5, interval_s=3600)
    sched.add(probe)
    try:
        sched.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and api.requests_to("/streams/*") < 4:
            time.sleep(0.01)
        assert api.requests_to("/streams/*") >= 4
        sched.stop()
        assert api.requests_to("/streams/*") < 60  # it really stopped early
        assert sched.results.for_probe(probe.name) == ()
    finally:
        sched.stop()
        api.stop()


def test_https_server_is_polled_like_http(tmp_path):
    """An https:// analytics server goes through the same fan-out client (TLS by aiohttp), cert trusted."""
    import json

    from tests.probes.raw_http import RawServer, ok_response, self_signed_cert

    listing = {"streams": [{"stream_id": f"s{i}", "stream_node_num": 0, "stream_name": "GATE"} for i in range(6)]}
    detail = {"active": True, "stream_stats": {"state": "RUNNING", "fps": 12}}

    def respond(path, sock):
        sock.sendall(ok_response(json.dumps(listing if path == "/streams" else detail).encode()))
        return True

    cert, key = self_signed_cert(tmp_path)
    srv = RawServer(respond, tls=(cert, key))
    probe = AnalyticsApiProbe(srv.base_url, parallelism=3, timeout_s=5, cafile=str(cert))
    try:
        server, *streams = probe.run()
        again = probe.run()
    finally:
        probe.close()
        srv.stop()
    assert server.ok and server.state == "OK" and len(streams) == 6, server.error
    assert all(r.state == "RUNNING" and r.metrics["fps"] == 12 for r in streams)
    assert again[0].ok and srv.connections <= 3  # TLS connections kept alive across cycles


def test_last_error_msg_with_a_camera_password_is_masked_at_the_probe(fake_api):
    """FFmpeg-based servers repeat the input URL: the probe masks it once, for every consumer."""
    pw = "Ffm9egPw"
    fake_api.set_state(
        1, "ERROR", last_error_msg=f"Failed to open input stream: rtsp://admin:{pw}@10.1.2.3:554/live?password={pw}"
    )
    probe = AnalyticsApiProbe(fake_api.base_url, parallelism=4, timeout_s=5)
    try:
        _server, *streams = probe.run()
    finally:
        probe.close()
    msg = by_id(streams)[fake_api.stream(1).stream_id].labels["last_error_msg"]
    assert msg.startswith("Failed to open input stream: rtsp://admin:***@10.1.2.3:554/live"), msg
    assert pw not in msg
    assert all(pw not in repr(r) for r in streams)


def test_stop_does_not_wait_for_a_stream_list_that_never_comes():
    """The /streams request is stop-aware: a dead server does not hold the shutdown for its deadline."""
    import threading
    import time

    api = FakeAnalyticsApi(streams=4).start()
    api.inject("/streams", "hang", delay=120)
    sched = ProbeScheduler(workers=2)
    probe = AnalyticsApiProbe(api.base_url, timeout_s=60, interval_s=3600)  # deadline 120 s
    sched.add(probe)
    stopper = threading.Thread(target=sched.stop, daemon=True)
    try:
        sched.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and api.requests_to("/streams") < 1:
            time.sleep(0.01)
        assert api.requests_to("/streams") == 1
        stopper.start()
        stopper.join(15)  # bounded wait for the event; the old code waited for the 120 s deadline
        assert not stopper.is_alive(), "scheduler stop waited for the hanging /streams request"
        assert sched.results.for_probe(probe.name) == ()  # ProbeStopped: nothing stored
    finally:
        api.stop()
        stopper.join(30)
        sched.stop()
        probe.close()


def test_cafile_from_the_config_reaches_the_probe(tmp_path):
    """probes.analytics_servers[].cafile: trusted end to end; a missing or bad file is a config error in words."""
    import json

    from app.config import AppConfig, ConfigError, load_config
    from probes.registry import build_probes
    from tests.probes.raw_http import RawServer, ok_response, self_signed_cert

    def respond(path, sock):
        body = {"streams": []} if path == "/streams" else {}
        sock.sendall(ok_response(json.dumps(body).encode()))
        return True

    cert, key = self_signed_cert(tmp_path)
    srv = RawServer(respond, tls=(cert, key))
    cfg = AppConfig.model_validate(
        {"probes": {"analytics_servers": [{"base_url": srv.base_url, "name": "tls", "cafile": str(cert)}]}}
    )
    [probe] = build_probes(cfg, ("analytics_api",))
    try:
        [server] = probe.run()
    finally:
        probe.close()
        srv.stop()
    assert server.ok and server.state == "OK", server.error

    for cafile, words in ((tmp_path / "nope.pem", "no such file"), (key.with_name("bad.pem"), "not a readable PEM")):
        if cafile.name == "bad.pem":
            cafile.write_text("not a certificate\n")
        path = tmp_path / "vigil.json"
        doc = {"probes": {"analytics_servers": [{"base_url": "https://127.0.0.1:9", "cafile": str(cafile)}]}}
        path.write_text(json.dumps(doc))
        with pytest.raises(ConfigError, match=words):
            load_config(path)

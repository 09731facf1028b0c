"""Per-probe hard limits against real loopback servers that count the requests they get.

* an analytics server listing 50,000 streams costs ``probes.analytics_max_streams`` detail GETs, and the
  server result names the limit;
* a master playlist of 64 variants costs ``MAX_VARIANTS`` media-playlist GETs and ``MAX_SEGMENT_CHECKS``
  segment downloads per cycle (the renditions take turns), with one segment body in memory at a time;
* a segment larger than the probe's byte limit is an error that names the limit.
"""

from __future__ import annotations

import tracemalloc

import pytest

from app.config import AppConfig
from probes.hls import MAX_SEGMENT_CHECKS, MAX_VARIANTS, HlsProbe
from probes.registry import build_probes
from probes.scheduler import ProbeScheduler
from tests.lab import JsonDeviceServer
from tests.lab.fake_api import FakeHttpJsonServer


class ManyStreams(FakeHttpJsonServer):
    """An analytics server with *n* streams, every one RUNNING (the listing is built once)."""

    name = "many_streams"

    def __init__(self, n: int) -> None:
        super().__init__()
        self.listing = {
            "streams": [{"stream_id": f"s{i:05d}", "stream_node_num": 0, "stream_name": "SITE"} for i in range(n)]
        }

    def route(self, method, path, body):
        if path == "/streams":
            return 200, self.listing
        if path.startswith("/streams/0/s"):
            return 200, {"active": True, "stream_stats": {"state": "RUNNING", "fps": 15}}
        return 404, {"error": "not found"}


@pytest.fixture(scope="module")
def fifty_thousand():
    srv = ManyStreams(50_000).start()
    yield srv
    srv.stop()


def test_fifty_thousand_streams_cost_the_configured_number_of_detail_gets(fifty_thousand):
    cfg = AppConfig.model_validate(
        {"probes": {"analytics_max_streams": 256, "analytics_servers": [{"base_url": fifty_thousand.base_url}]}}
    )
    [probe] = build_probes(cfg, ("analytics_api",))
    before = fifty_thousand.requests_to("/streams/*")
    try:
        server, *streams = probe.run()
    finally:
        probe.close()
    assert fifty_thousand.requests_to("/streams/*") - before == 256  # counted by the server
    assert len(streams) == 256 and all(r.state == "RUNNING" for r in streams)
    assert streams[0].labels["stream_id"] == "s00000" and streams[-1].labels["stream_id"] == "s00255"  # the first
    assert server.ok and server.state == "DEGRADED"
    assert "50,000 streams listed; only the first 256 are checked (limit: probes.analytics_max_streams)" in server.error
    assert server.metrics["streams_listed"] == 50_000 and server.metrics["skipped:over_limit"] == 50_000 - 256


def test_the_default_stream_limit_bounds_a_cycle(fifty_thousand):
    [probe] = build_probes(
        AppConfig.model_validate({"probes": {"analytics_servers": [{"base_url": fifty_thousand.base_url}]}}),
        ("analytics_api",),
    )
    before = fifty_thousand.requests_to("/streams/*")
    try:
        server, *streams = probe.run()
    finally:
        probe.close()
    assert AppConfig().probes.analytics_max_streams == 1000
    assert fifty_thousand.requests_to("/streams/*") - before == 1000 == len(streams)
    assert "only the first 1,000 are checked (limit" in server.error


SEGMENT = b"\x47" * (8 * 1024 * 1024)  # one 8 MiB body, served for every segment path (held once by the server)


def _master(n: int) -> bytes:
    lines = ["#EXTM3U"]
    for i in range(n):
        lines += [f"#EXT-X-STREAM-INF:BANDWIDTH={(n - i) * 100_000},RESOLUTION=640x360", f"v{i:02d}/index.m3u8"]
    return ("\n".join(lines) + "\n").encode()


def _media(i: int) -> bytes:
    return (f"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:6.0,\nseg{i:02d}.ts\n").encode()


def _ladder_server(segment: bytes) -> JsonDeviceServer:
    srv = JsonDeviceServer().start()
    mpegurl = "application/vnd.apple.mpegurl"
    srv.inject("/live/master.m3u8", "body", body=_master(64), content_type=mpegurl)
    for i in range(64):
        srv.inject(f"/live/v{i:02d}/index.m3u8", "body", body=_media(i), content_type=mpegurl)
        srv.inject(f"/live/v{i:02d}/seg{i:02d}.ts", "body", body=segment, content_type="video/mp2t")
    return srv


@pytest.fixture
def ladder_of_64():
    srv = _ladder_server(SEGMENT)
    yield srv
    srv.stop()


@pytest.fixture
def light_ladder_of_64():
    """The same ladder with 64 KiB segments: nine cycles of it are quick on a slow machine."""
    srv = _ladder_server(SEGMENT[: 64 * 1024])
    yield srv
    srv.stop()


def test_64_variants_cost_bounded_gets_and_take_turns_for_segments(light_ladder_of_64):
    srv = light_ladder_of_64
    probe = HlsProbe("cam", srv.url("/live/master.m3u8"), timeout_s=20, parallelism=4)
    sched = ProbeScheduler(workers=4)
    sched.add(probe)
    try:
        master, *renditions = sched.run_now(probe.name)
        assert srv.requests_to("/live/v*/index.m3u8") == MAX_VARIANTS == len(renditions) == 32
        assert srv.requests_to("/live/v*/seg*.ts") == MAX_SEGMENT_CHECKS == 4
        assert (
            "master playlist lists 64 variants; only the first 32 (highest bandwidth) are checked "
            "(limit: 32 variants per cycle)" in master.error
        )
        assert master.metrics["variants_unchecked"] == 32 and master.metrics["abr_rung_count"] == 64
        for _ in range(8):  # 32 renditions / 4 per cycle: every one has had its turn after 8 more cycles
            last = sched.run_now(probe.name)
    finally:
        sched.stop()
        probe.close()
    assert srv.requests_to("/live/v*/index.m3u8") == 9 * 32
    assert srv.requests_to("/live/v3[2-9]/*") + srv.requests_to("/live/v[4-6]?/*") == 0  # never one over the limit
    assert srv.requests_to("/live/v*/seg*.ts") == 9 * 4
    seen = {p for _, _, p in srv.requests if p.endswith(".ts")}
    assert len(seen) == 32  # each rendition's newest segment was checked in turn
    results = last[1:]
    assert len(results) == 32 and all(r.metrics["segment_bytes"] == 64 * 1024 for r in results)  # last one stands


def test_one_segment_body_in_memory_at_a_time(ladder_of_64):
    """Through the scheduler's fan-out (renditions polled four at a time, as in the app)."""
    probe = HlsProbe("cam", ladder_of_64.url("/live/master.m3u8"), timeout_s=20, parallelism=4)
    sched = ProbeScheduler(workers=4)
    sched.add(probe)
    try:
        sched.run_now(probe.name)  # warm: connections, imports
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            _master, *renditions = sched.run_now(probe.name)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        sched.stop()
        probe.close()
    assert sum(1 for r in renditions if r.metrics.get("segment_bytes") == len(SEGMENT)) == 2 * MAX_SEGMENT_CHECKS
    # one segment is read into a buffer and copied once (probes.http.fetch): 2 x 8 MiB, plus change;
    # four renditions downloading at once, as before, held up to 4 x 2 x 8 MiB (39 MB measured)
    assert peak < 2.5 * len(SEGMENT) + 6_000_000, f"peak {peak / 1e6:.1f} MB"


def test_a_segment_over_the_byte_limit_names_the_limit(ladder_of_64):
    probe = HlsProbe("cam", ladder_of_64.url("/live/master.m3u8"), timeout_s=20, max_segment_bytes=1_000_000)
    try:
        _master_result, *renditions = probe.run()
    finally:
        probe.close()
    checked = [r for r in renditions if "segment_http_status" in r.metrics]
    assert len(checked) == MAX_SEGMENT_CHECKS
    for r in checked:
        assert "HLS_SEGMENT_ERROR" in r.conditions
        assert "segment: response too large: 8,388,608 bytes (limit 1,000,000)" in r.error, r.error

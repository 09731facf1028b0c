"""Benchmark: one analytics-API poll cycle over 9 servers x 200 streams, and picture-health CPU per frame.

    .venv/bin/python bench/probes.py                      # 9 x 200, 3 cycles; picture health 500 frames
    .venv/bin/python bench/probes.py --servers 9 --streams 200 --cycles 5 --latency-ms 2

The fake servers (tests/lab FakeAnalyticsApi) run in a child process, so the figures are Vigil's
client side only (as with real remote servers). ``--latency-ms`` adds a per-request server delay
(network + server time in the field). For comparison the old exporter's way (one request after another) is
timed once on a smaller share and extrapolated. Picture health: the per-frame work of the frame sink
(FFmpeg downscale to 96 px grey + freeze/black/timestamp/rate state machines) on synthetic frames.
Figures, not pass/fail: nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from app.config import ThresholdTemplate  # noqa: E402
from app.health.picture import PictureAnalyser, small_gray  # noqa: E402
from probes.analytics_api import AnalyticsApiProbe  # noqa: E402
from probes.scheduler import ProbeScheduler  # noqa: E402

SERVER_CHILD = r"""
import sys, json, time
sys.path.insert(0, {root!r})
from tests.lab import FakeAnalyticsApi
servers = [FakeAnalyticsApi(streams={streams}, per_location=20, latency={latency}).start() for _ in range({n})]
for s in servers:
    s._httpd.request_queue_size = 256
    # The lab handler writes headers and body separately; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms per request on Linux). --nodelay removes that artefact of the fake server.
    s._httpd.RequestHandlerClass.disable_nagle_algorithm = {nodelay}
print(json.dumps([s.base_url for s in servers]), flush=True)
sys.stdin.read()
for s in servers:
    s.stop()
"""


def bench_api(
    n_servers: int, streams: int, cycles: int, latency_ms: float, workers: int, parallelism: int, nodelay: bool
) -> None:
    # one process per server, like 9 separate machines (one Python process would serialise them on its GIL)
    code = SERVER_CHILD.format(root=str(ROOT), streams=streams, latency=latency_ms / 1000, n=1, nodelay=nodelay)
    children = [
        subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(n_servers)
    ]
    try:
        urls = [json.loads(c.stdout.readline())[0] for c in children]
        sched = ProbeScheduler(workers=workers)
        for i, u in enumerate(urls):
            sched.add(AnalyticsApiProbe(u, name=f"site{i}", parallelism=parallelism, timeout_s=10, interval_s=3600))
        sched.start()
        times, cpu = [], []
        try:
            for c in range(cycles + 1):
                t0, c0 = time.perf_counter(), time.process_time()
                out = sched.run_cycle()
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                n_ok = sum(1 for rs in out.values() for r in rs if r.kind == "analytics_stream" and r.ok)
                assert n_ok == n_servers * streams, f"only {n_ok} streams answered"
                if c > 0:  # the first cycle opens the connections
                    times.append(dt)
                    cpu.append(dc)
        finally:
            sched.stop()
        total = n_servers * streams
        print(
            f"API poll cycle, {n_servers} servers x {streams} streams = {total} detail requests "
            f"(+{n_servers} lists), server latency {latency_ms:g} ms, pool {workers} workers, "
            f"parallelism {parallelism}/server, server TCP_NODELAY {'on' if nodelay else 'off (lab default)'}:"
        )
        print(
            f"  wall time per cycle: median {statistics.median(times):.3f} s  (min {min(times):.3f}, "
            f"max {max(times):.3f}, {cycles} cycles)   goal < 1 s"
        )
        print(
            f"  Vigil CPU per cycle: {statistics.median(cpu):.3f} s "
            f"({statistics.median(cpu) / total * 1e6:.0f} µs/request)"
        )
        # the old exporter's sequential loop (one request at a time, parallelism 1), one server, extrapolated
        probe = AnalyticsApiProbe(urls[0], timeout_s=10, parallelism=1)
        probe.run()
        t0 = time.perf_counter()
        probe.run()
        seq = time.perf_counter() - t0
        print(
            f"  exporter-style sequential (one server, {streams} streams): {seq:.3f} s -> x{n_servers} servers "
            f"≈ {seq * n_servers:.1f} s per cycle"
        )
    finally:
        for c in children:
            c.stdin.close()
        for c in children:
            c.wait(30)


def bench_picture(frames: int) -> None:
    tpl = ThresholdTemplate()
    rng = np.random.default_rng(0)
    for w, h in ((640, 360), (1920, 1080)):
        analyser = PictureAnalyser(tpl)
        src = []
        for i in range(8):
            img = np.full((h, w, 3), 90, np.uint8)
            img[:, (i * 37) % (w - 40) : (i * 37) % (w - 40) + 40] = 220
            img[: h // 10] = rng.integers(0, 255, (h // 10, w, 3), dtype=np.uint8)
            src.append(av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p"))
        for i in range(20):  # warm-up (swscale contexts)
            analyser.on_frame(small_gray(src[i % 8]), i * 0.2, i * 0.2)
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(frames):
            f = src[i % 8]
            t = 10 + i * 0.2
            analyser.on_frame(small_gray(f), t, t)
            analyser.on_rates(15.0, 2e6, 60.0, t)
        wall = (time.perf_counter() - t0) / frames * 1e6
        cpu = (time.process_time() - c0) / frames * 1e6
        # the sink runs at most 5 frames/s per camera
        print(
            f"picture health {w}x{h} yuv420p: {cpu:.0f} µs CPU/frame ({wall:.0f} µs wall); at 5 analysed "
            f"frames/s = {cpu * 5 / 1e4:.3f} % of one core per camera"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", type=int, default=9)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=0.0)
    ap.add_argument("--workers", type=int, default=32)
    ap.add_argument("--parallelism", type=int, default=16)
    ap.add_argument("--frames", type=int, default=500)
    ap.add_argument("--nagle", action="store_true", help="keep the lab server's Nagle stalls (no TCP_NODELAY)")
    a = ap.parse_args()
    bench_picture(a.frames)
    bench_api(a.servers, a.streams, a.cycles, a.latency_ms, a.workers, a.parallelism, not a.nagle)


if __name__ == "__main__":
    main()

"""Motion and recording costs. Prints figures; asserts nothing.

1. motion: detector µs per frame at the analysis size, and the decode-thread hand-over
   (``frame.reformat(gray)`` + ndarray) from 640x360 and 1920x1080 pictures;
2. recording: recorder CPU (its threads) per stream-hour, from lab RTSP streams (stream copy);
3. combined: process CPU of N cameras recording + N analysing motion (RTSP lab serving a pre-encoded
   clip by stream copy), against the same N cameras with neither (the decode cost of the wall).

    .venv/bin/python bench/motion_record.py [--cameras 32] [--seconds 30]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path

import av
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.compose import add_recording
from app.config import AppConfig, CameraConfig, CameraRecordingSettings, MotionSettings
from app.motion.detector import MotionDetector, MotionParams
from app.paths import Paths
from app.runtime import Runtime
from tests.lab import RtspServer, make_clip


def bench_motion(n: int = 600) -> None:
    w, h = 320, 180
    frames = []
    for i in range(60):
        img = np.full((h, w), 90, np.uint8)
        img[60:100, (i * 5) % 280 : (i * 5) % 280 + 40] = 230
        frames.append(img)
    det = MotionDetector(MotionParams(masks=(((0.0, 0.0), (0.2, 0.0), (0.2, 0.2)),)))
    for f in frames[:10]:
        det.process(f, 0)
    t0 = time.perf_counter()
    for i in range(n):
        det.process(frames[i % 60], i * 0.25)
    us = (time.perf_counter() - t0) / n * 1e6
    print(f"motion detector at {w}x{h}: {us:.0f} µs/frame (= {us * 4 / 1e4:.3f} % of one core per camera at 4 fps)")
    for sw, sh in ((640, 360), (1920, 1080)):
        vf = av.VideoFrame.from_ndarray(np.random.randint(0, 255, (sh, sw, 3), np.uint8), format="rgb24")
        vf = vf.reformat(format="yuv420p")
        t0 = time.perf_counter()
        for _ in range(200):
            vf.reformat(width=w, height=h, format="gray").to_ndarray()
        us = (time.perf_counter() - t0) / 200 * 1e6
        print(f"decode-thread hand-over (reformat to grey {w}x{h} + ndarray) from {sw}x{sh}: {us:.0f} µs/frame")


def thread_cpu(prefixes: tuple[str, ...]) -> float:
    ids = {t.native_id for t in threading.enumerate() if t.name.startswith(prefixes)}
    return sum(t.user_time + t.system_time for t in psutil.Process().threads() if t.id in ids)


def run_wall(urls: list[str], seconds: float, motion: bool, record: bool, root: Path) -> dict:
    cams = [CameraConfig(id=f"c{i:02d}", name=f"C{i}", url=u,
                         motion=MotionSettings(enabled=motion, analysis_fps=4),
                         recording=CameraRecordingSettings(mode="continuous" if record else "off"))
            for i, u in enumerate(urls)]  # fmt: skip
    cfg = AppConfig(cameras=cams)
    cfg.recording.segment_seconds = 10
    cfg.recording.reserve_mb = 0
    rt = Runtime(config=cfg, paths=Paths(root / "v.json", root, root / "rec", root / "logs"))
    add_recording(rt)
    rt.start()
    proc = psutil.Process()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(s.frames_decoded_total > 0 for s in rt.supervisor.snapshots().values()) == len(urls):
                break
            time.sleep(0.5)
        time.sleep(3)  # settle
        c0, mot0, t0 = proc.cpu_times(), thread_cpu(("motion:",)), time.monotonic()
        rec_threads0 = sum(
            t.user_time + t.system_time for t in proc.threads()
            if t.id in {x.native_id for x in threading.enumerate() if x.name.endswith(":record")}
        )  # fmt: skip
        time.sleep(seconds)
        c1, t1 = proc.cpu_times(), time.monotonic()
        rec_threads1 = sum(
            t.user_time + t.system_time for t in proc.threads()
            if t.id in {x.native_id for x in threading.enumerate() if x.name.endswith(":record")}
        )  # fmt: skip
        mot1 = thread_cpu(("motion:",))
        live = sum(s.frames_decoded_total > 0 for s in rt.supervisor.snapshots().values())
        recorder, motion_svc = rt.recording, rt.motion
        segs = sum(s.segments_total for s in recorder.statuses().values()) if recorder else 0
        dropped = sum(s.packets_dropped for s in recorder.statuses().values()) if recorder else 0
        analysed = sum(s.frames_analysed for s in motion_svc.states().values()) if motion_svc else 0
        mdrop = sum(s.frames_dropped for s in motion_svc.states().values()) if motion_svc else 0
    finally:
        rt.stop()
    wall = t1 - t0
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    return dict(cpu_pct=cpu / wall * 100, wall=wall, live=live, rec_cpu=rec_threads1 - rec_threads0,
                motion_cpu=mot1 - mot0, segments=segs, dropped=dropped, analysed=analysed,
                motion_dropped=mdrop)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"machine: {psutil.cpu_count()} cores; figures are process CPU (100 % = one core)")
    bench_motion()
    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as d:
        run_dir = Path(d)
        clip = make_clip(run_dir / "clip.mp4", seconds=10, size="640x360", fps=15)
        with RtspServer(run_dir, mounts=args.cameras, clip=clip, fps=15, overlay=False) as rtsp:
            urls = rtsp.urls
            base = run_wall(urls, args.seconds, motion=False, record=False, root=run_dir / "a")
            full = run_wall(urls, args.seconds, motion=True, record=True, root=run_dir / "b")
    n = args.cameras
    hours = n * full["wall"] / 3600
    print(f"recording: recorder threads {full['rec_cpu']:.2f} CPU-s over {n} streams x {full['wall']:.0f} s "
          f"= {full['rec_cpu'] / hours:.1f} CPU-s per stream-hour ({full['segments']} segments closed, "
          f"{full['dropped']} packets dropped)")  # fmt: skip
    print(f"motion worker: {full['motion_cpu']:.2f} CPU-s, {full['analysed']} pictures analysed, "
          f"{full['motion_dropped']} replaced before analysis")  # fmt: skip
    print(f"{n} cameras decoding only (baseline):          {base['cpu_pct']:.0f} % CPU ({base['live']} live)")
    print(f"{n} cameras + {n} recording + {n} analysing:   {full['cpu_pct']:.0f} % CPU ({full['live']} live); "
          f"recording + motion add {full['cpu_pct'] - base['cpu_pct']:.0f} %")  # fmt: skip


if __name__ == "__main__":
    main()

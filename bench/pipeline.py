"""Benchmark: N lab cameras through Vigil's pipeline to tile-size RGB frames.

    .venv/bin/python bench/pipeline.py                 # 8, 16 and 32 cameras, 640x360 @ 15 fps, RTSP
    .venv/bin/python bench/pipeline.py --cameras 32 --seconds 30
    .venv/bin/python bench/pipeline.py --source hls --cameras 8 16        # live HLS, 2 s segments, paced
    .venv/bin/python bench/pipeline.py --size 1920x1080 --cameras 2 4     # 1080p main streams

The lab serves a pre-encoded clip by stream copy (cheap): over RTSP (GStreamer) one mount per camera; over
live HLS (ffmpeg's HLS muxer into the lab nginx, 2 s segments) one playlist that every camera reads on its
own connection. Either way every camera is its own connection and decoder. For each N it prints: Vigil's
CPU per camera (process CPU time over the measurement window, after warm-up), received vs decoded fps,
dropped frames, time to first frame, pipeline latency, and the physical limit: the ffmpeg CLI's CPU to
decode (and to decode + scale to the same tile size) the same stream with one thread (``-f null``). The lab
servers' own CPU (with their worker processes) is reported separately. Figures, not pass/fail: nothing
here is a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from app.pipeline.frames import fit_size  # noqa: E402
from app.pipeline.pipeline import CameraPipeline, PipelineOptions  # noqa: E402
from app.pipeline.state import StreamState  # noqa: E402
from tests.lab import HlsPackager, NginxServer, RtspServer, make_clip  # noqa: E402

GRID = {1: (1, 1), 2: (2, 1), 4: (2, 2), 8: (4, 2), 16: (4, 4), 32: (8, 4), 64: (8, 8)}
SCREEN = (1920, 1080)


def tile_box(n: int) -> tuple[int, int]:
    cols, rows = GRID.get(n, (8, 8))
    return SCREEN[0] // cols, SCREEN[1] // rows


def ffmpeg_cpu_per_frame(clip: Path, vf: str | None) -> float:
    """CPU seconds per frame for the ffmpeg CLI decoding the clip with one thread (the physical limit)."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1", "-stream_loop", "9",
           "-i", str(clip)]  # fmt: skip
    if vf:
        cmd += ["-vf", vf, "-pix_fmt", "bgra"]
    cmd += ["-f", "null", "-"]
    before = os.times()
    subprocess.run(cmd, check=True)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_packets", "-of", "csv=p=0", str(clip)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    frames = int(probe.stdout.strip()) * 10
    return cpu / frames


class DisplayReader:
    """Stands in for the wall's paint timer: peeks every slot at 30 Hz, as the GUI does."""

    def __init__(self, pipes: list[CameraPipeline], hz: float = 30.0) -> None:
        self.pipes, self.period = pipes, 1.0 / hz
        self.seqs = [0] * len(pipes)
        self.shown = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="bench:display", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            for i, p in enumerate(self.pipes):
                f = p.slot.peek(self.seqs[i])
                if f is not None:
                    self.seqs[i] = f.seq
                    self.shown += 1

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def start_lab(source: str, n: int, lab_dir: Path, clip: Path, fps: int) -> tuple[list, list[str]]:
    """The lab servers (started) and one URL per camera."""
    if source == "rtsp":
        srv = RtspServer(lab_dir, mounts=n, fps=fps, clip=clip, secure_mounts=0, name=f"bench_rtsp_{n}")
        srv.start()
        return [srv], [srv.url(i) for i in range(1, n + 1)]
    nginx = NginxServer(lab_dir, name=f"bench_nginx_{n}")
    nginx.start()
    hls = HlsPackager(nginx, f"bench{n}", clip=clip, segment_seconds=2)
    hls.start()
    return [hls, nginx], [hls.url] * n


def run(n: int, seconds: float, warmup: float, lab_dir: Path, clip: Path, fps: int, source: str,
        src_size: tuple[int, int]) -> dict:  # fmt: skip
    servers, urls = start_lab(source, n, lab_dir, clip, fps)
    me = psutil.Process()
    labs = [psutil.Process(srv.pid) for srv in servers]
    labs += [c for lab in labs for c in lab.children(recursive=True)]  # nginx's worker, ffmpeg's helpers
    box = tile_box(n)
    opts = PipelineOptions(open_timeout_s=15, read_timeout_s=15, stall_after_s=5)
    pipes = [CameraPipeline(f"cam{i}", f"Cam {i}", url, options=opts) for i, url in enumerate(urls, 1)]
    reader = DisplayReader(pipes)
    try:
        t0 = time.monotonic()
        for p in pipes:
            p.set_output_size(*box)
            p.start()
        reader.__enter__()
        deadline = t0 + 60
        while time.monotonic() < deadline and not all(p.snapshot().state is StreamState.LIVE for p in pipes):
            time.sleep(0.2)
        live_after = time.monotonic() - t0
        time.sleep(warmup)
        before, shown0 = [p.snapshot() for p in pipes], reader.shown
        c0, l0, w0 = me.cpu_times(), [lab.cpu_times() for lab in labs], time.monotonic()
        time.sleep(seconds)
        c1, l1, w1 = me.cpu_times(), [lab.cpu_times() for lab in labs], time.monotonic()
        after, shown1 = [p.snapshot() for p in pipes], reader.shown
    finally:
        reader.__exit__()
        for p in pipes:
            p.stop()
        for srv in servers:
            srv.stop()
    wall = w1 - w0
    cpu = (c1.user - c0.user) + (c1.system - c0.system)
    lab_cpu = sum((b.user - a.user) + (b.system - a.system) for a, b in zip(l0, l1, strict=True))
    rx = [a.fps_received for a in after]  # pictures/s (a picture may come as several packets)
    dec = [(a.frames_decoded_total - b.frames_decoded_total) / wall for a, b in zip(after, before, strict=True)]
    dropped = sum(a.frames_dropped_total - b.frames_dropped_total for a, b in zip(after, before, strict=True))
    ttff = [a.time_to_first_frame_s for a in after if a.time_to_first_frame_s is not None]
    return {
        "n": n,
        "box": fit_size(*src_size, *box),
        "live": sum(a.state is StreamState.LIVE for a in after),
        "live_after_s": live_after,
        "cpu_core": cpu / wall,
        "cpu_per_cam": cpu / wall / n,
        "lab_core": lab_cpu / wall,
        "rx_fps": statistics.mean(rx),
        "dec_fps": statistics.mean(dec),
        "min_dec_fps": min(dec),
        "dropped": dropped,
        "ttff_p50": statistics.median(ttff) if ttff else float("nan"),
        "ttff_max": max(ttff) if ttff else float("nan"),
        "latency_ms": statistics.mean(a.latency_ms for a in after),
        "shown_fps": (shown1 - shown0) / wall / n,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, nargs="*", default=[8, 16, 32])
    ap.add_argument("--seconds", type=float, default=20.0, help="measurement window per N")
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--source", choices=("rtsp", "hls"), default="rtsp", help="how the lab serves the clip")
    ap.add_argument("--size", default="640x360", help="the clip's picture size (e.g. 1920x1080)")
    args = ap.parse_args()

    lab_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    lab_dir.chmod(0o755)
    src_size = tuple(int(v) for v in args.size.split("x"))
    clip = make_clip(lab_dir / f"clip_{args.size}.mp4", seconds=10, size=args.size, fps=args.fps, gop=args.fps)
    how = "RTSP/TCP, one mount per camera" if args.source == "rtsp" else "live HLS, 2 s TS segments, one playlist"
    print(f"machine: {os.cpu_count()} cores; clip {args.size}@{args.fps} H.264 GOP 1 s, served by stream copy ({how})")
    dec_only = ffmpeg_cpu_per_frame(clip, None)
    print(f"ffmpeg CLI, 1 thread: decode {dec_only * 1e6:.0f} us/frame", flush=True)
    header = (f"{'cams':>4} {'tile':>9} {'live':>4} {'CPU cores':>9} {'CPU/cam':>8} {'rx fps':>7} {'dec fps':>7} "
              f"{'min dec':>7} {'shown':>6} {'dropped':>7} {'TTFF p50':>8} {'TTFF max':>8} {'lat ms':>6} {'ffmpeg':>7} "
              f"{'ratio':>5} {'lab CPU':>7}")  # fmt: skip
    rows = []
    for n in args.cameras:
        r = run(n, args.seconds, args.warmup, lab_dir, clip, args.fps, args.source, src_size)
        w, h = r["box"]
        scaled = ffmpeg_cpu_per_frame(clip, f"scale={w}:{h}:flags=bilinear")
        limit = scaled * args.fps * n
        r["ffmpeg_core"], r["ratio"] = limit, r["cpu_core"] / limit if limit else float("nan")
        rows.append(r)
        if len(rows) == 1:
            print(header)
        print(f"{n:>4} {f'{w}x{h}':>9} {r['live']:>4} {r['cpu_core']:>9.2f} {r['cpu_per_cam'] * 100:>7.1f}% "
              f"{r['rx_fps']:>7.2f} {r['dec_fps']:>7.2f} {r['min_dec_fps']:>7.2f} {r['shown_fps']:>6.2f} "
              f"{r['dropped']:>7d} "
              f"{r['ttff_p50']:>7.2f}s {r['ttff_max']:>7.2f}s {r['latency_ms']:>6.1f} {limit:>7.2f} "
              f"{r['ratio']:>5.2f} {r['lab_core']:>7.2f}", flush=True)  # fmt: skip
    print(
        "CPU cores = Vigil process CPU time / wall time (1.00 = one full core); ffmpeg = the same decode + scale "
        "to the tile size by the ffmpeg CLI (1 thread); ratio = Vigil / ffmpeg; lab CPU = the lab's servers; shown = "
        "frames/s per camera taken by a 30 Hz display reader; dropped = frames replaced unseen or dropped by "
        "the decoder queue."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

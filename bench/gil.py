"""Benchmark: how long a GUI-like thread waits for the GIL while N pipelines run (no Qt involved).

    .venv/bin/python bench/gil.py --cameras 32 64

A thread that sleeps 10 ms in a loop stands in for the Qt event loop; its lateness (actual minus
intended wake-up) is what the GUI would feel. A 30 Hz reader peeks every slot, as the wall does.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from app.pipeline.pipeline import CameraPipeline, PipelineOptions  # noqa: E402
from tests.lab import RtspServer, make_clip  # noqa: E402


def lateness(seconds: float) -> list[float]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        time.sleep(0.010)
        out.append((time.monotonic() - t - 0.010) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, nargs="*", default=[32, 64])
    ap.add_argument("--seconds", type=float, default=12)
    ap.add_argument("--switch-ms", type=float, default=None, help="sys.setswitchinterval in ms")
    ap.add_argument("--keyframes-only", type=int, default=0, help="this many cameras decode keyframes only")
    a = ap.parse_args()
    if a.switch_ms:
        sys.setswitchinterval(a.switch_ms / 1000)
    d = Path(tempfile.mkdtemp(prefix="vigil-gil-"))
    d.chmod(0o755)
    clip = make_clip(d / "clip.mp4")
    me = psutil.Process()
    for n in a.cameras:
        srv = RtspServer(d, mounts=n, clip=clip, secure_mounts=0, name=f"gil{n}")
        srv.start()
        box = (240, 135) if n > 32 else (240, 270)
        ps = [CameraPipeline(f"c{i}", f"c{i}", srv.url(i), options=PipelineOptions(read_timeout_s=15))
              for i in range(1, n + 1)]  # fmt: skip
        seqs = [0] * n
        stop = threading.Event()

        def reader(ps=ps, seqs=seqs, stop=stop):
            while not stop.wait(1 / 30):
                for i, p in enumerate(ps):
                    f = p.slot.peek(seqs[i])
                    if f is not None:
                        seqs[i] = f.seq

        for i, p in enumerate(ps):
            p.set_output_size(*box)
            p.set_keyframes_only(i < a.keyframes_only)
            p.start()
        rt = threading.Thread(target=reader, daemon=True)
        rt.start()
        time.sleep(8)
        c0 = me.cpu_times()
        f0 = sum(p.snapshot().frames_decoded_total for p in ps)
        lat = sorted(lateness(a.seconds))
        c1 = me.cpu_times()
        f1 = sum(p.snapshot().frames_decoded_total for p in ps)
        stop.set()
        for p in ps:
            p.stop()
        srv.stop()
        cpu = (c1.user - c0.user + c1.system - c0.system) / a.seconds
        p99 = lat[int(len(lat) * 0.99)]
        print(f"{n:3d} cameras: CPU {cpu:.2f} cores, decoded {(f1 - f0) / a.seconds / n:.1f} fps/cam, "
              f"10 ms timer lateness p50 {statistics.median(lat):.2f} ms p99 {p99:.1f} ms max {lat[-1]:.1f} ms",
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

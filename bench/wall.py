"""Benchmark: the real wall window under Xvfb with 16, 32 and 64 lab RTSP tiles.

    .venv/bin/python bench/wall.py [--tiles 16 32 64] [--seconds 20] [--warmup 8]

The lab serves one pre-encoded 640x360/15 fps H.264 clip by stream copy on every mount (no encoder,
so the lab stays cheap); its CPU is reported separately. The wall runs in a child process on the Xvfb
display (QT_QPA_PLATFORM=xcb) and measures itself: Vigil CPU (% of one core, and per tile), frames
painted per tile vs frames received per tile, tiles switched to keyframes-only, and the UI
event-loop latency: how late a 10 ms QTimer fires (p50/p99). Prints one table; no pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LAYOUT_FOR = {16: "4x4", 32: "8x4", 64: "8x8", 9: "3x3", 25: "5x5", 36: "6x6"}


# ----------------------------------------------------------------------------- child: the wall
def child(args) -> int:
    import psutil
    from PySide6.QtCore import QElapsedTimer, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app.config import AppConfig, CameraConfig, WallConfig
    from app.paths import Paths
    from app.runtime import Runtime
    from widgets.application import tune_interpreter
    from widgets.main_window import MainWindow
    from widgets.theme import apply_theme

    if not args.default_switch_interval:
        tune_interpreter()
    app = QApplication(sys.argv[:1])
    apply_theme(app)
    cams = [CameraConfig(name=f"Lab {i:02d}", group="Bench", url=args.url.format(n=i)) for i in range(1, args.n + 1)]
    cfg = AppConfig(cameras=cams, wall=WallConfig(layout=LAYOUT_FOR[args.n], paint_fps=args.paint_fps))
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    rt = Runtime(cfg, Paths(tmp / "v.json", tmp, tmp / "r", tmp / "l"), demo=True)
    rt.start()
    win = MainWindow(rt)
    win.frames.degradation_enabled = not args.no_degrade
    win.resize(1920, 1080)
    win.show()
    proc = psutil.Process()
    lateness: list[float] = []
    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    clock = QElapsedTimer()
    state = {"phase": "warmup"}

    def on_probe() -> None:
        if state["phase"] == "measure":
            lateness.append(max(0.0, clock.nsecsElapsed() / 1e6 - 10.0))
        clock.restart()

    probe.timeout.connect(on_probe)
    clock.start()
    probe.start(10)
    result: dict = {}

    def begin() -> None:
        state["phase"] = "measure"
        state["t0"] = time.monotonic()
        state["cpu0"] = proc.cpu_times()
        state["painted0"] = sum(t.frames_painted for t in win.wall.tiles)
        state["rx0"] = {p.camera_id: p.snapshot().frames_decoded_total for p in rt.supervisor.pipelines()}
        state["pk0"] = {p.camera_id: p.snapshot().packets_received_total for p in rt.supervisor.pipelines()}

    def finish() -> None:
        dt = time.monotonic() - state["t0"]
        cpu1 = proc.cpu_times()
        cpu = (cpu1.user + cpu1.system - state["cpu0"].user - state["cpu0"].system) / dt * 100
        painted = (sum(t.frames_painted for t in win.wall.tiles) - state["painted0"]) / dt
        snaps = [p.snapshot() for p in rt.supervisor.pipelines()]
        received = sum(s.packets_received_total - state["pk0"].get(s.camera_id, 0) for s in snaps) / dt
        decoded = sum(s.frames_decoded_total - state["rx0"].get(s.camera_id, 0) for s in snaps) / dt
        lat = sorted(lateness)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")

        result.update(
            tiles=args.n, layout=LAYOUT_FOR[args.n], seconds=round(dt, 1), cpu_percent=round(cpu, 1),
            cpu_per_tile=round(cpu / args.n, 2), rss_mb=round(proc.memory_info().rss / 1e6),
            live=sum(1 for s in snaps if s.is_live), received_fps_per_tile=round(received / args.n, 2),
            decoded_fps_per_tile=round(decoded / args.n, 2), painted_fps_per_tile=round(painted / args.n, 2),
            keyframes_only_tiles=sum(1 for s in snaps if s.keyframes_only),
            loop_p50_ms=round(pct(0.50), 2), loop_p99_ms=round(pct(0.99), 2),
            loop_max_ms=round(lat[-1], 1) if lat else 0,
        )  # fmt: skip
        win.allow_close()  # Vigil's own quit: the window's close question (wall.confirm_close) must not veto it
        app.quit()

    QTimer.singleShot(int(args.warmup * 1000), begin)
    QTimer.singleShot(int((args.warmup + args.seconds) * 1000), finish)
    app.exec()
    win.shutdown()
    rt.stop()
    print("RESULT " + json.dumps(result), flush=True)
    return 0


# ----------------------------------------------------------------------------- parent: the lab
def lab_cpu(pid: int):
    import psutil

    p = psutil.Process(pid)
    procs = [p, *p.children(recursive=True)]
    return sum(sum(x.cpu_times()[:2]) for x in procs)


def run(n: int, args, xvfb, lab_dir: Path, clip: Path) -> dict:
    from tests.lab import RtspServer

    srv = RtspServer(lab_dir, mounts=n, size="640x360", fps=15, clip=clip, secure_mounts=0, name=f"bench_rtsp_{n}")
    srv.start()
    try:
        env = xvfb.env()
        url = f"rtsp://127.0.0.1:{srv.port}/cam{{n}}"
        cmd = [sys.executable, __file__, "--child", "--n", str(n), "--url", url, "--seconds", str(args.seconds),
               "--warmup", str(args.warmup), "--paint-fps", str(args.paint_fps)]  # fmt: skip
        if args.no_degrade:
            cmd.append("--no-degrade")
        if args.default_switch_interval:
            cmd.append("--default-switch-interval")
        t0 = time.monotonic()
        c0 = lab_cpu(srv.pid)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.warmup + args.seconds + 120)
        lab = (lab_cpu(srv.pid) - c0) / (time.monotonic() - t0) * 100
        line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            raise RuntimeError(f"wall child failed ({r.returncode}): {r.stderr[-2000:]}")
        res = json.loads(line[7:])
        res["lab_cpu_percent"] = round(lab, 1)
        return res
    finally:
        srv.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiles", type=int, nargs="+", default=[16, 32, 64])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--paint-fps", type=float, default=30.0)
    ap.add_argument("--no-degrade", action="store_true", help="disable keyframe-only degradation")
    ap.add_argument("--default-switch-interval", action="store_true", help="keep Python's 5 ms GIL switch interval")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    from tests.lab import Xvfb, make_clip

    lab_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-lab-"))
    os.chmod(lab_dir, 0o755)
    clip = make_clip(lab_dir / "clip_640x360_15.mp4", seconds=10, size="640x360", fps=15, gop=15)
    xvfb = Xvfb(screen="1920x1080x24", run_dir=lab_dir)
    xvfb.start()
    rows = []
    try:
        print(f"machine: {os.cpu_count()} cores; clip 640x360/15 fps H.264 GOP 1 s by stream copy; paint timer "
              f"{args.paint_fps:g} Hz; degradation {'off' if args.no_degrade else 'on'}", flush=True)  # fmt: skip
        for n in args.tiles:
            res = run(n, args, xvfb, lab_dir, clip)
            rows.append(res)
            print(json.dumps(res), flush=True)
    finally:
        xvfb.stop()
    hdr = ("tiles", "live", "cpu%", "cpu%/tile", "rss MB", "rx fps/tile", "dec fps/tile", "painted fps/tile",
           "K tiles", "loop p50 ms", "loop p99 ms", "lab cpu%")  # fmt: skip
    print("\n" + " | ".join(hdr))
    for r in rows:
        vals = (r["tiles"], r["live"], r["cpu_percent"], r["cpu_per_tile"], r["rss_mb"], r["received_fps_per_tile"],
                r["decoded_fps_per_tile"], r["painted_fps_per_tile"], r["keyframes_only_tiles"], r["loop_p50_ms"],
                r["loop_p99_ms"], r["lab_cpu_percent"])  # fmt: skip
        print(" | ".join(str(v) for v in vals))
    return 0


if __name__ == "__main__":
    sys.exit(main())

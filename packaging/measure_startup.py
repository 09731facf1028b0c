"""Start-up time to a painted wall, measured from outside: launch -> window on screen -> video on screen.

Runs Vigil (the built bundle, or ``python main.py`` with ``--source``) on its own Xvfb with the xcb
platform and the demo wall, grabs the X screen every ~50 ms with ``xwd`` and reports:

- *window*: the first grab where anything is drawn (the wall's window has been mapped and painted);
- *video*: the first grab where the demo cameras' pictures cover >= 10 % of the screen (a full demo wall
  is ~35 %; saturated pixels: the demo patterns are colourful, the dark theme is not).

No hook in the app is needed, so it measures what an operator sees. It prints figures; no test
depends on them (timings on a shared 2-core machine vary).

    .venv/bin/python packaging/measure_startup.py [--bundle dist/vigil] [--source] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SCREEN = (1280, 720)


def start_xvfb() -> tuple[subprocess.Popen, str]:
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24", "-nolisten", "tcp"],
        pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(w)
    with os.fdopen(r) as f:
        num = f.readline().strip()
    if not num:
        proc.kill()
        raise RuntimeError("Xvfb did not report a display number")
    return proc, f":{num}"


def grab(display: str) -> np.ndarray | None:
    """The X root window as H x W x 4 uint8 (B, G, R, X): xwd (x11-apps) or ImageMagick's import."""
    if shutil.which("xwd"):
        r = subprocess.run(["xwd", "-root", "-silent", "-display", display], capture_output=True, timeout=20)
        return _parse_xwd(r.stdout) if r.returncode == 0 else None
    r = subprocess.run(["import", "-silent", "-window", "root", "-depth", "8", "ppm:-"],
                       capture_output=True, timeout=20, env={**os.environ, "DISPLAY": display})  # fmt: skip
    return _parse_ppm(r.stdout) if r.returncode == 0 and r.stdout.startswith(b"P6") else None


def _parse_xwd(data: bytes) -> np.ndarray:
    """XWD ZPixmap, 32 bits per pixel (Xvfb depth 24)."""
    hdr = np.frombuffer(data[:100], dtype=">u4")
    header_size, width, height, ncolors, bpl = int(hdr[0]), int(hdr[4]), int(hdr[5]), int(hdr[19]), int(hdr[12])
    start = header_size + ncolors * 12
    img = np.frombuffer(data[start : start + bpl * height], dtype=np.uint8).reshape(height, bpl)
    return img[:, : width * 4].reshape(height, width, 4)


def _parse_ppm(data: bytes) -> np.ndarray:
    """Binary PPM (P6, maxval 255) -> B, G, R, X like the XWD grab."""
    fields, pos = [], 0
    while len(fields) < 4:
        if pos >= len(data):
            raise ValueError("truncated PPM header")
        while data[pos : pos + 1].isspace():
            pos += 1
        if data[pos : pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while end < len(data) and not data[end : end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    width, height = int(fields[1]), int(fields[2])
    rgb = np.frombuffer(data[pos + 1 : pos + 1 + width * height * 3], dtype=np.uint8).reshape(height, width, 3)
    out = np.zeros((height, width, 4), dtype=np.uint8)
    out[:, :, 0], out[:, :, 1], out[:, :, 2] = rgb[:, :, 2], rgb[:, :, 1], rgb[:, :, 0]
    return out


def classify(img: np.ndarray) -> tuple[bool, bool]:
    """(something drawn, video pictures visible)."""
    rgb = img[:, :, :3].astype(np.int16)
    drawn = bool(rgb.max() > 16)
    sat = np.abs(rgb[:, :, 0] - rgb[:, :, 1]) + np.abs(rgb[:, :, 1] - rgb[:, :, 2])
    video = bool((sat > 120).mean() >= 0.10)
    return drawn, video


def measure_once(cmd: list[str], display: str, timeout: float = 60.0) -> tuple[float | None, float | None]:
    with tempfile.TemporaryDirectory(prefix="vigil-startup-") as tmp:
        env = dict(os.environ, DISPLAY=display, QT_QPA_PLATFORM="xcb", VIGIL_DATA_DIR=tmp,
                   VIGIL_CONFIG=str(Path(tmp) / "none.json"))  # fmt: skip
        t0 = time.monotonic()
        port = str(_free_port())
        proc = subprocess.Popen([*cmd, "--demo", "--duration", str(timeout), "--metrics-port", port], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        t_window = t_video = None
        try:
            while time.monotonic() - t0 < timeout and proc.poll() is None:
                img = grab(display)
                t = time.monotonic() - t0
                if img is not None:
                    drawn, video = classify(img)
                    if drawn and t_window is None:
                        t_window = t
                    if video:
                        t_video = t
                        break
                time.sleep(0.03)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return t_window, t_video


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", default=str(ROOT / "dist" / "vigil"), help="built one-folder bundle")
    ap.add_argument("--source", action="store_true", help="measure `python main.py` instead of the bundle")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("Xvfb") or not (shutil.which("xwd") or shutil.which("import")):
        print("measure_startup: needs Xvfb and xwd or ImageMagick (apt: xvfb x11-apps)", file=sys.stderr)
        return 2
    if args.source:
        cmd, what = [sys.executable, str(ROOT / "main.py")], "source (python main.py)"
    else:
        exe = Path(args.bundle) / "vigil"
        if not exe.is_file():
            print(f"measure_startup: no bundle at {exe} (run packaging/build.sh)", file=sys.stderr)
            return 2
        cmd, what = [str(exe)], f"bundle {exe}"
    xvfb, display = start_xvfb()
    try:
        windows, videos = [], []
        for i in range(args.runs):
            w, v = measure_once(cmd, display)
            print(f"run {i + 1}: window painted {_fmt(w)}, demo video on the wall {_fmt(v)}", flush=True)
            if w is not None:
                windows.append(w)
            if v is not None:
                videos.append(v)
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    print(f"{what}: median window painted {_fmt(_median(windows))}, median first video frames painted "
          f"{_fmt(_median(videos))} ({len(videos)}/{args.runs} runs showed video)")  # fmt: skip
    return 0 if videos else 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _fmt(t: float | None) -> str:
    return "never" if t is None else f"after {t:.2f} s"


if __name__ == "__main__":
    sys.exit(main())

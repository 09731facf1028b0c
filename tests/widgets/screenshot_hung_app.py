"""Run the real wall (under Xvfb, QT_QPA_PLATFORM=xcb) with one camera whose RTSP server hangs, and save
screenshots of it reconnecting and recovered.

    python -m tests.widgets.screenshot_hung_app --out artifacts/screenshots --rtsp rtsp://127.0.0.1:P/cam1 \
        --hang-pid PID

The camera's server (process *PID*) is frozen with SIGSTOP once its tile is LIVE, and woken with SIGCONT
(always, also on failure) after the reconnect screenshot. Prints one "screenshot: PATH" line per PNG. Exit
0 when each picture shows what it should: while reconnecting (CONNECTING, attempt >= 3) the hung tile is
down, stamped with the time of its last picture, and no pixel of its picture is in colour; after recovery
it is LIVE and says "recovered at". Exit 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from PySide6.QtCore import QEventLoop
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from app.config import AppConfig, CameraConfig, PipelineSettings, WallConfig
from app.demo import demo_cameras
from app.pipeline.state import StreamState
from app.runtime import Runtime
from tests.widgets.screenshot_app import scratch_paths, settle, start_app, wait
from widgets.main_window import MainWindow
from widgets.overlay_text import clock
from widgets.tile import TileWidget

HUNG = "Dock gate"


def build_config(rtsp: str, refused_port: int) -> AppConfig:
    cams = demo_cameras()
    for cam in cams:  # the only cameras down are the two below
        if "outage" in cam.url:
            cam.url = cam.url.split("&outage")[0]
    cams.insert(5, CameraConfig(name=HUNG, group="Depot", url=rtsp))
    cams.append(CameraConfig(name="Warehouse", group="Depot", url=f"rtsp://admin:pw123@127.0.0.1:{refused_port}/x"))
    # short time-outs so that three reconnects fit in a test; the backoff cap makes the wait visible
    pipeline = PipelineSettings(open_timeout_s=2, read_timeout_s=2, stall_after_s=1.5, backoff_initial_s=0.5,
                                backoff_cap_s=8)  # fmt: skip
    return AppConfig(cameras=cams, wall=WallConfig(layout="4x4"), pipeline=pipeline)


def shoot(app: QApplication, win: MainWindow, path: Path) -> QImage:
    app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 100)
    pix = win.screen().grabWindow(win.winId())  # the real X server's pixels (xcb)
    if pix.isNull():
        pix = win.grab()
    pix.save(str(path))
    print(f"screenshot: {path.resolve()}", flush=True)
    return pix.toImage()


def colour_in_picture(img: QImage, win: MainWindow, tile: TileWidget, tol: int = 12) -> int:
    """Colour pixels of *tile*'s picture in the window grab *img* (outside the overlay's words and badges)."""
    origin = tile.mapTo(win, tile.rect().topLeft())
    dpr = img.devicePixelRatio() or 1.0
    n = 0
    for y in range(2, tile.height() - 2, 3):
        for x in range(2, tile.width() - 2, 3):
            if any(r.contains(x, y) for r in tile._word_rects):
                continue
            c = img.pixelColor(int((origin.x() + x) * dpr), int((origin.y() + y) * dpr))
            n += abs(c.red() - c.green()) > tol or abs(c.green() - c.blue()) > tol
    return n


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="artifacts/screenshots")
    ap.add_argument("--rtsp", required=True, help="URL of the camera whose server is frozen")
    ap.add_argument("--hang-pid", type=int, required=True, help="process of that server (SIGSTOP / SIGCONT)")
    ap.add_argument("--refused-port", type=int, default=9)
    a = ap.parse_args()
    app, out = start_app(a.out)
    rt = Runtime(build_config(a.rtsp, a.refused_port), scratch_paths(), demo=True)
    rt.start()
    win = MainWindow(rt)
    problems: list[str] = []
    try:
        win.resize(1920, 1050)
        win.move(0, 0)
        win.show()
        wall = win.wall
        cam = next(c for c in rt.config.cameras if c.name == HUNG)
        tile = next(t for t in wall.tiles if t.camera_id == cam.id)

        def pipeline_snap():
            p = rt.supervisor.pipeline(cam.id)
            return p.snapshot() if p is not None else None

        if not wait(app, lambda: tile.overlay().state == "LIVE" and tile.has_picture(), 60):
            problems.append(f"{HUNG} did not go LIVE")
        settle(app, 1.0)
        os.kill(a.hang_pid, signal.SIGSTOP)
        try:
            shot = None
            for _ in range(4):  # an attempt lasts open_timeout_s: catch one under way, on screen
                ok = wait(app, lambda: (s := pipeline_snap()) is not None and s.state is StreamState.CONNECTING
                          and s.reconnect_attempt >= 3 and tile.overlay().state == "CONNECTING", 90)  # fmt: skip
                if not ok:
                    break
                img = shoot(app, win, out / "hung_reconnecting.png")
                if tile.overlay().state == "CONNECTING":
                    shot = img
                    break
            if shot is None:
                problems.append("no screenshot of the hung camera while it reconnects")
            else:
                o, s = tile.overlay(), pipeline_snap()
                if not o.down or o.stamp != f"OFFLINE since {clock(s.down_since)}" or "attempt" not in o.activity:
                    problems.append(f"hung tile not stamped as down: {o}")
                if "invalid data" in o.reason or not o.reason:
                    problems.append(f"hung tile's reason: {o.reason!r}")
                if n := colour_in_picture(shot, win, tile):
                    problems.append(f"hung tile shows {n} colour pixels while reconnecting")
        finally:
            os.kill(a.hang_pid, signal.SIGCONT)
        if not wait(app, lambda: tile.overlay().state == "LIVE" and tile.overlay().reason.startswith("recovered at"),
                    60):  # fmt: skip
            problems.append(f"{HUNG} did not recover: {tile.overlay()}")
        settle(app, 1.0)
        shoot(app, win, out / "hung_recovered.png")
    finally:
        win.shutdown()
        rt.stop()
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

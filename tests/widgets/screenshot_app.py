"""Run the real wall in its own process (under Xvfb with QT_QPA_PLATFORM=xcb) and save screenshots.

    python -m tests.widgets.screenshot_app --out artifacts/screenshots --rtsp rtsp://127.0.0.1:P/cam{n}

Prints one "screenshot: PATH" line per PNG. Exit 0 when every picture was taken after the tiles had
what they should show (pictures, OFFLINE stamp), 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from app.config import AppConfig, CameraConfig, PipelineSettings, WallConfig
from app.demo import demo_cameras
from app.paths import Paths
from app.runtime import Runtime
from probes.analytics_api import AnalyticsApiProbe
from probes.scheduler import ProbeScheduler
from tests.lab import FakeAnalyticsApi
from widgets.main_window import MainWindow
from widgets.theme import apply_theme


def build_config(rtsp: str | None, refused_port: int) -> AppConfig:
    cams = demo_cameras()
    for cam in cams:  # no outage in screenshots: the OFFLINE tile below is a real refused connection
        if "outage" in cam.url:
            cam.url = cam.url.split("&outage")[0]
    if rtsp:
        cams += [CameraConfig(name=f"Lab RTSP {n}", group="Lab", url=rtsp.format(n=n)) for n in range(1, 5)]
    cams.append(CameraConfig(name="Warehouse", group="Depot", url=f"rtsp://admin:pw123@127.0.0.1:{refused_port}/x"))
    cams.append(CameraConfig(name="Old lobby", group="HQ", url="demo://x?pattern=life", enabled=False))
    cams.append(CameraConfig(name="Bad source", group="Lab", url="demo://x?pattern=nosuchpattern"))
    return AppConfig(cameras=cams[:16], wall=WallConfig(layout="4x4"),
                     pipeline=PipelineSettings(open_timeout_s=4, read_timeout_s=4, backoff_cap_s=5))  # fmt: skip


def start_app(out: str) -> tuple[QApplication, Path]:
    """The screenshot programs' common start: the output folder, a themed QApplication."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    apply_theme(app)
    return app, folder


def scratch_paths() -> Paths:
    """A throw-away config, data and log folder for one screenshot run."""
    tmp = Path(tempfile.mkdtemp(prefix="vigil-shot-"))
    return Paths(tmp / "v.json", tmp, tmp / "r", tmp / "l")


def wait(app: QApplication, cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if cond():
            return True
        time.sleep(0.02)
    return False


def settle(app: QApplication, seconds: float) -> None:
    wait(app, lambda: False, seconds)


def grab(app: QApplication, win: MainWindow, path: Path) -> None:
    settle(app, 0.6)
    pix = win.screen().grabWindow(win.winId())  # the real X server's pixels (xcb); widget.grab() offscreen
    if pix.isNull():
        pix = win.grab()
    pix.save(str(path))
    print(f"screenshot: {path.resolve()}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="artifacts/screenshots")
    ap.add_argument("--rtsp", help="lab URL template with {n} (1..4)")
    ap.add_argument("--refused-port", type=int, default=9)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    app, out = start_app(a.out)
    rt = Runtime(build_config(a.rtsp, a.refused_port), scratch_paths(), demo=True)
    # a loopback fake analytics server: its streams become status tiles after the 16 cameras (page 2)
    api = FakeAnalyticsApi(streams=8, per_location=4).start()
    api.set_state(1, "ERROR", last_error_msg="Failed to open input stream: Connection timed out")
    api.set_state(2, "STOPPED")
    sched = ProbeScheduler(workers=2)
    sched.add(AnalyticsApiProbe(api.base_url, interval_s=1.0, timeout_s=5))
    rt.probes = sched
    rt.start()
    win = MainWindow(rt)
    rc = 0
    try:
        win.resize(1920, 1050)
        win.move(0, 0)
        win.show()
        wall = win.wall
        wall.select(9)

        def ready() -> bool:
            for t in wall.tiles:
                o = t.overlay()
                if not t.camera_id:
                    continue
                if o.state == "LIVE" and not t.has_picture():
                    return False
                if o.state in ("CONNECTING", "IDLE") and o.stamp != "DISABLED":
                    return False
            return True

        if not wait(app, ready, a.timeout):
            print("not every tile reached its final state", file=sys.stderr)
            rc = 1
        settle(app, 2.0)  # fps/bitrate figures settle
        grab(app, win, out / "wall_4x4.png")
        focus_id = next((c.id for c in rt.config.cameras if c.group == "Lab" and c.enabled), rt.config.cameras[0].id)
        wall.focus_camera(focus_id)
        if not wait(app, lambda: wall.focus_tile.has_picture() and wall.focus_tile.overlay().state == "LIVE", 30):
            print("focused tile has no picture", file=sys.stderr)
            rc = 1
        settle(app, 1.5)  # sharper frames at the focus size replace the scaled tile picture
        grab(app, win, out / "focused.png")
        wall.unfocus()
        wall.set_page(1)
        if not wait(app, lambda: sum(1 for t in wall.tiles if t.camera_id.startswith("api:")) == 8, 30):
            print("status tiles of the analytics API did not appear", file=sys.stderr)
            rc = 1
        grab(app, win, out / "status_tiles.png")
        QTimer.singleShot(0, app.quit)
    finally:
        win.shutdown()
        rt.stop()
        api.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())

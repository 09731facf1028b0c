"""Run the real window (under Xvfb, QT_QPA_PLATFORM=xcb) and save screenshots of what asks for attention:
the CRITICAL alarm banner over a live wall, the alarm history window, and the first-run empty wall.

    python -m tests.widgets.screenshot_attention_app --out artifacts/screenshots --size 1920x1080 \\
        --refused-port P

Prints one "screenshot: PATH" line per PNG; exit 1 with the reason when a view never reached its state.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication

from app import compose
from app.config import AlertSettings, AppConfig, CameraConfig, PipelineSettings, WallConfig
from app.demo import demo_cameras
from tests.widgets.screenshot_app import scratch_paths, settle, start_app, wait
from widgets.alarm_history import AlarmHistoryWindow
from widgets.alarm_panel import install_alarm_ui
from widgets.main_window import MainWindow


def save(app: QApplication, widget, path: Path) -> None:
    settle(app, 0.8)
    pix = widget.screen().grabWindow(widget.winId())
    if pix.isNull():
        pix = widget.grab()
    pix.save(str(path))
    print(f"screenshot: {path.resolve()}", flush=True)


def show(win, w: int, h: int) -> None:
    win.resize(w, h)
    win.move(0, 0)
    win.show()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="artifacts/screenshots")
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--refused-port", type=int, default=9)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    app, out = start_app(a.out)
    rc = 0
    cams = [c for c in demo_cameras() if "outage" not in c.url][:7]
    cams.insert(4, CameraConfig(name="Gate North", group="Depot",
                                url=f"rtsp://admin:pw123@127.0.0.1:{a.refused_port}/main"))  # fmt: skip
    cfg = AppConfig(cameras=cams, wall=WallConfig(layout="3x3"),
                    pipeline=PipelineSettings(open_timeout_s=3, read_timeout_s=3, backoff_cap_s=5),
                    alerts=AlertSettings(debounce_s=0, clear_s=0, sound=False))  # fmt: skip
    cfg.metrics.enabled = False
    rt = compose.build_runtime(cfg, scratch_paths())
    rt.start()
    win = MainWindow(rt)
    install_alarm_ui(win, rt)
    try:
        show(win, w, h)
        if not wait(app, lambda: win.wall.banner.isVisible(), 60):
            print("the CRITICAL banner never showed", file=sys.stderr)
            rc = 1
        wait(app, lambda: sum(t.has_picture() for t in win.wall.tiles) >= 7, 30)
        save(app, win, out / f"alarm_banner_{h}p.png")
        hist = AlarmHistoryWindow(rt.store, [(c.id, c.name, c.group) for c in rt.config.cameras],
                                  show_camera=win.wall.focus_camera, parent=win)  # fmt: skip
        hist.resize(min(w, 1600), min(h, 800))
        hist.show()
        if not wait(app, lambda: hist.table.rowCount() >= 1, 30):
            print(f"the alarm history stayed empty: {hist.status.text()}", file=sys.stderr)
            rc = 1
        save(app, hist, out / f"alarm_history_{h}p.png")
        hist.close()
    finally:
        win.shutdown()
        rt.stop()
    empty = compose.build_runtime(AppConfig(), scratch_paths())
    empty.config.metrics.enabled = False
    empty.metrics = None
    empty.start()
    first = MainWindow(empty)
    try:
        show(first, w, h)
        if not wait(app, lambda: first.wall.hint.isVisible(), 10):
            print("the first-run hint never showed", file=sys.stderr)
            rc = 1
        save(app, first, out / f"first_run_{h}p.png")
    finally:
        first.shutdown()
        empty.stop()
    return rc


if __name__ == "__main__":
    sys.exit(main())

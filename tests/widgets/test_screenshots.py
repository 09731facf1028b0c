"""Screenshots of a 4x4 wall, a focused tile and the analytics-API status tiles, taken from a real X server
(Xvfb), for people to look at. The paths are printed to the terminal (CI log) even without ``-s``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from tests.lab import free_port

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "artifacts" / "screenshots"


def _distinct_colours(img: QImage, step: int = 37) -> int:
    seen = set()
    for y in range(0, img.height(), step):
        for x in range(0, img.width(), step):
            seen.add(img.pixel(x, y))
    return len(seen)


@pytest.mark.lab
@pytest.mark.gui
def test_screenshots_of_wall_and_focus_under_xvfb(xvfb, rtsp_lab, capsys):
    env = xvfb.env()  # DISPLAY=:N, QT_QPA_PLATFORM=xcb
    cmd = [sys.executable, "-m", "tests.widgets.screenshot_app", "--out", str(OUT),
           "--rtsp", f"rtsp://127.0.0.1:{rtsp_lab.port}/cam{{n}}", "--refused-port", str(free_port())]  # fmt: skip
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    paths = [line.split(": ", 1)[1] for line in r.stdout.splitlines() if line.startswith("screenshot: ")]
    with capsys.disabled():  # straight to the terminal (CI log), not swallowed by pytest's capture
        for p in paths:
            print(f"\nscreenshot saved: {p}", flush=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [Path(p).name for p in paths] == ["wall_4x4.png", "focused.png", "status_tiles.png"]
    for p in paths:
        img = QImage(p)
        assert img.width() >= 1280 and img.height() >= 700, p
        # status tiles have no picture: text and badges on the dark background only
        least = 12 if Path(p).name == "status_tiles.png" else 50
        assert _distinct_colours(img) > least, f"{p} looks blank"


@pytest.mark.lab
@pytest.mark.gui
@pytest.mark.parametrize("size", ["1920x1080", "3840x2160"])
def test_screenshots_of_alarm_banner_history_and_first_run(lab_dir, size, capsys):
    """At 1080p and 2160p: the banner is a red strip at the top, the history window has its rows, and the
    first-run wall shows its hint; the operator judges them from 3 m, so people look at these."""
    from tests.lab import Xvfb

    xvfb = Xvfb(screen=f"{size}x24", run_dir=lab_dir, name=f"xvfb-{size}")
    xvfb.start()
    try:
        cmd = [sys.executable, "-m", "tests.widgets.screenshot_attention_app", "--out", str(OUT), "--size", size,
               "--refused-port", str(free_port())]  # fmt: skip
        r = subprocess.run(cmd, cwd=ROOT, env=xvfb.env(), capture_output=True, text=True, timeout=240)
    finally:
        xvfb.stop()
    paths = [line.split(": ", 1)[1] for line in r.stdout.splitlines() if line.startswith("screenshot: ")]
    with capsys.disabled():
        for p in paths:
            print(f"\nscreenshot saved: {p}", flush=True)
    assert r.returncode == 0, r.stderr[-3000:]
    h = size.split("x")[1]
    assert [Path(p).name for p in paths] == [f"alarm_banner_{h}p.png", f"alarm_history_{h}p.png", f"first_run_{h}p.png"]
    banner = QImage(paths[0])
    w = banner.width()
    assert w >= int(size.split("x")[0]) * 0.9, (w, size)
    # the banner: a red strip right under the menu bar, across the width
    reds = [y for y in range(0, banner.height() // 6) if _is_red(banner.pixelColor(w // 2 + 7, y))]
    assert len(reds) >= banner.height() // 40, "no red banner strip at the top"
    assert _distinct_colours(QImage(paths[1])) >= 3 and _distinct_colours(QImage(paths[2])) >= 3  # not blank


def _is_red(c) -> bool:
    return c.red() > 150 and c.green() < 80 and c.blue() < 80

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

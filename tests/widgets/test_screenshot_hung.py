"""Screenshots of a wall with a camera whose server hangs: while it reconnects (greyed picture, stamp dated
from its last picture, the attempt) and after it recovered. Taken from a real X server (Xvfb) by
tests/widgets/screenshot_hung_app.py, for people to look at; the paths are printed even without ``-s``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from tests.lab import free_port

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "artifacts" / "screenshots"


@pytest.mark.lab
@pytest.mark.gui
def test_screenshot_of_a_hung_camera_reconnecting_under_xvfb(xvfb, rtsp_server_factory, capsys):
    srv = rtsp_server_factory(mounts=1, secure_mounts=0)
    cmd = [sys.executable, "-m", "tests.widgets.screenshot_hung_app", "--out", str(OUT), "--rtsp", srv.url(1),
           "--hang-pid", str(srv.pid), "--refused-port", str(free_port())]  # fmt: skip
    try:
        r = subprocess.run(cmd, cwd=ROOT, env=xvfb.env(), capture_output=True, text=True, timeout=240)
    finally:
        os.kill(srv.pid, signal.SIGCONT)  # the app wakes it too; a killed app must not leave it frozen
    paths = [line.split(": ", 1)[1] for line in r.stdout.splitlines() if line.startswith("screenshot: ")]
    with capsys.disabled():
        for p in paths:
            print(f"\nscreenshot saved: {p}", flush=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert [Path(p).name for p in paths] == ["hung_reconnecting.png", "hung_recovered.png"]
    for p in paths:
        img = QImage(p)
        assert img.width() >= 1280 and img.height() >= 700, p

"""The desktop notification of a new alert, on a real X server (Xvfb) with a real system tray (trayer):
the balloon says the severity, the rule and the camera in words."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lab import TrayHost

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.lab, pytest.mark.gui]


def test_a_fired_alert_pops_a_tray_notification(xvfb, lab_dir):
    tray = TrayHost(xvfb.display, lab_dir)
    tray.start()
    try:
        env = {k: v for k, v in xvfb.env().items() if k != "DBUS_SESSION_BUS_ADDRESS"}  # Qt's own balloon
        r = subprocess.run([sys.executable, "-m", "tests.widgets.tray_child"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        tray.stop()
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert r.returncode == 0 and line, r.stderr[-3000:]
    out = json.loads(line[7:])
    assert out["tray_available"] and out["tray_visible"], out
    texts = out["balloon_texts"]
    assert "CRITICAL: CameraOffline" in texts, texts
    assert any(t.startswith("Lobby is offline: connection refused") for t in texts), texts

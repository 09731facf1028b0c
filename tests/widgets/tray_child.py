"""Run on a real X display with a tray host (tests/widgets/test_tray.py): the alarm panel's tray icon
shows a notification balloon when an alert fires. Prints one JSON line describing what appeared on screen."""

from __future__ import annotations

import json
import sys
import time

from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import QApplication, QLabel, QSystemTrayIcon

from app.alerts import AlertEngine
from app.config import AlertSettings
from app.pipeline.state import HealthSnapshot, StreamState
from widgets.alarm_panel import AlarmPanel, AlarmSound
from widgets.tile import TileWidget


def pump(app: QApplication, seconds: float, until=lambda: False) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if until():
            return True
        time.sleep(0.05)
    return until()


def main() -> int:
    app = QApplication(sys.argv[:1])
    out: dict = {"tray_available": pump(app, 10, QSystemTrayIcon.isSystemTrayAvailable)}
    snaps = {"cam1": HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.LIVE)}
    engine = AlertEngine(AlertSettings(debounce_s=0, clear_s=0, sound=False), lambda: dict(snaps), None, sinks=[])
    tile = TileWidget(0)
    tile.set_camera("cam1", "Lobby")
    pm = QPixmap(16, 16)
    pm.fill(QColor("#d92d20"))
    tray = QSystemTrayIcon(QIcon(pm))
    tray.show()
    out["tray_visible"] = pump(app, 5, tray.isVisible)
    panel = AlarmPanel(engine, lambda: [tile], tray=tray, sound=AlarmSound(enabled=False), who="tester")
    snaps["cam1"] = HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.OFFLINE,
                                   reason="connection refused: nothing listening at that address")  # fmt: skip
    engine.evaluate_once()

    def balloon():
        return next((w for w in app.topLevelWidgets() if w.metaObject().className() == "QBalloonTip"
                     and w.isVisible()), None)  # fmt: skip

    b = balloon() if pump(app, 10, lambda: balloon() is not None) else None
    out["balloon_texts"] = [lb.text() for lb in b.findChildren(QLabel) if lb.text()] if b else []
    panel.shutdown()
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

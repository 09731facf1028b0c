"""``run_gui``: the Qt side of the composition root (QApplication, theme, main window, event loop)."""

from __future__ import annotations

import logging
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.runtime import Runtime
from widgets.main_window import MainWindow
from widgets.theme import apply_theme

log = logging.getLogger(__name__)


def run_gui(runtime: Runtime, duration: float = 0.0) -> int:
    """Open the wall, start *runtime*, run the event loop; stop the runtime on exit.

    ``duration > 0`` quits after that many seconds (CI smoke runs).
    """
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Vigil")
    app.setOrganizationName("Vigil")
    apply_theme(app)
    runtime.start()
    window: MainWindow | None = None
    try:
        window = MainWindow(runtime)
        window.show()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: app.quit())
        # Python runs signal handlers only between bytecodes: wake the interpreter now and then.
        wake = QTimer()
        wake.timeout.connect(lambda: None)
        wake.start(250)
        if duration > 0:
            QTimer.singleShot(int(duration * 1000), app.quit)
        rc = app.exec()
        wake.stop()
    finally:
        if window is not None:
            window.shutdown()
            window.deleteLater()
        runtime.stop()
    log.info("window closed")
    return int(rc)

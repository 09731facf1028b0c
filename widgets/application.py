"""``run_gui``: the Qt side of the composition root (QApplication, theme, main window, event loop)."""

from __future__ import annotations

import logging
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.runtime import Runtime
from widgets.main_window import MainWindow
from widgets.theme import apply_theme, apply_ui_scale

log = logging.getLogger(__name__)


GUI_SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """Let the GUI thread get the GIL sooner.

    Each camera runs at least one Python thread; with the default 5 ms switch interval a GUI thread waiting
    behind dozens of them is starved for hundreds of ms (measured by bench/wall.py). 1 ms keeps the
    event loop responsive at a small cost in switching overhead.
    """
    sys.setswitchinterval(GUI_SWITCH_INTERVAL_S)


def run_gui(runtime: Runtime, duration: float = 0.0) -> int:
    """Open the wall, start *runtime*, run the event loop; stop the runtime on exit.

    ``duration > 0`` quits after that many seconds (CI smoke runs).
    """
    tune_interpreter()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Vigil")
    app.setOrganizationName("Vigil")
    apply_theme(app)
    apply_ui_scale(app, runtime.config.wall.ui_scale)  # before any window: every widget starts at its size
    window: MainWindow | None = None
    recordings = None

    def quit_now() -> None:  # Vigil itself quits: the window's close question must not veto it
        if window is not None:
            window.allow_close()
        app.quit()

    def on_signal(*_args) -> None:
        # queued: runs as soon as the event loop does, so a SIGTERM during start-up also ends the run
        QTimer.singleShot(0, quit_now)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    runtime.start()
    try:
        window = MainWindow(runtime)
        window.ui_scaler = lambda percent: apply_ui_scale(app, percent)  # View > Interface size
        from widgets.alarm_history import install_alarm_history_ui
        from widgets.alarm_panel import install_alarm_ui
        from widgets.history_view import install_history_ui
        from widgets.recordings import install_recordings_ui

        install_alarm_ui(window, runtime)  # alarm dock, blinking tile borders, sound, tray
        install_history_ui(window, runtime)  # Tools > History..., File > Export history...
        recordings = install_recordings_ui(window, runtime)  # None when recording is not installed
        # Alarms > Alarm history...: from an alarm to its camera and to its recording
        install_alarm_history_ui(window, runtime, recordings.open_camera if recordings is not None else None)
        screen = app.primaryScreen()
        if screen is not None:  # a wall uses the whole screen (also where no window manager maximizes)
            window.setGeometry(screen.availableGeometry())
        window.showMaximized()
        # Python runs signal handlers only between bytecodes: wake the interpreter now and then.
        wake = QTimer()
        wake.timeout.connect(lambda: None)
        wake.start(250)
        if duration > 0:
            QTimer.singleShot(int(duration * 1000), quit_now)
        rc = app.exec()
        wake.stop()
    finally:
        if recordings is not None:
            recordings.shutdown()
        if window is not None:
            window.shutdown()
            window.deleteLater()
        runtime.stop()
    log.info("window closed")
    return int(rc)

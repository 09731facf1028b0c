"""Recordings dock: disk use, days of recording available, recorder errors; opens the player per camera.

``install_recordings_ui(window, runtime)`` adds the dock and a "Recordings…" menu action. Disk and
status figures are read from the services' snapshots on a 2 s timer (never a scan on the GUI thread).
Opening a camera's recordings lists its folder on the panel's :class:`~widgets.tasks.TaskRunner`
worker (a NAS may take seconds); the player opens on the GUI thread when the list is back.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from app.recording.playback import Timeline
from widgets.player import PlayerWidget
from widgets.tasks import TaskRunner

log = logging.getLogger(__name__)


class RecordingsPanel(QWidget):
    def __init__(self, runtime, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.recorder = runtime.recording
        self.retention = runtime.retention
        self.disk = QLabel("disk: —")
        self.disk.setWordWrap(True)
        self.errors = QLabel("")
        self.errors.setTextFormat(Qt.TextFormat.PlainText)  # the recorder's and FFmpeg's words, never HTML
        self.errors.setStyleSheet("color: #ff6b6b")
        self.errors.setWordWrap(True)
        self.cameras = QListWidget()
        self.open_btn = QPushButton("Play recordings")
        lay = QVBoxLayout(self)
        for w in (self.disk, self.errors, self.cameras, self.open_btn):
            lay.addWidget(w)
        self._listed: list[tuple[str, str]] = []
        self._fill_cameras()
        self.players: list[PlayerWidget] = []
        self._tasks = TaskRunner(parent=self, name="ui:recordings")
        self.open_btn.clicked.connect(self.open_selected)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(2000)
        self.refresh()

    def _fill_cameras(self) -> None:
        """Camera names (ids behind them), kept in step with the config: cameras added later appear too."""
        cams = [(c.id, c.name) for c in self.runtime.config.cameras]
        if cams == self._listed:
            return
        current = self.selected_camera()
        self.cameras.clear()
        for cid, name in cams:
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, cid)
            self.cameras.addItem(item)
            if cid == current:
                self.cameras.setCurrentItem(item)
        self._listed = cams

    def selected_camera(self) -> str | None:
        item = self.cameras.currentItem() or self.cameras.item(0)
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def refresh(self) -> None:
        self._fill_cameras()
        if self.retention is not None:
            st = self.retention.status()
            days = f"{st.days_available:.1f} days" if st.days_available is not None else "not known yet"
            self.disk.setText(f"Recordings: {st.recordings_bytes / 1e9:.2f} GB in {st.segments} segments · "
                              f"free {st.free_bytes / 1e9:.1f} GB · recording days available: {days}"
                              + (f"\n{st.error}" if st.error else ""))  # fmt: skip
        errs = self.recorder.errors() if self.recorder is not None else {}
        self.errors.setText("\n".join(f"{cid}: {why}" for cid, why in sorted(errs.items())))

    def open_selected(self) -> None:
        cid = self.selected_camera()
        if cid is not None:
            self.open_camera(cid)

    def open_camera(self, cid: str, at: float | None = None) -> None:
        """Open the player on *cid*'s recordings, at UNIX time *at* if given (an alarm's time)."""
        index = self.recorder.index

        def load():  # file scan off the GUI thread
            return Timeline(cid, tuple(index.segments(cid)), tuple(index.motion_events(cid)))

        def failed(e: BaseException) -> None:  # say it: a silent click is worse than an error
            log.warning("listing the recordings of %s failed", cid, exc_info=e)
            self.errors.setText(f"{cid}: cannot list its recordings: {e}")

        self._tasks.run(load, lambda tl: self._show_player(tl, at), failed)

    def _show_player(self, tl: Timeline, at: float | None = None) -> None:
        p = PlayerWidget(tl, export_dir=self.recorder.root.parent, index=self.recorder.index)
        if at is not None and tl.segments:
            p.seek(max(at, tl.segments[0].start))
        name = next((n for cid, n in self._listed if cid == tl.camera_id), tl.camera_id)
        p.setWindowTitle(f"Recordings — {name}")
        p.resize(960, 620)
        self.players.append(p)
        p.show()

    def shutdown(self) -> None:
        self._timer.stop()
        for p in self.players:
            p.close_player()
        self._tasks.shutdown(wait=False)  # a folder scan in flight finishes; its player does not open


def install_recordings_ui(window, runtime) -> RecordingsPanel | None:
    """One line for the main window: dock + menu action. None when recording is not installed."""
    if runtime.recording is None:
        return None
    panel = RecordingsPanel(runtime)
    dock = window.add_dock("Recordings", panel, area="right")
    window.add_menu_action("View", "Recordings…", lambda: (dock.show(), dock.raise_()))
    if runtime.motion is not None:
        from widgets.motion_zones import install_motion_zones_ui

        install_motion_zones_ui(window, runtime)
    return panel

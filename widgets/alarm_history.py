"""Alarm history window: every alarm of a period with its whole story, filtered, exported as CSV.

The rows come from the history store (``repository.alerts`` on a reader thread, handed back by the
window's :class:`~widgets.tasks.TaskRunner`); filtering and the CSV are ``app.alerts.history`` (pure).
From a row the operator can show the camera on the wall or play its recording from shortly before the
alarm was raised. The window never waits on the database or the disk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.alerts.history import AlarmFilter, filter_alarms, state_words, write_alarms_csv
from app.alerts.rules import Severity
from app.store import repository
from app.store.records import AlertRecord
from widgets.alarm_panel import SEVERITY_COLORS
from widgets.tasks import TaskRunner

log = logging.getLogger(__name__)

RANGES = {"Last 24 hours": 86_400.0, "Last 7 days": 7 * 86_400.0, "Last 30 days": 30 * 86_400.0,
          "Last 90 days": 90 * 86_400.0}  # fmt: skip
COLUMNS = ("Raised", "Severity", "Camera", "Alarm", "State", "Acknowledged", "Cleared", "Closed", "Notes")
PLAY_BEFORE_S = 10.0  # play a recording from this long before the alarm was raised


def _when(t: float | None) -> str:
    return "" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


class AlarmHistoryWindow(QDialog):
    """*cameras*: (id, name, group) of the configured cameras, for the filters. *show_camera(id)* and
    *play_recording(id, at)* are the wall's and the recordings dock's actions (None: not offered)."""

    def __init__(self, store, cameras: list[tuple[str, str, str]], *, show_camera: Callable[[str], None] | None = None,
                 play_recording: Callable[[str, float], None] | None = None, clock: Callable[[], float] = time.time,
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Alarm history")
        self.resize(1200, 700)
        self.store = store
        self.clock = clock
        self.show_camera = show_camera
        self.play_recording = play_recording
        self.rows: list[AlertRecord] = []
        self._all: list[AlertRecord] = []
        self._request = 0
        self._tasks = TaskRunner(parent=self, name="ui:alarm-history")
        self.range = QComboBox(self)
        self.range.addItems(list(RANGES))
        self.camera = QComboBox(self)
        self.camera.addItem("All cameras", "")
        for cid, name, _group in cameras:
            self.camera.addItem(name, cid)
        self.group = QComboBox(self)
        self.group.addItem("All groups", "")
        for g in sorted({g for _c, _n, g in cameras if g}):
            self.group.addItem(g, g)
        self.severity = QComboBox(self)
        self.severity.addItem("All severities", "")
        for s in Severity:
            self.severity.addItem(s.value, s.value)
        self.export_button = QPushButton("Export CSV…", self)
        self.show_button = QPushButton("Show camera", self)
        self.play_button = QPushButton("Play recording at alarm time", self)
        top = QHBoxLayout()
        for w in (self.range, self.camera, self.group, self.severity):
            top.addWidget(w)
        top.addStretch(1)
        for w in (self.show_button, self.play_button, self.export_button):
            top.addWidget(w)
        self.table = QTableWidget(0, len(COLUMNS), self)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        self.status = QLabel(self)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)
        self.show_button.setVisible(show_camera is not None)
        self.play_button.setVisible(play_recording is not None)
        self.show_button.clicked.connect(self.show_selected)
        self.play_button.clicked.connect(self.play_selected)
        self.export_button.clicked.connect(self._ask_export)
        self.range.currentIndexChanged.connect(lambda _i: self.reload())
        for combo in (self.camera, self.group, self.severity):
            combo.currentIndexChanged.connect(lambda _i: self._fill())
        self.reload()

    # ------------------------------------------------------------------ loading
    def current_filter(self) -> AlarmFilter:
        def one(combo: QComboBox) -> frozenset[str]:
            return frozenset({combo.currentData()}) if combo.currentData() else frozenset()

        return AlarmFilter(one(self.camera), one(self.group), one(self.severity))

    def reload(self) -> None:
        """Ask the store for the period's alarms (reader thread); the answer fills the table."""
        self._request += 1
        req = self._request
        end = self.clock()
        start = end - RANGES[self.range.currentText()]
        self.status.setText("loading…")
        try:
            fut = self.store.query(repository.alerts, start, end)
        except Exception as e:  # history off or not started: said in words, the window stays usable
            self.status.setText(f"Alarm history is not available: {e}")
            return
        self._tasks.when_done(fut, lambda rows: self._loaded(req, rows),
                              lambda e: self.status.setText(f"Alarm history could not be read: {e}"))  # fmt: skip

    def _loaded(self, req: int, rows) -> None:
        if req != self._request:
            return  # an older answer: a newer request is on its way
        self._all = list(rows)
        self._fill()

    def _fill(self) -> None:
        self.rows = filter_alarms(self._all, self.current_filter())
        self.table.setRowCount(len(self.rows))
        for i, r in enumerate(self.rows):
            labels = dict(r.labels)
            ack = f"{_when(r.acknowledged_at)} by {r.acknowledged_by}" if r.acknowledged_at is not None else ""
            closed = f"{_when(r.resolved_at)} by {r.resolved_by}" if r.resolved_at is not None else ""
            notes = " · ".join(n for n in (r.ack_note, r.resolve_note, r.shelve_note) if n)
            cells = (_when(r.started_at), r.severity, labels.get("name", r.camera_id), r.summary, state_words(r), ack,
                     _when(r.cleared_at), closed, notes)  # fmt: skip
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j == 1 and r.severity in SEVERITY_COLORS:
                    item.setForeground(QColor(SEVERITY_COLORS[r.severity]))
                self.table.setItem(i, j, item)
        n = len(self.rows)
        self.status.setText(f"{n} alarm{'s' * (n != 1)} in {self.range.currentText().lower()}" if n
                            else f"No alarms in {self.range.currentText().lower()} for this choice")  # fmt: skip

    # ------------------------------------------------------------------ actions
    def selected(self) -> AlertRecord | None:
        i = self.table.currentRow()
        return self.rows[i] if 0 <= i < len(self.rows) else None

    def show_selected(self) -> None:
        r = self.selected()
        if r is not None and r.camera_id and self.show_camera is not None:
            self.show_camera(r.camera_id)

    def play_selected(self) -> None:
        r = self.selected()
        if r is not None and r.camera_id and self.play_recording is not None:
            self.play_recording(r.camera_id, r.started_at - PLAY_BEFORE_S)

    def _menu(self, pos) -> None:
        if self.selected() is None:
            return
        menu = QMenu(self)
        if self.show_camera is not None:
            menu.addAction("Show camera", self.show_selected)
        if self.play_recording is not None:
            menu.addAction("Play recording at alarm time", self.play_selected)
        if menu.actions():
            menu.exec(self.table.viewport().mapToGlobal(pos))

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export alarm history", "alarm-history.csv", "CSV (*.csv)")
        if path:
            self.export_csv(path)

    def export_csv(self, path: str) -> None:
        """Write the rows shown now (background thread); the outcome is said under the table."""
        rows = list(self.rows)
        self.export_button.setEnabled(False)

        def done(n: int) -> None:
            self.export_button.setEnabled(True)
            self.status.setText(f"Exported {n} alarm{'s' * (n != 1)} to {path}")

        def failed(e: BaseException) -> None:
            self.export_button.setEnabled(True)
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.status.setText(f"Could not export to {path}: {why}")

        self._tasks.run(lambda: write_alarms_csv(path, rows), done, failed)


def install_alarm_history_ui(window, runtime, play_recording: Callable[[str, float], None] | None = None):
    """Alarms > Alarm history… (Ctrl+Shift+H). None without a history store."""
    if runtime.store is None:
        return None

    def open_history() -> AlarmHistoryWindow:
        cams = [(c.id, c.name, c.group) for c in runtime.config.cameras]  # read at open: cameras added since
        dlg = AlarmHistoryWindow(runtime.store, cams, show_camera=window.wall.focus_camera,
                                 play_recording=play_recording, parent=window)  # fmt: skip
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return dlg

    window.add_menu_action("&Alarms", "Alarm history…", open_history, shortcut="Ctrl+Shift+H")
    return open_history

"""Export dialog with pytest-qt on a real SQLite store: the operator's range and cameras are what is exported."""

from __future__ import annotations

import csv
import json
from concurrent.futures import Future
from types import SimpleNamespace

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QDateTime, QEvent, Qt, Signal
from PySide6.QtWidgets import QWidget

from app.store import Store
from app.store.db import sqlite_url
from widgets.history_view import CUSTOM_RANGE, ExportDialog, export_dialog
from widgets.tasks import TaskRunner

NOW = 1_700_000_000.0
WAIT = 20_000


@pytest.fixture
def store(tmp_path):
    s = Store(sqlite_url(tmp_path / "h.sqlite3"))
    s.start()
    for cid in ("cam1", "cam2", "cam3"):
        s.record_state_change(cid, NOW - 5 * 86400, "IDLE", "LIVE", "receiving pictures")  # 5 days ago
        s.record_state_change(cid, NOW - 7200, "LIVE", "OFFLINE", f"{cid} refused")  # 2 h ago
        s.record_state_change(cid, NOW - 600, "OFFLINE", "LIVE", "receiving pictures")  # 10 min ago
    assert s.flush(30)
    yield s
    s.stop()


def make(qtbot, store, tmp_path, name="out.json"):
    dlg = ExportDialog(store, [("cam1", "Lobby"), ("cam2", "Gate"), ("cam3", "Yard")], clock=lambda: NOW,
                       default_path=str(tmp_path / name))  # fmt: skip
    qtbot.addWidget(dlg)
    return dlg


def test_export_chosen_cameras_and_custom_range_to_json(qtbot, store, tmp_path):
    dlg = make(qtbot, store, tmp_path)
    assert dlg.chosen_range() == (NOW - 86400, NOW) and not dlg.start_edit.isEnabled()  # preset: last 24 h
    dlg.range.setCurrentText(CUSTOM_RANGE)
    assert dlg.start_edit.isEnabled()
    dlg.start_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(NOW - 3 * 3600)))
    dlg.end_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(NOW - 3600)))
    dlg.cameras.item(1).setCheckState(Qt.CheckState.Unchecked)  # not Gate
    assert dlg.chosen_cameras() == ["cam1", "cam3"]
    assert dlg.export()
    qtbot.waitUntil(lambda: not dlg.exporting, timeout=WAIT)
    assert dlg.result_label.text().startswith("exported 2 events"), dlg.result_label.text()
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["range"]["start_unix"] == NOW - 3 * 3600 and doc["range"]["end_unix"] == NOW - 3600
    assert [(e["camera_id"], e["new_state"]) for e in doc["events"]] == [("cam1", "OFFLINE"), ("cam3", "OFFLINE")]
    assert {a["camera_id"] for a in doc["availability"]} == {"cam1", "cam3"}


def test_export_preset_range_as_csv_and_refuse_bad_choices(qtbot, store, tmp_path):
    dlg = make(qtbot, store, tmp_path)
    dlg.format.setCurrentText("CSV")
    assert dlg.path.text().endswith("out.csv")
    dlg.range.setCurrentText("Last 7 days")
    dlg.check_all(False)
    assert not dlg.export() and "choose at least one camera" in dlg.result_label.text().lower()
    dlg.range.setCurrentText(CUSTOM_RANGE)
    dlg.start_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(NOW)))
    dlg.end_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(NOW - 60)))
    assert not dlg.export() and "must end after it starts" in dlg.result_label.text()
    assert not list(tmp_path.glob("out*.csv"))  # nothing written for refused choices
    dlg.range.setCurrentText("Last 7 days")
    dlg.cameras.item(1).setCheckState(Qt.CheckState.Checked)  # only Gate
    assert dlg.export()
    qtbot.waitUntil(lambda: not dlg.exporting, timeout=WAIT)
    rows = list(csv.DictReader((tmp_path / "out_events.csv").open()))
    assert [(r["camera_id"], r["new_state"]) for r in rows] == [("cam2", "LIVE"), ("cam2", "OFFLINE"), ("cam2", "LIVE")]
    assert dlg.last_result.events == 3


class HandStore:
    """A store whose export finishes when the test says so (the Future is completed by hand)."""

    def __init__(self) -> None:
        self.pending: list[Future] = []

    def query(self, fn, *args, **kwargs) -> Future:
        fut: Future = Future()
        self.pending.append(fut)
        return fut


class Window(QWidget):
    """What export_dialog expects of its parent: a status bar signal and the window's task runner."""

    status_message = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.tasks = TaskRunner(parent=self, name="ui:window")


def test_the_status_bar_hears_the_export_even_after_the_dialog_was_closed(qtbot, tmp_path):
    win = Window()
    qtbot.addWidget(win)
    store = HandStore()
    heard: list[str] = []
    win.status_message.connect(heard.append)
    result = SimpleNamespace(events=3, samples=2, alerts=1, files=(str(tmp_path / "out.json"),))
    # dialog still open: it shows the outcome, and the status bar hears it once
    dlg = export_dialog(win, store, [("cam1", "Lobby")], clock=lambda: NOW)
    dlg.path.setText(str(tmp_path / "out.json"))
    assert dlg.export() and dlg.exporting
    with qtbot.waitSignal(win.status_message, timeout=WAIT):
        store.pending[-1].set_result(result)
    assert not dlg.exporting and dlg.last_result is result
    assert dlg.result_label.text() == heard[-1] == f"exported 3 events, 2 samples, 1 alerts to {tmp_path / 'out.json'}"
    # dialog closed (and deleted) before the export ends: no error, the status bar still hears it
    dlg = export_dialog(win, store, [("cam1", "Lobby")], clock=lambda: NOW)
    dlg.path.setText(str(tmp_path / "out.json"))
    assert dlg.export()
    dlg.close()  # WA_DeleteOnClose
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(dlg)
    with qtbot.waitSignal(win.status_message, timeout=WAIT) as sig:
        store.pending[-1].set_exception(OSError("disk full"))
    assert sig.args == ["export failed: disk full"] and len(heard) == 2

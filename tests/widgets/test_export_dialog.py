"""Export dialog with pytest-qt on a real SQLite store: the operator's range and cameras are what is exported."""

from __future__ import annotations

import csv
import json

import pytest
from PySide6.QtCore import QDateTime, Qt

from app.store import Store
from app.store.db import sqlite_url
from widgets.history_view import CUSTOM_RANGE, ExportDialog

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

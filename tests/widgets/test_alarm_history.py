"""The alarm history window on a real SQLite store written by a real AlertEngine: every alarm with its
ISA-18.2 story, filters, CSV export (readable by this user only), and the way from an alarm to its camera
and its recording."""

from __future__ import annotations

import csv
import stat

import pytest

from app.alerts import AlertEngine
from app.alerts.history import AlarmFilter, alarms_csv, filter_alarms
from app.config import AlertSettings
from app.pipeline.state import HealthSnapshot, StreamState
from app.store import Store, repository
from app.store.db import sqlite_url
from widgets.alarm_history import PLAY_BEFORE_S, AlarmHistoryWindow

T0 = 1_700_000_000.0


class Clock:
    t = T0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def history(tmp_path):
    """A store holding three alarms: Gate (CRITICAL, acknowledged then cleared: closed), Dock (CRITICAL,
    cleared, never acknowledged), Lobby (WARNING, still active, shelved)."""
    clock = Clock()
    store = Store(sqlite_url(tmp_path / "history.sqlite3"))
    store.start()
    snaps = {
        "gate": HealthSnapshot(camera_id="gate", name="Gate North", group="Depot", state=StreamState.OFFLINE,
                               reason="connection refused by rtsp://admin:s3cret@10.0.0.9/"),
        "dock": HealthSnapshot(camera_id="dock", name="Dock", group="Depot", state=StreamState.OFFLINE, reason="x"),
        "lobby": HealthSnapshot(camera_id="lobby", name="Lobby", group="HQ", conditions=("SILENT",),
                                state=StreamState.LIVE),
    }  # fmt: skip
    engine = AlertEngine(AlertSettings(debounce_s=0, clear_s=0), lambda: dict(snaps), store, sinks=[], clock=clock)
    engine.evaluate_once()
    by_cam = {a.camera_id: a for a in engine.active()}
    clock.t += 60
    engine.acknowledge(by_cam["gate"].id, "Dewi", "technician sent")
    engine.shelve(by_cam["lobby"].id, 60, "Budi", "mic under repair")
    for cid in ("gate", "dock"):
        snaps[cid] = HealthSnapshot(camera_id=cid, name=snaps[cid].name, group="Depot", state=StreamState.LIVE)
    clock.t += 60
    engine.evaluate_once()
    clock.t += 1
    engine.evaluate_once()
    assert store.flush(30)
    yield store, clock, by_cam
    store.stop()


def test_history_rows_filters_and_csv_say_each_alarms_story(history):
    store, _clock, _by_cam = history
    rows = store.query(repository.alerts, T0 - 10, T0 + 1000).result(30)
    states = {r.camera_id: r.status for r in rows}
    assert states == {"gate": "resolved", "dock": "cleared", "lobby": "active"}
    crit = filter_alarms(rows, AlarmFilter(severities=frozenset({"CRITICAL"})))
    assert sorted(r.camera_id for r in crit) == ["dock", "gate"]
    assert [r.camera_id for r in filter_alarms(rows, AlarmFilter(groups=frozenset({"HQ"})))] == ["lobby"]
    text = alarms_csv(filter_alarms(rows, AlarmFilter()))
    assert "s3cret" not in text  # free text is scrubbed
    got = {r["camera_id"]: r for r in csv.DictReader(text.splitlines())}
    assert got["gate"]["state"] == "closed" and got["gate"]["acknowledged_by"] == "Dewi"
    assert got["gate"]["ack_note"] == "technician sent" and got["gate"]["cleared"].startswith("2023-11-14T")
    assert got["dock"]["state"] == "cleared, unacknowledged" and got["dock"]["acknowledged"] == ""
    assert (got["lobby"]["shelved_by"], got["lobby"]["shelve_note"]) == ("Budi", "mic under repair")
    assert got["gate"]["camera"] == "Gate North" and got["gate"]["group"] == "Depot"


def test_history_window_filters_exports_and_leads_to_camera_and_recording(qtbot, history, tmp_path):
    store, clock, by_cam = history
    shown, played = [], []
    cams = [("gate", "Gate North", "Depot"), ("dock", "Dock", "Depot"), ("lobby", "Lobby", "HQ")]
    win = AlarmHistoryWindow(store, cams, show_camera=shown.append, play_recording=lambda c, t: played.append((c, t)),
                             clock=clock)  # fmt: skip
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.table.rowCount() == 3, timeout=15_000)
    assert win.status.text() == "3 alarms in last 24 hours"
    texts = {win.table.item(i, 2).text(): win.table.item(i, 4).text() for i in range(3)}
    assert texts == {"Gate North": "closed", "Dock": "cleared, unacknowledged", "Lobby": "active, unacknowledged"}
    win.severity.setCurrentIndex(win.severity.findData("WARNING"))
    assert win.table.rowCount() == 1 and win.table.item(0, 2).text() == "Lobby"
    assert "mic under repair" in win.table.item(0, 8).text()
    win.severity.setCurrentIndex(0)
    win.group.setCurrentIndex(win.group.findData("Depot"))
    assert sorted(win.table.item(i, 2).text() for i in range(win.table.rowCount())) == ["Dock", "Gate North"]
    row = next(i for i in range(win.table.rowCount()) if win.table.item(i, 2).text() == "Dock")
    win.table.selectRow(row)
    win.show_selected()
    win.play_selected()
    assert shown == ["dock"] and played == [("dock", by_cam["dock"].started_at - PLAY_BEFORE_S)]
    out = tmp_path / "exports" / "alarms.csv"
    win.export_csv(str(out))
    qtbot.waitUntil(lambda: win.status.text().startswith("Exported"), timeout=15_000)
    assert win.status.text() == f"Exported 2 alarms to {out}"
    assert sorted(r["camera_id"] for r in csv.DictReader(out.read_text().splitlines())) == ["dock", "gate"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_history_window_says_when_there_is_no_history(qtbot, tmp_path):
    win = AlarmHistoryWindow(Store(sqlite_url(tmp_path / "never-started.sqlite3")), [])
    qtbot.addWidget(win)
    assert win.status.text().startswith("Alarm history is not available: ")
    assert win.table.rowCount() == 0

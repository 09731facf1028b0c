"""History view with pytest-qt on a real SQLite store: charts, bands, events, availability, summary."""

from __future__ import annotations

import pytest

from app.store import Store
from app.store.db import sqlite_url
from app.store.records import HealthSampleRecord
from widgets.history_view import HistoryView

NOW = 1_700_000_000.0


@pytest.fixture
def store(tmp_path):
    s = Store(sqlite_url(tmp_path / "h.sqlite3"))
    s.start()
    yield s
    s.stop()


def test_history_view_draws_camera_and_summary(qtbot, store):
    store.record_state_change("cam1", NOW - 3000, "IDLE", "LIVE", "receiving pictures")
    store.record_state_change("cam1", NOW - 1200, "LIVE", "OFFLINE", "connection refused")
    store.record_state_change("cam1", NOW - 600, "OFFLINE", "LIVE", "receiving pictures")
    store.record_state_change("cam2", NOW - 3600, "IDLE", "LIVE", "")
    for i in range(0, 3600, 5):
        store.submit(HealthSampleRecord("cam1", NOW - 3600 + i, "LIVE", 25.0, 2e6, 35.0))
    assert store.flush(30)
    view = HistoryView(store, [("cam1", "Lobby"), ("cam2", "Gate")], clock=lambda: NOW)
    qtbot.addWidget(view)
    qtbot.waitUntil(lambda: view.bundle is not None and len(view.summary_rows) == 2, timeout=20_000)
    b = view.bundle
    assert b.series.resolution == "raw" and len(b.series.points) == 720
    assert [s.state for s in b.spans] == ["LIVE", "OFFLINE", "LIVE"]
    assert view.events.rowCount() == 3 and "connection refused" in view.events.item(1, 2).text()
    # known from the first LIVE: 3000 s, of which 600 s OFFLINE -> 80 %
    assert view.availability.text() == "availability 80.00 %"
    assert view.summary.item(0, 0).text() == "Lobby" and view.summary.item(0, 1).text() == "10.0 min"  # names
    assert view.status.text() == "720 samples (every sample), 3 changes of state, 1 outage"
    assert view.plots["bitrate"].getAxis("left").labelString().count("Bitrate, Mbit/s") == 1
    for key in ("fps", "bitrate", "latency"):  # a small bitrate would otherwise read "(x0.001)"
        assert view.plots[key].getAxis("left").autoSIPrefix is False
    assert len(view.plots["states"].getPlotItem().items) == 3  # one coloured band per span
    view.camera.setCurrentIndex(1)
    qtbot.waitUntil(lambda: view.bundle.camera_id == "cam2", timeout=20_000)
    assert view.availability.text() == "availability 100.00 %"

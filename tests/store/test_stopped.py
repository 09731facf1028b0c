"""A stopped store refuses records in words instead of queueing them for a writer that is gone; flush and
maintenance callers are answered at once; waiters of a writer that ends early are woken."""

from __future__ import annotations

import logging
import threading
import time

from app.config import StoreSettings
from app.store import Store
from app.store.db import sqlite_url
from app.store.records import CameraRecord, StateChangeRecord
from app.store.writer import StoreWriter


def test_submit_after_stop_returns_false_and_logs_once(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    store = Store(sqlite_url(tmp_path / "h.sqlite3"), StoreSettings())
    store.start()
    assert store.wait_ready(60), store.status().message
    assert store.submit(CameraRecord("cam1", "Cam 1", "", 1.0)) is True
    store.stop()
    assert store.submit(StateChangeRecord("cam1", 2.0, "LIVE", "IDLE", "late")) is False
    assert store.record_state_change("cam1", 3.0, "LIVE", "IDLE") is False
    refused = [r for r in caplog.records if "history store is stopped" in r.getMessage()]
    assert len(refused) == 1 and "StateChangeRecord" in refused[0].getMessage()
    assert store.writer.refused_after_stop == 2 and store.status().dropped_total == 0
    t0 = time.monotonic()
    assert store.flush(20) is False and store.run_maintenance() is None
    assert time.monotonic() - t0 < 10  # answered, not left waiting for the 20 s timeout


def test_writer_stopped_before_the_database_opens_wakes_every_waiter(tmp_path):
    opening = threading.Event()

    def never_opens():
        opening.set()
        raise OSError("disk not mounted")

    w = StoreWriter(open_db=never_opens, maintenance=None)
    w.start()
    assert opening.wait(10)
    for i in range(3):
        assert w.submit(CameraRecord(f"c{i}", "C", "", 1.0))
    result: list[bool] = []
    flusher = threading.Thread(target=lambda: result.append(w.flush(60)))
    flusher.start()
    deadline = time.monotonic() + 20
    while w.status().queued < 4 and time.monotonic() < deadline:  # the flush barrier queued behind the records
        time.sleep(0.01)
    assert w.stop(drain_timeout_s=0.5) is False
    flusher.join(20)
    assert result == [False]  # woken with ok=False, not after its 60 s timeout
    st = w.status()
    assert st.state == "stopped" and st.queued == 3  # the three records are reported as not written

"""A lock is not an outage, and a stop never waits for one. Real SQLite files and real locks held by a
second connection: a long read holding SQLite's shared lock for 7 s (longer than ``busy_timeout``, 5 s),
another program's ``BEGIN EXCLUSIVE`` at stop. The store's own long reads are cut into short statements.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

from sqlalchemy import event

from app.config import StoreSettings
from app.store import Store, journal, repository
from app.store.db import create_store_engine, sqlite_url, upgrade
from app.store.records import HealthSampleRecord, RecordingSegmentRecord, StateChangeRecord
from app.store.writer import StoreWriter
from tests.helpers import wait_for
from tests.store.test_writer_failures import count_rows

T0 = 1_700_000_000.0


def samples(start: int, n: int) -> list[HealthSampleRecord]:
    return [HealthSampleRecord("cam1", T0 + i, "LIVE", 25.0, 1e6, 10.0) for i in range(start, start + n)]


def test_a_long_read_past_busy_timeout_is_no_outage_and_the_records_are_written_after_it(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "h.sqlite3"
    store = Store(sqlite_url(path), StoreSettings(), periodic_maintenance=False)  # busy_timeout 5 s, grace 15 s
    store.start()
    reading = threading.Event()
    try:
        assert store.wait_ready(60), store.status().message
        for r in samples(0, 10):
            assert store.submit(r)
        assert store.flush(30)

        def long_read() -> None:  # another connection: a read transaction holds the shared lock for 7 s
            c = sqlite3.connect(path, isolation_level=None, timeout=30)
            try:
                c.execute("BEGIN")
                c.execute("SELECT count(*) FROM health_samples").fetchone()
                reading.set()
                time.sleep(7)
                c.execute("COMMIT")
            finally:
                c.close()

        reader = threading.Thread(target=long_read, name="test:long-read")
        reader.start()
        assert reading.wait(30)
        for r in samples(10, 50):
            assert store.submit(r)
        seen: list = []
        while reader.is_alive():  # what the status bar, the alert and /metrics read meanwhile
            seen.append(store.status())
            time.sleep(0.1)
        reader.join()
        assert store.flush(60), store.status()
        st = store.status()
        assert st.busy_retries >= 1, st  # the writer really waited past busy_timeout behind the reader
        assert st.written_total == 60 and st.failed_attempts == 0 and st.healthy, st
        bad = [s for s in seen if not s.healthy or s.outage_since is not None or s.notice]
        assert not bad, bad[:3]
        assert "cannot write history" not in caplog.text
    finally:
        store.stop()
    assert count_rows(path) == 60


def test_long_reads_are_short_statements_between_which_the_writer_commits(tmp_path, monkeypatch):
    path = tmp_path / "h.sqlite3"
    engine = create_store_engine(sqlite_url(path))
    upgrade(engine)
    w = StoreWriter(engine=engine, maintenance_interval_s=None)
    w.start()
    for i in range(10):
        assert w.submit(RecordingSegmentRecord("cam1", f"/rec/{i}.mp4", T0 + i, T0 + i + 1, 100 + i))
        # equal times: the (at, id) key keeps every row once and in order across the chunk boundaries
        assert w.submit(StateChangeRecord("cam1", T0 + i // 4, "LIVE", "OFFLINE", f"r{i}"))
    assert w.flush(30)
    w.stop()
    monkeypatch.setattr(repository, "READ_CHUNK", 3)
    statements = 0
    commits: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _between(conn, cursor, statement, params, context, executemany) -> None:
        nonlocal statements
        statements += 1
        if statements == 2:  # the first chunk is read: another program writes now, without waiting at all
            other = sqlite3.connect(path, isolation_level=None, timeout=0)
            try:
                other.execute("INSERT INTO cameras(id, name, group_name, first_seen, last_seen) "
                              "VALUES ('x', 'X', '', 0, 0)")  # fmt: skip
                commits.append("committed")
            finally:
                other.close()

    with engine.connect() as conn:
        index = repository.recording_segment_index(conn)
    assert commits == ["committed"]  # no lock was held between the statements
    assert statements == 4  # 10 rows, 3 per statement
    assert [r["path"] for r in index] == [f"/rec/{i}.mp4" for i in range(10)]
    assert index[3] == {"path": "/rec/3.mp4", "camera_id": "cam1", "started_at": T0 + 3, "ended_at": T0 + 4,
                        "size_bytes": 103, "locked": False}  # fmt: skip
    with engine.connect() as conn:
        events = repository.state_events(conn, ["cam1"], T0, T0 + 10)
        assert [e.reason for e in events] == [f"r{i}" for i in range(10)]
        assert [e.reason for e in repository.state_events(conn, ["cam1"], T0, T0 + 10, limit=7)] == [
            f"r{i}" for i in range(7)
        ]
    engine.dispose()


def test_stop_with_a_locked_database_returns_in_seconds_and_keeps_the_records_in_the_journal(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "h.sqlite3"
    store = Store(sqlite_url(path), StoreSettings(), periodic_maintenance=False)  # busy_timeout 5 s, grace 15 s
    store.start()
    assert store.wait_ready(60), store.status().message
    locker = sqlite3.connect(path, isolation_level=None, timeout=30)
    locker.execute("BEGIN EXCLUSIVE")  # another program holds the file through the stop
    try:
        for r in samples(0, 100):
            assert store.submit(r)
        assert store.writer is not None
        wait_for(lambda: store.writer.records_queued() == 0, what="the writer to take the batch")  # in its call
        t = time.monotonic()
        store.stop()  # the drain default is 15 s: with the lock it must not be used up
        took = time.monotonic() - t
    finally:
        locker.execute("ROLLBACK")  # the writer's call now goes through: it must not commit the spilled rows
        locker.close()
    assert took < 10, f"Store.stop took {took:.1f} s with a locked database"  # hang check only
    st = store.status()
    assert st.state == "stopped" and st.journaled == 100 and st.queued == 0, st
    records, skipped = journal.read_all(store.journal_path)
    assert records == samples(0, 100) and skipped == 0
    store.writer._thread.join(30)  # the call it was stuck in returns: rolled back, not committed
    assert not store.writer._thread.is_alive()
    assert count_rows(path) == 0
    assert "keeping its records in the journal" in caplog.text

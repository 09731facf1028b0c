"""Store start-up never blocks its caller (the GUI thread): the database is opened and migrated on the
writer thread; records queue meanwhile; a database that cannot be opened is retried and reported in words."""

from __future__ import annotations

import logging
import sqlite3

from app.config import StoreSettings
from app.store import Store, repository
from app.store.db import sqlite_url
from app.store.records import CameraRecord, HealthSampleRecord, WriterStatus
from tests.store.test_writer_failures import count_rows, wait_for

T0 = 1_700_000_000.0


def test_start_returns_while_the_database_is_locked_and_writes_held_rows_once_open(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "h.sqlite3"
    locker = sqlite3.connect(path, isolation_level=None, timeout=30)
    locker.execute("BEGIN EXCLUSIVE")  # another program holds the file: migrations cannot run yet
    store = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100))
    try:
        store.start()  # returns although the database cannot be opened
        assert not store.ready and store.engine is None
        for i in range(100):
            assert store.submit(HealthSampleRecord("cam1", T0 + i, "LIVE", 25, 1e6, 10))
        pending = store.query(repository.cameras)  # waits on a reader thread, not here
        wait_for(lambda: store.status().failed_attempts >= 1, what="a failed open attempt")
        st = store.status()
        assert st.state == "starting" and st.queued == 100 and not st.healthy
        assert st.message.startswith("History not written for ")
        assert ": 100 records held, 0 lost — cannot open the database: the database is locked" in st.message
        assert st.message.endswith("; retrying")
        assert not pending.done() and not store.ready
        locker.execute("COMMIT")
        locker.close()
        locker = None
        assert store.wait_ready(60), store.status().message
        assert pending.result(30) == ()
        assert store.flush(60)
        assert count_rows(path) == 100
        assert store.status().healthy
        assert store.status().message.startswith("History written again: 100 held records written, 0 lost")
        assert "history database opened after" in caplog.text and "history store ready" in caplog.text
    finally:
        if locker is not None:
            locker.close()
        store.stop()


def test_database_folder_that_cannot_be_created_is_retried(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    store = Store(sqlite_url(blocker / "h.sqlite3"))
    store.start()
    try:
        assert store.submit(CameraRecord("cam1", "Lobby", "HQ", T0))
        wait_for(lambda: store.status().failed_attempts >= 1, what="a failed open attempt")
        assert "cannot open the database" in store.status().message and "1 record held" in store.status().message
        blocker.unlink()  # the operator fixes it: the next attempt opens the database
        assert store.wait_ready(60), store.status().message
        assert store.flush(60)
        assert [c.camera_id for c in store.query(repository.cameras).result(30)] == ["cam1"]
    finally:
        store.stop()


def test_status_sentences():
    def st(**kw):
        base = {"queued": 0, "written_total": 0, "dropped_total": 0, "failed_attempts": 0, "last_error": "",
                "last_error_at": 0.0}  # fmt: skip
        return WriterStatus(**{**base, **kw})

    assert st().message == "history OK" and st().notice == ""
    assert st(queued=12).message == "history OK (12 records queued)"
    assert st(state="starting", queued=3).message == "history starting: opening the database (3 records waiting)"
    locked = st(queued=1204, last_error="the database is locked by another program (database is locked)",
                outage_since=T0, at=T0 + 125, lost_in_outage=0)  # fmt: skip
    assert locked.message == ("History not written for 2 min: 1,204 records held, 0 lost — the database is locked by "
                              "another program (database is locked); retrying")  # fmt: skip
    assert not locked.healthy and locked.not_written and locked.notice == locked.message
    back = st(queued=0, at=T0 + 200, recovered_at=T0 + 190, recovered_held=81, recovered_outage_s=130.0)
    assert back.message == "History written again: 81 held records written, 0 lost (not written for 2 min)"
    assert back.healthy and not back.not_written and back.notice == back.message
    assert st(at=T0 + 600, recovered_at=T0, recovered_held=81).notice == ""  # said for 5 minutes, then quiet
    assert st(dropped_total=5).message == "history OK; 5 records dropped (queue full)"
    off = st(state="off", last_error="database URL 'x' is not a SQLAlchemy URL", dropped_total=2)
    assert off.message == "history is off: database URL 'x' is not a SQLAlchemy URL; 2 records not kept"
    assert not off.healthy
    assert st(state="stopped", queued=4).message == "history stopped with 4 records not written"
    spilled = st(state="stopped", journaled=270)
    assert spilled.message == "history stopped; 270 records kept in the journal for the next start"

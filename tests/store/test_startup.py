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
        assert st.message.startswith("history not written: cannot open the database: the database is locked")
        assert st.message.endswith("100 rows held, retrying")
        assert not pending.done() and not store.ready
        locker.execute("COMMIT")
        locker.close()
        locker = None
        assert store.wait_ready(60), store.status().message
        assert pending.result(30) == ()
        assert store.flush(60)
        assert count_rows(path) == 100
        assert store.status().healthy and store.status().message == "history OK"
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
        assert "cannot open the database" in store.status().message and "1 row held" in store.status().message
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

    assert st().message == "history OK"
    assert st(queued=12).message == "history OK (12 rows queued)"
    assert st(state="starting", queued=3).message == "history starting: opening the database (3 rows waiting)"
    locked = st(queued=1204, last_error="the database is locked by another program (database is locked)")
    assert locked.message == ("history not written: the database is locked by another program (database is locked); "
                              "1,204 rows held, retrying")  # fmt: skip
    assert not locked.healthy
    assert st(dropped_total=5).message == "history OK; 5 records dropped (queue full)"
    off = st(state="off", last_error="database URL 'x' is not a SQLAlchemy URL", dropped_total=2)
    assert off.message == "history is off: database URL 'x' is not a SQLAlchemy URL; 2 records not kept"
    assert not off.healthy
    assert st(state="stopped", queued=4).message == "history stopped with 4 rows not written"

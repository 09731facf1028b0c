"""Records the database does not take at stop are kept in the journal file (JSON lines, 0600, atomic) and
written at the next start, then the journal is removed; a damaged line is skipped with a count and never
blocks the start. Real SQLite files, a real lock held by a second connection, the lab's real PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat

import pytest

from app.config import StoreSettings
from app.store import Store, journal, repository
from app.store.db import sqlite_url
from app.store.records import (
    WRITE_RECORDS,
    AlertRecord,
    CameraRecord,
    HealthSampleRecord,
    MotionEventRecord,
    RecordingSegmentRecord,
    SegmentLockRecord,
    SegmentRemovedRecord,
    StateChangeRecord,
)
from tests.helpers import wait_for
from tests.lab.disk import fill, tiny_disk
from tests.store.conftest import reset_postgres
from tests.store.test_writer_failures import count_rows

T0 = 1_700_000_000.0


def mixed_records(n_samples: int) -> list:
    """Every kind of record the store writes (tuples nested in tuples included), then *n_samples* samples."""
    out: list = [
        CameraRecord("gate", "Gate", "North", T0),
        StateChangeRecord("gate", T0 + 1, "LIVE", "OFFLINE", "connection refused: ünïcode, \"quotes\"\nnewline"),
        AlertRecord("a-1", "CameraOffline", "gate", "CRITICAL", "active", "Gate is offline", T0 + 2, T0 + 2,
                    labels=(("group", "North"), ("name", "Gate"), ("subject", "gate"), ("key", "CameraOffline:gate"))),
        MotionEventRecord("gate", T0 + 3, T0 + 9, 0.25, ((0.1, 0.2, 0.3, 0.4), (0.5, 0.5, 0.1, 0.1)), ("person",)),
        RecordingSegmentRecord("gate", "/rec/gate/1.mp4", T0, T0 + 10, 12345, True, False),
        RecordingSegmentRecord("gate", "/rec/gate/2.mp4", T0 + 10, T0 + 20, 999),
        SegmentLockRecord("/rec/gate/1.mp4", True),
        SegmentRemovedRecord("/rec/gate/2.mp4"),
    ]  # fmt: skip
    out += [HealthSampleRecord("gate", T0 + 100 + i, "LIVE", 25.0, 1e6, 12.5, ("LOW_FPS",)) for i in range(n_samples)]
    return out


def test_every_record_type_survives_the_journal_unchanged(tmp_path):
    records = mixed_records(3)
    assert {type(r) for r in records} == set(WRITE_RECORDS)
    path = tmp_path / "j.jsonl"
    assert journal.write(path, records, keep_existing=False) == len(records)
    back, skipped = journal.read(path)
    assert back == records and skipped == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert journal.write(path, records[:2], keep_existing=True) == len(records) + 2  # kept in front, merged
    assert journal.read(path)[0] == records + records[:2]
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left


def test_stop_with_a_locked_database_keeps_the_rows_and_the_next_start_writes_them(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "h.sqlite3"
    records = mixed_records(262)  # 270 records, as many as the acceptance run lost
    first = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100), periodic_maintenance=False, busy_grace_s=0)
    first.start()
    assert first.wait_ready(60), first.status().message
    locker = sqlite3.connect(path, isolation_level=None, timeout=30)
    locker.execute("BEGIN EXCLUSIVE")  # the database is dead for Vigil from here to after the stop
    try:
        for r in records:
            assert first.submit(r)
        wait_for(lambda: "locked" in first.status().last_error, what="the writer to report the lock")
        first.stop()
        st = first.status()
        assert st.state == "stopped" and st.journaled == 270 and st.queued == 0
        assert st.message == "history stopped; 270 records kept in the journal for the next start"
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    jpath = first.journal_path
    assert jpath == tmp_path / "h.sqlite3.unwritten.jsonl" and jpath.is_file()
    assert stat.S_IMODE(jpath.stat().st_mode) == 0o600
    lines = jpath.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 270 and all(json.loads(line)["v"] == 1 for line in lines)
    assert "270 records saved to " + str(jpath) in caplog.text
    assert count_rows(path) == 0  # nothing reached the database

    second = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100), periodic_maintenance=False)
    second.start()
    try:
        assert second.wait_ready(60), second.status().message
        # ready means the journal is in: the alert engine's adoption query then sees the last run's alarms
        assert count_rows(path) == 262 and count_rows(path, "alerts") == 1
        assert second.submit(HealthSampleRecord("gate", T0 + 5000, "LIVE"))  # new rows go after the journal's
        assert second.flush(60), second.status()
        assert not jpath.exists()
        assert second.status().replayed == 270
        assert "history journal replayed: 270 records written to the database, 0 damaged lines skipped" in caplog.text
        assert count_rows(path) == 263
        events = second.query(repository.state_events, ["gate"], T0, T0 + 2).result(30)
        assert [e.reason for e in events] == ['connection refused: ünïcode, "quotes"\nnewline']
        segs = second.query(repository.recording_segments, "gate", T0 - 1, T0 + 100).result(30)
        assert [(s["path"], s["locked"]) for s in segs] == [("/rec/gate/1.mp4", True)]  # lock and removal replayed
        motion = second.query(repository.motion_events, "gate", T0, T0 + 10).result(30)
        assert motion[0]["labels"] == ["person"] and motion[0]["regions"][1] == [0.5, 0.5, 0.1, 0.1]
        alerts = second.query(repository.open_alerts).result(30)
        assert [(a.id, dict(a.labels)["key"]) for a in alerts] == [("a-1", "CameraOffline:gate")]
    finally:
        second.stop()


def test_damaged_journal_lines_are_skipped_with_a_count_and_never_block_the_start(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "h.sqlite3"
    jpath = tmp_path / "h.sqlite3.unwritten.jsonl"
    good = [HealthSampleRecord("gate", T0 + i, "LIVE", 25.0) for i in range(10)]
    lines = [journal.encode(r) for r in good]
    damaged = [
        "{not json",
        json.dumps({"v": 99, "type": "HealthSampleRecord", "data": {}}),  # a newer format
        json.dumps({"v": 1, "type": "Nope", "data": {}}),
        json.dumps({"v": 1, "type": "HealthSampleRecord", "data": {"camera_id": "x", "bogus": 1}}),
    ]
    truncated = journal.encode(HealthSampleRecord("gate", T0 + 99, "LIVE"))[:25]  # a crash cut the last line
    body = "\n".join(lines[:5] + damaged + lines[5:]) + "\n"
    jpath.write_bytes(body.encode() + b"\x00\xff\xfe not UTF-8\n" + truncated.encode())
    store = Store(sqlite_url(path), StoreSettings(), periodic_maintenance=False)
    store.start()
    try:
        assert store.wait_ready(60), store.status().message
        assert store.submit(CameraRecord("gate", "Gate"))
        assert store.flush(60), store.status()
        assert count_rows(path) == 10 and count_rows(path, "cameras") == 1
        assert not jpath.exists()
        assert f"history journal {jpath}: 6 damaged lines skipped" in caplog.text
        assert "10 records written to the database, 6 damaged lines skipped" in caplog.text
    finally:
        store.stop()


def test_a_journal_that_cannot_be_replayed_yet_is_kept_and_merged_at_the_next_stop(tmp_path, postgres_server, caplog):
    """PostgreSQL unreachable for two runs: the second stop adds to the first's journal; then the server is
    there and one start writes both runs' records."""
    caplog.set_level(logging.INFO)
    jpath = tmp_path / "history.unwritten.jsonl"
    dead = "postgresql+psycopg2://vigil:pw@127.0.0.1:1/vigil"  # nothing listens on port 1
    for run in range(2):
        s = Store(dead, StoreSettings(), periodic_maintenance=False, journal_path=jpath)
        s.start()
        for i in range(40):
            assert s.submit(HealthSampleRecord("gate", T0 + run * 100 + i, "LIVE"))
        wait_for(lambda s=s: s.status().failed_attempts >= 1, what="a failed open attempt")
        assert s.status().not_written  # an unreachable server is a history outage (alert, metrics) too
        s.stop()
        assert s.status().journaled == 40
    assert len(jpath.read_text().splitlines()) == 80
    assert "(80 in it now)" in caplog.text
    reset_postgres(postgres_server.sqlalchemy_url)
    live = Store(postgres_server.sqlalchemy_url, StoreSettings(), periodic_maintenance=False, journal_path=jpath)
    live.start()
    try:
        assert live.wait_ready(60), live.status().message
        assert live.flush(60)
        wait_for(lambda: not jpath.exists(), what="the journal to be removed")
        series = live.query(repository.samples, "gate", T0, T0 + 1000, "raw").result(30)
        assert len(series.points) == 80
    finally:
        live.stop()


def test_stop_with_a_healthy_database_leaves_no_journal(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = Store(sqlite_url(path), StoreSettings(), periodic_maintenance=False)
    store.start()
    assert store.wait_ready(60)
    for r in mixed_records(50):
        assert store.submit(r)
    store.stop()
    assert store.status().journaled == 0 and store.status().queued == 0
    assert not (tmp_path / "h.sqlite3.unwritten.jsonl").exists()
    assert count_rows(path) == 50
    # a rollback journal, no WAL: no -wal, no -shm (a memory-mapped file whose failure is a SIGBUS)
    assert set(os.listdir(tmp_path)) <= {"h.sqlite3", "h.sqlite3-journal", "h.sqlite3.unwritten.jsonl.reserve"}


def test_stop_on_a_full_disk_uses_the_reserve_and_the_next_start_writes_every_row(tmp_path, caplog):
    """The usual case: the database's own disk filled up, and the journal lives next to it."""
    caplog.set_level(logging.INFO)
    with tiny_disk(tmp_path, size_mb=16) as disk:
        path = disk / "full.sqlite3"
        first = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100), periodic_maintenance=False)
        first.start()
        assert first.wait_ready(60), first.status().message
        assert journal.reserve_path(first.journal_path).stat().st_size == journal.RESERVE_BYTES
        ballast = fill(disk)
        for r in mixed_records(992):  # 1,000 records
            assert first.submit(r)
        wait_for(lambda: "full" in first.status().last_error, what="the writer to report a full disk")
        first.stop()
        assert first.status().journaled == 1000 and first.status().queued == 0, first.status()
        assert "freeing its 4 MiB reserve" in caplog.text
        assert len(first.journal_path.read_text().splitlines()) == 1000
        ballast.unlink()
        second = Store(sqlite_url(path), StoreSettings(), periodic_maintenance=False)
        second.start()
        try:
            assert second.wait_ready(60) and second.flush(60), second.status()
            assert not first.journal_path.exists() and second.status().replayed == 1000
            assert journal.reserve_path(first.journal_path).is_file()  # kept again for the next time
        finally:
            second.stop()
        assert count_rows(path) == 992


def test_a_journal_that_cannot_be_read_is_never_replaced_and_the_next_start_writes_both_in_order(tmp_path, caplog):
    """The old journal is unreadable at stop for real (its folder is not reachable: a symbolic link that
    loops, ELOOP, as an unmounted or failing disk would be): the stop's records go to a file next to it,
    and once the old one can be read again the next start writes the old records, then the new ones."""
    caplog.set_level(logging.INFO)
    path = tmp_path / "h.sqlite3"
    vault = tmp_path / "vault"
    vault.mkdir()
    old = [CameraRecord("gate", "Gate", "", T0), AlertRecord("a-1", "CameraOffline", "gate", "CRITICAL", "active",
                                                           "Gate is offline", T0, T0)]  # fmt: skip
    journal.write(vault / "j.jsonl", old, keep_existing=False)
    (tmp_path / "disk").symlink_to("disk")  # a loop: every path through it fails with ELOOP
    jpath = tmp_path / "h.sqlite3.unwritten.jsonl"
    jpath.symlink_to(tmp_path / "disk" / "j.jsonl")
    with pytest.raises(journal.JournalError, match="cannot read"):
        journal.read(jpath)

    first = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100), periodic_maintenance=False, busy_grace_s=0)
    first.start()
    assert first.wait_ready(60), first.status().message
    assert "its records stay there until it can be read" in caplog.text
    locker = sqlite3.connect(path, isolation_level=None, timeout=30)
    locker.execute("BEGIN EXCLUSIVE")
    new = [AlertRecord("a-1", "CameraOffline", "gate", "CRITICAL", "resolved", "Gate is offline", T0, T0 + 60,
                       resolved_at=T0 + 60), HealthSampleRecord("gate", T0 + 61, "LIVE")]  # fmt: skip
    try:
        for r in new:
            assert first.submit(r)
        wait_for(lambda: "locked" in first.status().last_error, what="the writer to report the lock")
        first.stop()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert first.status().journaled == 2
    assert jpath.is_symlink() and (vault / "j.jsonl").is_file()  # the unreadable journal is left as it was
    files = journal.files(jpath)
    assert files[0] == jpath and len(files) == 2, files
    assert journal.read(files[1]) == (new, 0)
    assert stat.S_IMODE(files[1].stat().st_mode) == 0o600
    assert "it is kept as it is" in caplog.text

    (tmp_path / "disk").unlink()
    (tmp_path / "disk").symlink_to("vault")  # the old journal's disk is back
    assert journal.read_all(jpath) == (old + new, 0)
    second = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100), periodic_maintenance=False)
    second.start()
    try:
        assert second.wait_ready(60) and second.flush(60), second.status()
        assert second.status().replayed == 4
        alerts = second.query(repository.alerts, T0 - 1, T0 + 100).result(30)
        assert [a.status for a in alerts] == ["resolved"]  # the newer state written last: order kept
        assert count_rows(path) == 1 and count_rows(path, "cameras") == 1
    finally:
        second.stop()
    assert journal.files(jpath) == []  # all replayed: the journal and the extra file are gone


def test_an_unreadable_journal_is_kept_and_new_records_go_next_to_it(tmp_path):
    path = tmp_path / "j.jsonl"
    path.mkdir()  # something that is not a readable journal stands at its name (EISDIR)
    with pytest.raises(journal.JournalError):
        journal.read_all(path)
    a, b = [HealthSampleRecord("gate", T0, "LIVE")], [HealthSampleRecord("gate", T0 + 1, "LIVE")]
    assert journal.write(path, a, keep_existing=True) == -1
    assert journal.write(path, b, keep_existing=True) == -1  # extra files exist: never merged into them
    assert path.is_dir()
    extras = journal.files(path)[1:]
    assert [journal.read(p)[0] for p in extras] == [a, b]
    path.rmdir()
    assert journal.read_all(path) == (a + b, 0)
    assert journal.write(path, a + b, keep_existing=False) == 2  # all of them read: one journal again
    assert journal.files(path) == [path] and journal.read(path) == (a + b, 0)

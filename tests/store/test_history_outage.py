"""A history outage (locked database, read-only disk, unreachable server) is counted exactly and told
everywhere the operator looks: the status-bar sentence, the ``HistoryNotWritten`` alert, ``/metrics`` and
the log; all of it clears when writes work again, with the real number of held records written.

Real parts only: a real SQLite file locked by a second connection (``BEGIN EXCLUSIVE``), a real tmpfs
remounted read-only, the real alert engine and the real Prometheus collector.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import time

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.alerts.evaluator import AlertStatus
from app.alerts.service import AlertEngine
from app.config import AlertSettings, StoreSettings
from app.metrics.collector import VigilCollector
from app.store import Store
from app.store.db import sqlite_url
from app.store.records import HealthSampleRecord
from tests.helpers import wait_for
from tests.lab.disk import tiny_disk
from tests.store.test_writer_failures import count_rows
from widgets.main_window import store_health_sentence

T0 = 1_700_000_000.0


class Clock:
    """Wall time the test moves by hand: the store's outage figures and the alert engine read it."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def history_series(store: Store) -> dict[str, float]:
    """The ``vigil_history_*`` samples of a real collector reading *store*, checked by promtool."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VigilCollector(lambda: {}, store_status=store.status))
    text = generate_latest(registry).decode()
    lint = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.startswith("vigil_history_") and not s.name.endswith("_created"):
                out[s.name] = s.value
    return out


def submit_samples(store: Store, start: int, n: int) -> None:
    for i in range(start, start + n):
        assert store.submit(HealthSampleRecord("cam1", T0 + i, "LIVE", 25.0, 1e6, 10.0))


def test_locked_database_counts_held_records_exactly_and_raises_history_not_written(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    clock = Clock(T0)
    path = tmp_path / "locked.sqlite3"
    # busy_grace_s=0: the lock is an outage at once (a lock shorter than the grace: test_short_locks.py)
    store = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100), clock=clock, periodic_maintenance=False,
                  busy_grace_s=0)  # fmt: skip
    engine = AlertEngine(AlertSettings(debounce_s=60, clear_s=0), lambda: {}, store, sinks=[], clock=clock)
    store.start()
    locker = None
    try:
        assert store.wait_ready(60), store.status().message
        assert history_series(store)["vigil_history_write_ok"] == 1.0
        assert store_health_sentence(store) == ""  # nothing to say while history is written
        locker = sqlite3.connect(path, isolation_level=None, timeout=30)
        locker.execute("BEGIN EXCLUSIVE")  # another program holds the lock
        # the first batch that fails holds 2 records; 79 more queue behind it (the old count said "2")
        submit_samples(store, 0, 2)
        wait_for(lambda: "locked" in store.status().last_error, what="the writer to report the lock")
        submit_samples(store, 2, 79)
        clock.t = T0 + 125
        st = store.status()
        assert st.queued == 81 and st.outage_since == T0 and st.lost_in_outage == 0 and st.not_written
        assert st.message == ("History not written for 2 min: 81 records held, 0 lost — the database is locked by "
                              "another program (database is locked); retrying")  # fmt: skip
        assert store_health_sentence(store) == st.message
        series = history_series(store)
        assert series["vigil_history_write_ok"] == 0.0 and series["vigil_history_records_pending"] == 81
        assert series["vigil_history_outage_start_timestamp_seconds"] == T0
        assert series["vigil_history_records_dropped_total"] == 0 and series["vigil_history_write_failures_total"] >= 1
        # ISA-18.2 style: debounced from the outage start, raised once, active and unacknowledged
        assert engine.evaluate_once(T0 + 30) == []  # within the 60 s debounce
        fired = engine.evaluate_once(T0 + 125)
        assert [(e.kind, e.alert.alertname) for e in fired] == [("fired", "HistoryNotWritten")]
        alert = fired[0].alert
        assert alert.status is AlertStatus.ACTIVE and alert.started_at == T0 and alert.severity.value == "MAJOR"
        assert alert.summary == ("history is not written to the database: the database is locked by another "
                                 "program (database is locked); 81 records held, 0 lost")  # fmt: skip
        assert engine.evaluate_once(T0 + 126) == []  # still the same alarm, not a new one per evaluation
        # the alarm's own record is held like any other: 82 now
        assert store.status().queued == 82
    finally:
        if locker is not None:
            locker.execute("COMMIT")
            locker.close()
    try:
        assert store.flush(60), store.status()
        clock.t = T0 + 130
        st = store.status()
        assert st.message == "History written again: 82 held records written, 0 lost (not written for 2 min)"
        assert st.healthy and not st.not_written and store_health_sentence(store) == st.message
        assert "store recovered after 2 min without writes: 82 held records written, 0 lost" in caplog.text
        assert ": 2 held records written" not in caplog.text  # the first failed batch is not the count
        # writes work again: the alarm's condition clears (it stays listed until acknowledged: ISA-18.2)
        cleared = engine.evaluate_once(T0 + 131)
        assert [(e.kind, e.alert.alertname) for e in cleared] == [("cleared", "HistoryNotWritten")]
        assert store.flush(30)  # the cleared alarm's record
        series = history_series(store)
        assert series["vigil_history_write_ok"] == 1.0 and series["vigil_history_records_pending"] == 0
        assert series["vigil_history_records_written_total"] == 83
        assert "vigil_history_outage_start_timestamp_seconds" not in series
        clock.t = T0 + 130 + 301
        assert store_health_sentence(store) == ""  # said for five minutes, then the status bar is quiet again
    finally:
        store.stop()
    assert count_rows(path) == 81
    assert count_rows(path, "alerts") == 1  # fired (held, then written) and cleared: one row, its last state


def test_read_only_disk_counts_held_records_exactly_and_recovers(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    with tiny_disk(tmp_path, size_mb=16) as disk:
        path = disk / "ro.sqlite3"
        store = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100), periodic_maintenance=False)
        store.start()
        try:
            assert store.wait_ready(60), store.status().message
            submit_samples(store, 0, 5)
            assert store.flush(30)
            # The kernel remounts a file system read-only only while no file on it is open for writing:
            # close the idle connections, as the writer itself does after every failed attempt.
            assert store.engine is not None
            store.engine.dispose()
            remount(disk, "ro")
            submit_samples(store, 5, 81)
            wait_for(lambda: "read-only" in store.status().last_error, what="the writer to report a read-only disk")
            st = store.status()
            assert st.queued == 81 and st.lost_in_outage == 0 and st.not_written
            assert st.message.startswith("History not written for ")
            assert st.message.endswith(": 81 records held, 0 lost — the database cannot be written (read-only or "
                                       "no permission: attempt to write a readonly database); retrying")  # fmt: skip
            assert history_series(store)["vigil_history_records_pending"] == 81
            remount(disk, "rw")
            assert store.flush(90), store.status()
            st = store.status()
            assert st.message.startswith("History written again: 81 held records written, 0 lost (not written for ")
            assert st.written_total == 86 and st.healthy
            assert "cannot write history: the database cannot be written (read-only" in caplog.text
            assert "81 held records written, 0 lost" in caplog.text
        finally:
            store.stop()
            remount(disk, "rw")
        assert count_rows(path) == 86


def remount(disk, mode: str, timeout: float = 20.0) -> None:
    """``mount -o remount,<mode>``; ro is refused (busy) while a file is open for writing: retry a while."""
    deadline = time.monotonic() + timeout
    while True:
        r = subprocess.run(["mount", "-o", f"remount,{mode}", str(disk)], capture_output=True, text=True)
        if r.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"remount {mode} of {disk} failed: {r.stderr.strip()}")
        time.sleep(0.1)

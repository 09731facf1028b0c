"""No storage fault kills Vigil: the real ``main.py --headless`` runs in a child process (so a SIGBUS would
be the child's death, rc -7) with its SQLite database on a small tmpfs, which the test fills, remounts
read-only, frees and finally truncates file by file under it. The child must keep running through all of
it, say each outage in words (log, ``HistoryNotWritten`` alert, ``/metrics``) and stop cleanly.

Before issue 13 the database ran in WAL mode, whose ``-shm`` file SQLite memory-maps: truncating that file
killed Vigil by SIGBUS within 0.05 s, with no log line. Also here: the SQLite settings that make that
impossible (rollback journal, no memory mapping), and the switch of a WAL database left by an older Vigil.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from app.config import StoreSettings
from app.store import Store
from app.store.db import sqlite_url
from app.store.records import CameraRecord, HealthSampleRecord
from tests.helpers import fetch_metrics, wait_for
from tests.lab.disk import fill, tiny_disk
from tests.store.test_history_outage import remount
from tests.store.test_writer_failures import count_rows

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metric(port: int, name: str) -> float | None:
    for line in fetch_metrics(port).splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


class Child:
    """``main.py --headless`` with its console log in a file (a pipe could fill and block it)."""

    def __init__(self, tmp_path: Path, db_dir: Path) -> None:
        self.port = free_port()
        cfg = tmp_path / "vigil.json"
        cfg.write_text(json.dumps({
            "schema_version": 1,
            "cameras": [{"name": "Gate", "url": "rtsp://127.0.0.1:1/stream1"}],  # refused: state changes
            "store": {"url": sqlite_url(db_dir / "vigil.sqlite3"), "sample_interval_s": 0.2, "busy_timeout_ms": 200},
            "alerts": {"debounce_s": 1.0, "clear_s": 1.0},
        }))  # fmt: skip
        self.log = tmp_path / "console.log"
        self._out = open(self.log, "wb")  # noqa: SIM115 (closed in stop)
        cmd = [sys.executable, str(ROOT / "main.py"), "--headless", "--config", str(cfg), "--data-dir",
               str(tmp_path / "data"), "--metrics-port", str(self.port)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, cwd=tmp_path)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def alive(self, what: str) -> None:
        rc = self.proc.poll()
        if rc is not None:
            how = f"killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with {rc}"
            raise AssertionError(f"Vigil {how} {what}; its last words:\n{self.text()[-3000:]}")

    def wait_log(self, needle: str, what: str, timeout: float = 60.0) -> None:
        def seen() -> bool:
            self.alive(f"while waiting for {what}")
            return needle in self.text()

        wait_for(seen, timeout=timeout, what=what)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode


def test_vigil_survives_a_full_read_only_and_truncated_database_disk(tmp_path):
    with tiny_disk(tmp_path, size_mb=16) as disk:
        child = Child(tmp_path, disk)
        ballast = None
        try:
            child.wait_log("history store ready", "the history store to open")
            wait_for(lambda: (metric(child.port, "vigil_history_records_written_total") or 0) > 0,
                     what="history rows written")  # fmt: skip
            assert metric(child.port, "vigil_history_write_ok") == 1.0

            ballast = fill(disk)  # 1. the disk fills up
            child.wait_log("cannot write history: the disk holding the database is full", "the full-disk log line")
            child.wait_log("ALERT FIRED HistoryNotWritten", "the HistoryNotWritten alert")
            assert metric(child.port, "vigil_history_write_ok") == 0.0
            assert (metric(child.port, "vigil_history_records_pending") or 0) > 0

            remount(disk, "ro")  # 2. and goes read-only (possible: the writer closes its files after a failure)
            child.wait_log("the database cannot be written (read-only", "the read-only log line")
            child.alive("with its database disk read-only")

            remount(disk, "rw")  # 3. the operator frees the disk: everything held is written
            ballast.unlink()
            ballast = None
            child.wait_log("store recovered after", "the recovery log line")
            wait_for(lambda: metric(child.port, "vigil_history_write_ok") == 1.0, what="write_ok back to 1")
            assert metric(child.port, "vigil_history_records_dropped_total") == 0

            # 4. another program truncates every file of the database under it (with WAL: SIGBUS at once)
            names = sorted(p.name for p in disk.iterdir())
            assert not any(n.endswith(("-wal", "-shm")) for n in names), names
            for p in disk.iterdir():
                os.truncate(p, 0)
            child.wait_log("the database file lost its tables", "the truncated-database log line", timeout=30)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:  # it keeps running (and sampling) with the database gone
                child.alive("after its database files were truncated")
                time.sleep(0.2)
            assert metric(child.port, "vigil_history_write_ok") == 0.0
        finally:
            t = time.monotonic()
            rc = child.stop()
            took = time.monotonic() - t
            if ballast is not None:
                remount(disk, "rw")
        assert rc == 0, f"rc {rc}: {child.text()[-3000:]}"
        assert took < 30, f"stop took {took:.1f} s"  # hang check only
        text = child.text()
        assert "records saved to" in text and "written to the database at the next start" in text
        assert "Traceback" not in text, text[-3000:]


def test_sqlite_runs_with_a_rollback_journal_and_no_memory_mapping(tmp_path):
    path = tmp_path / "h.sqlite3"
    store = Store(sqlite_url(path), StoreSettings(), periodic_maintenance=False)
    store.start()
    try:
        assert store.wait_ready(60), store.status().message
        for i in range(500):
            assert store.submit(HealthSampleRecord("gate", T0 + i, "LIVE"))
        assert store.flush(60)
        assert store.engine is not None
        with store.engine.connect() as conn:
            pragma = {k: conn.exec_driver_sql(f"PRAGMA {k}").scalar() for k in ("journal_mode", "mmap_size",
                                                                               "synchronous")}  # fmt: skip
        assert pragma == {"journal_mode": "truncate", "mmap_size": 0, "synchronous": 2}  # 2 = FULL
        assert not [n for n in os.listdir(tmp_path) if n.endswith(("-wal", "-shm"))]  # no WAL, no shared memory
    finally:
        store.stop()


def test_a_wal_database_of_an_older_vigil_is_switched_once_no_one_else_has_it_open(tmp_path, caplog):
    path = tmp_path / "old.sqlite3"
    other = sqlite3.connect(path, isolation_level=None)
    assert other.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    other.execute("CREATE TABLE t(x)")
    other.execute("BEGIN")
    other.execute("SELECT * FROM t").fetchall()  # another program reads it: it cannot be switched now
    store = Store(sqlite_url(path), StoreSettings(busy_timeout_ms=100), periodic_maintenance=False)
    store.start()
    try:
        assert store.submit(CameraRecord("gate", "Gate"))
        # the writer sets the words before the count (it used to count first: 2 of ~105 runs read the status
        # in between and saw "history starting" here), so the count is a safe moment to read the sentence
        wait_for(lambda: store.status().failed_attempts >= 1, what="a refused open")
        st = store.status()
        assert not store.ready and "cannot open the database" in st.message, st
        other.execute("COMMIT")
        other.close()
        assert store.wait_ready(60), store.status().message
        assert store.flush(60)
        # before any connection of the test's own opens the file (count_rows below): what the switch left
        assert not [n for n in os.listdir(tmp_path) if n.endswith(("-wal", "-shm"))], os.listdir(tmp_path)
        assert count_rows(path, "cameras") == 1
        check = sqlite3.connect(path)
        try:  # a new connection reads the mode on disk: not WAL any more ("delete": TRUNCATE is per connection)
            assert check.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        finally:
            check.close()
    finally:
        store.stop()

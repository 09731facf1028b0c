"""``Store``: the history service (``Runtime.store``, built by ``app.compose.add_store``).

Start-up: ``start()`` returns at once; the writer thread opens and migrates the database (retrying with
backoff if it cannot) while records queue. ``status()`` says in words what the store is doing.

Writes: ``submit(record)`` or the typed ``record_*`` helpers enqueue a frozen record for the one writer
thread and return at once (never blocks; ``False`` if the bounded queue is full). Reads:
``query(fn, *args)`` runs a repository function on a reader thread and returns a ``Future`` (pass
``callback=`` to get the result; a Qt caller hops to the GUI thread itself); a query made before the
database is open waits for it on the reader thread. Nothing here imports Qt.

Storage faults (issue 13): SQLite runs with a rollback journal and no memory mapping (``app.store.db``),
so an unwritable, full or read-only disk is an error the writer holds rows through, never a SIGBUS. What
cannot be written when Vigil stops goes to the journal file (``journal_path``, by default next to a SQLite
database: ``vigil.sqlite3.unwritten.jsonl``) and is written first thing at the next start.

Fed by the supervisor: every state change (with its reason) and, every ``store.sample_interval_s``, one
health sample per camera (fps, bitrate, latency, state, conditions). On a clean stop every camera gets an
IDLE "Vigil stopped" event, so the time Vigil was not running counts as unknown, not as down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from app.config import StoreSettings
from app.secrets import mask_url
from app.store import db, journal
from app.store.records import (
    AlertRecord,
    CameraRecord,
    HealthSampleRecord,
    MotionEventRecord,
    RecordingSegmentRecord,
    SegmentLockRecord,
    SegmentRemovedRecord,
    StateChangeRecord,
    WriterStatus,
)
from app.store.rollup import RetentionPolicy, RollupJob
from app.store.writer import BUSY_GRACE_S, StoreWriter

log = logging.getLogger(__name__)

QUERY_READY_WAIT_S = 30.0  # a query made while the database is still opening waits this long (reader thread)
STOP_READERS_WAIT_S = 0.5  # at stop, running reads get this long; then they finish on their own (daemon threads)
STOP_SAMPLER_WAIT_S = 1.0  # the sampler only waits on the stop event: it ends at once


class Store:
    def __init__(
        self,
        url: str,
        settings: StoreSettings | None = None,
        supervisor=None,
        *,
        readers: int = 2,
        sqlite_pragmas: dict[str, object] | None = None,
        clock: Callable[[], float] = time.time,
        periodic_maintenance: bool = True,
        journal_path: Path | None = None,
        busy_grace_s: float = BUSY_GRACE_S,
    ) -> None:
        """*periodic_maintenance* False: roll-ups/retention run only on ``run_maintenance()`` (tests, bench
        writing history at fixed past times). *journal_path*: where records not written at stop are kept
        for the next start; default: next to a SQLite database file, none for other databases (compose
        gives one in the data folder). *busy_grace_s*: how long a locked database is retried quietly before
        it counts as an outage (``StoreWriter``; tests give 0 to see a lock as an outage at once)."""
        self.url = url
        self.settings = settings or StoreSettings()
        self._supervisor = supervisor
        self._readers_n = readers
        self._sqlite_pragmas = sqlite_pragmas
        self._clock = clock
        self._periodic_maintenance = periodic_maintenance
        self._busy_grace_s = busy_grace_s
        self._queries: set[Future] = set()  # reads not finished yet (stop waits for them a bounded time)
        self.engine: Engine | None = None  # set on the writer thread once the database is open and migrated
        self.writer: StoreWriter | None = None
        self.rollups: RollupJob | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._sampler: threading.Thread | None = None
        self._last_state: dict[str, str] = {}
        self._state_lock = threading.Lock()
        self._started = False
        self._started_at = 0.0
        if journal_path is None:
            file = db.sqlite_file(url)
            journal_path = file.with_name(file.name + journal.SUFFIX) if file is not None else None
        self.journal_path: Path | None = journal_path

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start the writer (which opens and migrates the database on its own thread), the readers and the
        sampler. Returns at once: safe on the GUI thread. Records submitted from now on are held until the
        database is open."""
        s = self.settings
        self._stop.clear()
        self._ready.clear()
        self._started_at = time.monotonic()
        self.rollups = RollupJob(RetentionPolicy.from_settings(s), self._clock)
        self.writer = StoreWriter(queue_max=s.queue_max, batch_max=s.batch_max, maintenance=self.rollups,
                                  maintenance_interval_s=s.rollup_interval_s if self._periodic_maintenance else None,
                                  open_db=self._open_database, on_ready=self._on_ready,
                                  journal_path=self.journal_path, clock=self._clock,
                                  busy_grace_s=self._busy_grace_s)  # fmt: skip
        self.writer.start()
        self._reader = ThreadPoolExecutor(max_workers=self._readers_n, thread_name_prefix="store:reader")
        if self._supervisor is not None:
            now = self._clock()
            for cam in self._supervisor.config.cameras:
                self.submit(CameraRecord(cam.id, cam.name, cam.group, now))
            self._supervisor.subscribe(self._on_state_changed)
            self._sampler = threading.Thread(target=self._sample_loop, name="store:sampler", daemon=True)
            self._sampler.start()
        self._started = True
        log.info("history store: opening %s in the background", mask_url(self.url))

    def _open_database(self) -> Engine:
        """Writer thread: connect and migrate. ``StoreError`` = can never work; anything else is retried."""
        s = self.settings
        engine = db.create_store_engine(self.url, s.busy_timeout_ms, self._sqlite_pragmas)
        try:
            db.upgrade(engine)
        except Exception:
            engine.dispose()
            raise
        return engine

    def _on_ready(self, engine: Engine) -> None:
        self.engine = engine
        self._ready.set()
        log.info("history store ready: %s (schema %s, opened in %.1f s)", mask_url(self.url), db.head_revision(),
                 time.monotonic() - self._started_at)  # fmt: skip

    @property
    def ready(self) -> bool:
        """True once the database is open and migrated."""
        return self._ready.is_set()

    @property
    def unavailable(self) -> str:
        """Why history is off for good (a configuration that can never work); "" otherwise."""
        return self.writer.off_reason if self.writer is not None else ""

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """Block until the database is open (tests, self-test, tools). Not for the GUI thread."""
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.writer is None or self.writer.state in ("off", "stopped") or time.monotonic() > deadline:
                return False
        return True

    def stop(self, drain_timeout_s: float = 15.0) -> None:
        """Write what is queued (up to *drain_timeout_s* while it goes well), then stop the threads.

        Bounded whatever the database does: with a failing, locked or hung database the writer gives up
        after about 2.5 s and what it holds goes to the journal (``StoreWriter.stop``); running reads get
        ``STOP_READERS_WAIT_S`` more and are then left to finish on their own (the pool's threads end with
        them; a read cannot be interrupted). About 4 s at most, so Vigil exits within 5 s of SIGTERM."""
        if not self._started:
            return
        self._started = False
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join(STOP_SAMPLER_WAIT_S)
        now = self._clock()
        with self._state_lock:
            running = [cid for cid, st in self._last_state.items() if st != "IDLE"]
        for cid in running:
            self.submit(StateChangeRecord(cid, now, self._last_state[cid], "IDLE", "Vigil stopped"))
        if self.writer is not None:
            self.writer.stop(drain_timeout_s)
        if self._reader is not None:
            self._reader.shutdown(wait=False, cancel_futures=True)  # queued reads are cancelled
            running = [f for f in list(self._queries) if not f.done()]
            if running:
                _done, left = wait_futures(running, timeout=STOP_READERS_WAIT_S)
                if left:
                    log.warning("history store stopped with %d reads still running (a slow or locked "
                                "database): they finish on their own", len(left))  # fmt: skip
        if self.engine is not None:
            self.engine.dispose()

    # ------------------------------------------------------------------ writes (any thread, never block)
    def submit(self, record: object) -> bool:
        """Queue any record from ``app.store.records``; False if the queue is full or the store is stopped
        (counted, logged once). Before ``start()`` it raises: that is a wiring error, not a runtime state."""
        if self.writer is None:
            raise RuntimeError("Store.submit before Store.start")
        return self.writer.submit(record)

    def record_state_change(self, camera_id: str, at: float, old: str, new: str, reason: str = "") -> bool:
        with self._state_lock:
            self._last_state[camera_id] = str(new)
        return self.submit(StateChangeRecord(camera_id, at, str(old), str(new), reason))

    def record_sample(self, sample: HealthSampleRecord) -> bool:
        return self.submit(sample)

    def record_alert(self, alert: AlertRecord) -> bool:
        return self.submit(alert)

    def record_motion_event(self, camera_id: str, started_at: float, ended_at: float, peak_area: float = 0.0,
                            regions: tuple = (), labels: tuple[str, ...] = ()) -> bool:  # fmt: skip
        return self.submit(MotionEventRecord(camera_id, started_at, ended_at, peak_area, tuple(regions),
                                             tuple(labels)))  # fmt: skip

    def record_segment(self, camera_id: str, path: str, started_at: float, ended_at: float, size_bytes: int = 0,
                       has_motion: bool = False, locked: bool = False) -> bool:  # fmt: skip
        return self.submit(RecordingSegmentRecord(camera_id, str(path), started_at, ended_at, size_bytes,
                                                  has_motion, locked))  # fmt: skip

    def remove_segment(self, path: str) -> bool:
        return self.submit(SegmentRemovedRecord(str(path)))

    def lock_segment(self, path: str, locked: bool = True) -> bool:
        return self.submit(SegmentLockRecord(str(path), locked))

    # SegmentIndex protocol (app.recording.segments): the recorder can index into the store directly.
    def add_segment(self, segment) -> bool:
        return self.record_segment(segment.camera_id, segment.path, segment.start, segment.end, segment.size_bytes,
                            False, segment.locked)  # fmt: skip

    def add_motion_event(self, event) -> bool:
        return self.record_motion_event(event.camera_id, event.start, event.end, event.peak_score,
                                 tuple(tuple(b) for b in event.boxes), tuple(event.labels))  # fmt: skip

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything queued so far is committed (tests, shutdown, export). Not for the GUI.
        False if that did not happen within *timeout* (database not open yet, locked, ...) or history is off."""
        return self.writer.flush(timeout) if self.writer is not None else False

    def run_maintenance(self) -> threading.Event | None:
        """Ask the writer to roll up and apply retention right after the records queued so far are written.
        Returns an event set once it ran (None if history is off)."""
        return self.writer.request_maintenance() if self.writer is not None else None

    def status(self) -> WriterStatus:
        """Queue depth, counters, the outage figures and ``.message``: one sentence for the operator, e.g.
        "History not written for 2 min: 81 records held, 0 lost — the database is locked by another program
        (database is locked); retrying"; ``.notice`` is what the status bar shows. Never blocks."""
        if self.writer is None:
            return WriterStatus(0, 0, 0, 0, "", 0.0, state="stopped")
        return self.writer.status()

    # ------------------------------------------------------------------ reads (background)
    def query(self, fn: Callable[..., Any], *args: Any, callback: Callable[[Future], None] | None = None,
              **kwargs: Any) -> Future:  # fmt: skip
        """Run ``fn(connection, *args, **kwargs)`` on a reader thread; the Future holds its frozen result."""
        if self._reader is None or self.writer is None:
            raise db.StoreError("the history store is not started")
        if self.unavailable:
            raise db.StoreError(self.unavailable)

        def work():
            # On the reader thread: a query made while the database is still opening waits for it here.
            if not self.wait_ready(QUERY_READY_WAIT_S):
                raise db.StoreError(self.status().message)
            assert self.engine is not None
            with self.engine.connect() as conn:
                return fn(conn, *args, **kwargs)

        fut = self._reader.submit(work)
        self._queries.add(fut)
        fut.add_done_callback(self._queries.discard)
        if callback is not None:
            fut.add_done_callback(callback)
        return fut

    # ------------------------------------------------------------------ feeds
    def _on_state_changed(self, change) -> None:
        """Supervisor subscriber (pipeline thread): enqueue and return."""
        if change.variant != "tile":
            return
        self.record_state_change(change.camera_id, change.at or self._clock(), str(change.old), str(change.new),
                                 change.reason or "")  # fmt: skip

    def _sample_loop(self) -> None:
        interval = self.settings.sample_interval_s
        while not self._stop.wait(interval):
            try:
                self.sample_now()
            except Exception:
                log.exception("health sampling failed")

    def sample_now(self) -> int:
        """Enqueue one health sample per camera from the supervisor's snapshots. Returns the count."""
        if self._supervisor is None:
            return 0
        now = self._clock()
        n = 0
        for cid, snap in self._supervisor.snapshots().items():
            self.submit(HealthSampleRecord(cid, now, str(snap.state), snap.fps_received, snap.bitrate_bps,
                                           snap.latency_ms, tuple(snap.conditions)))  # fmt: skip
            n += 1
        return n


def self_test(db_file: Path) -> str:
    """``vigil --self-test`` hook: migrate a fresh SQLite file, write through the writer, read back."""
    from app.store import repository

    store = Store(db.sqlite_url(db_file), StoreSettings())
    store.start()
    try:
        if not store.wait_ready(30):
            raise RuntimeError(f"the database did not open: {store.status().message}")
        now = time.time()
        store.submit(CameraRecord("selftest", "Self-test", "", now))
        store.record_state_change("selftest", now, "IDLE", "LIVE", "self-test")
        if not store.flush(20):
            raise RuntimeError(f"the writer did not commit: {store.status().last_error or 'timeout'}")
        cams = store.query(repository.cameras).result(20)
        events = store.query(repository.state_events, ["selftest"], now - 1, now + 1).result(20)
    finally:
        store.stop()
    if [c.camera_id for c in cams] != ["selftest"] or [e.new_state for e in events] != ["LIVE"]:
        raise RuntimeError(f"read back {cams!r} / {events!r} instead of the rows written")
    return f"SQLite via SQLAlchemy, schema {db.head_revision()}: wrote and read back through the writer thread"

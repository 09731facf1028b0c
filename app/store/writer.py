"""The one writer thread: records from a bounded queue, written in batches, one transaction per batch.

Why one writer: SQLite allows one writer at a time, and batching turns thousands of rows per second into
a handful of transactions. Callers (pipeline threads, the GUI) only ``put_nowait`` a frozen record:
microseconds, never a lock on the database.

Failure policy (the wall must keep running and history must not be lost):
- *Operational* errors (database locked by another program, disk full, server gone): the batch is kept,
  one clear log line says what is wrong and that rows are held, and the same batch is retried with
  backoff (1 s .. 30 s). New records keep queueing meanwhile; only when the bounded queue is full are new
  records dropped (counted in ``dropped_total``, logged once a minute), never the ones already queued.
- *Data* errors (a row the database refuses, e.g. a duplicate key): the batch is retried row by row and
  the bad rows are skipped with a log line (``rejected_total``), so one bad record cannot block the queue.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, insert, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.secrets import scrub
from app.store import models as m
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

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 1.0
BACKOFF_CAP_S = 30.0


@dataclass(eq=False)
class _Barrier:
    done: threading.Event


def _first_line(e: BaseException) -> str:
    text = scrub(str(getattr(e, "orig", None) or e)).strip()
    return text.splitlines()[0] if text else type(e).__name__


def is_transient(e: BaseException) -> bool:
    """The database (not the row) failed: locked, full, unreachable. Retry the same rows later."""
    if isinstance(e, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(e, DBAPIError) and bool(e.connection_invalidated)


def describe_db_error(e: BaseException) -> str:
    """An operational database error in words an operator can act on."""
    text = _first_line(e)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return f"the database is locked by another program ({text})"
    if "full" in low or "no space" in low or "quota" in low:
        return f"the disk holding the database is full ({text})"
    if "readonly" in low or "read-only" in low or "permission" in low:
        return f"the database cannot be written (read-only or no permission: {text})"
    if "connect" in low or "closed" in low or "terminat" in low:
        return f"the database server is unreachable ({text})"
    return text


class StoreWriter:
    def __init__(
        self,
        engine: Engine,
        queue_max: int = 200_000,
        batch_max: int = 2000,
        maintenance: Callable[[Connection, float], None] | None = None,
        maintenance_interval_s: float = 60.0,
        name: str = "store:writer",
    ) -> None:
        self._engine = engine
        self._q: queue.Queue = queue.Queue(maxsize=queue_max)
        self._batch_max = batch_max
        self._maintenance = maintenance
        self._maintenance_interval = maintenance_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._drain_deadline = 0.0
        self.written_total = 0
        self.dropped_total = 0
        self.rejected_total = 0
        self.failed_attempts = 0
        self.last_error = ""
        self.last_error_at = 0.0
        self._last_drop_log = 0.0
        self._pending_count = 0
        self._last_exc: BaseException | None = None

    # ------------------------------------------------------------------ caller side (any thread)
    def submit(self, record: object) -> bool:
        """Queue *record*; never blocks. False (and counted) if the queue is full."""
        try:
            self._q.put_nowait(record)
            return True
        except queue.Full:
            self.dropped_total += 1  # racy += is fine for a diagnostic counter
            now = time.monotonic()
            if now - self._last_drop_log > 60:
                self._last_drop_log = now
                log.error("store queue is full (%d records waiting): dropping new history records (%d so far)",
                          self._q.qsize(), self.dropped_total)  # fmt: skip
            return False

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything queued before this call is committed. Not for the GUI thread."""
        done = threading.Event()
        try:
            self._q.put(_Barrier(done), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def status(self) -> WriterStatus:
        return WriterStatus(self._q.qsize() + self._pending_count, self.written_total, self.dropped_total,
                            self.failed_attempts, self.last_error, self.last_error_at, self.rejected_total)  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def stop(self, drain_timeout_s: float = 15.0) -> bool:
        """Write what is queued (retrying for up to *drain_timeout_s*), then end. True if nothing was lost."""
        self._drain_deadline = time.monotonic() + drain_timeout_s
        self._stop.set()
        self._thread.join(drain_timeout_s + 10)
        left = self._q.qsize() + self._pending_count
        if left:
            log.error("store stopped with %d history records not written: %s", left, self.last_error or "timeout")
        return left == 0 and not self._thread.is_alive()

    # ------------------------------------------------------------------ writer thread
    def _next_batch(self) -> list:
        try:
            first = self._q.get(timeout=0.25)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self._batch_max:
            try:
                batch.append(self._q.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        pending: list = []
        backoff = BACKOFF_INITIAL_S
        next_maintenance = time.monotonic() + min(5.0, self._maintenance_interval)
        while True:
            if not pending:
                if self._stop.is_set() and self._q.empty():
                    break
                if self._maintenance and time.monotonic() >= next_maintenance and not self._stop.is_set():
                    next_maintenance = time.monotonic() + self._maintenance_interval
                    self._run_maintenance()
                pending = self._next_batch()
                self._pending_count = len(pending)
                if not pending:
                    continue
            records = [r for r in pending if not isinstance(r, _Barrier)]
            held: list = []
            try:
                if records:
                    self._write_batch(records)
                    self.written_total += len(records)
            except Exception as e:
                if is_transient(e):
                    held = records
                else:  # data/statement errors: isolate the bad rows, keep going
                    log.warning("store batch refused (%s): retrying row by row", _first_line(e))
                    held = self._write_one_by_one(records)
                if held:
                    self._on_failure(e if is_transient(e) else self._last_exc, len(held), backoff)
                    pending = held + [r for r in pending if isinstance(r, _Barrier)]
                    self._pending_count = len(held)
                    if self._stop.is_set() and time.monotonic() > self._drain_deadline:
                        break
                    if self._stop.is_set():
                        time.sleep(min(backoff, 1.0))
                    else:
                        self._stop.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_CAP_S)
                    continue
            if self.last_error and records:
                log.warning("store recovered: %d held records written", len(records))
                self.last_error = ""
            backoff = BACKOFF_INITIAL_S
            for r in pending:
                if isinstance(r, _Barrier):
                    r.done.set()
            pending = []
            self._pending_count = 0

    def _on_failure(self, e: BaseException, n: int, backoff: float) -> None:
        self.failed_attempts += 1
        msg = describe_db_error(e)
        if msg != self.last_error:
            log.error("cannot write history: %s; %d records are held and will be written when it works again "
                      "(retrying every %.0f-%.0f s)", msg, n + self._q.qsize(), backoff, BACKOFF_CAP_S)  # fmt: skip
        self.last_error = msg
        self.last_error_at = time.time()

    def _write_one_by_one(self, records: list) -> list:
        """Write rows singly, skipping the ones the database refuses. Returns the rows still to write if the
        database itself failed (transient error) part-way."""
        for i, r in enumerate(records):
            try:
                self._write_batch([r])
                self.written_total += 1
            except Exception as e:
                if is_transient(e):
                    self._last_exc = e
                    return records[i:]
                self.rejected_total += 1
                log.error("history record refused by the database and skipped: %r (%s)", r, _first_line(e))
        return []

    def _run_maintenance(self) -> None:
        assert self._maintenance is not None
        try:
            with self._engine.begin() as conn:
                self._maintenance(conn, time.time())
        except Exception as e:
            log.warning("history roll-up/retention skipped this time: %s", describe_db_error(e))

    def _write_batch(self, records: list) -> None:
        by_type: dict[type, list] = {}
        for r in records:
            by_type.setdefault(type(r), []).append(r)
        with self._engine.begin() as conn:
            for typ, handler in _HANDLERS:
                rows = by_type.pop(typ, None)
                if rows:
                    handler(conn, rows)
        for typ, rows in by_type.items():  # unknown record types: a programming error, say so once per batch
            self.rejected_total += len(rows)
            self.written_total -= len(rows)  # the caller counts the whole batch as written
            log.error("store.submit got %d records of unknown type %s: skipped", len(rows), typ.__name__)


# ---------------------------------------------------------------------- handlers (one transaction each batch)


def _write_cameras(conn: Connection, rows: list[CameraRecord]) -> None:
    latest = {r.camera_id: r for r in rows}
    t = m.Camera.__table__
    for r in latest.values():
        res = conn.execute(update(t).where(t.c.id == r.camera_id)
                           .values(name=r.name, group_name=r.group, last_seen=r.seen_at))  # fmt: skip
        if res.rowcount == 0:
            conn.execute(insert(t).values(id=r.camera_id, name=r.name, group_name=r.group,
                                          first_seen=r.seen_at, last_seen=r.seen_at))  # fmt: skip


def _write_states(conn: Connection, rows: list[StateChangeRecord]) -> None:
    conn.execute(insert(m.StateEvent.__table__), [
        {"camera_id": r.camera_id, "at": r.at, "old_state": r.old_state, "new_state": r.new_state,
         "reason": r.reason[:2000]} for r in rows])  # fmt: skip


def _write_samples(conn: Connection, rows: list[HealthSampleRecord]) -> None:
    conn.execute(insert(m.HealthSample.__table__), [
        {"camera_id": r.camera_id, "at": r.at, "state": r.state, "fps": float(r.fps),
         "bitrate_bps": float(r.bitrate_bps), "latency_ms": float(r.latency_ms),
         "conditions": ",".join(r.conditions)[:255]} for r in rows])  # fmt: skip


def alert_values(r: AlertRecord) -> dict:
    return {"alertname": r.alertname, "camera_id": r.camera_id, "severity": r.severity, "status": r.status,
            "summary": r.summary, "started_at": r.started_at, "updated_at": r.updated_at,
            "acknowledged_at": r.acknowledged_at, "acknowledged_by": r.acknowledged_by, "ack_note": r.ack_note,
            "resolved_at": r.resolved_at, "resolved_by": r.resolved_by, "resolve_note": r.resolve_note,
            "labels": dict(r.labels)}  # fmt: skip


def _write_alerts(conn: Connection, rows: list[AlertRecord]) -> None:
    latest = {r.id: r for r in rows}  # full-state records: the last one wins
    t = m.Alert.__table__
    for r in latest.values():
        vals = alert_values(r)
        if conn.execute(update(t).where(t.c.id == r.id).values(**vals)).rowcount == 0:
            conn.execute(insert(t).values(id=r.id, **vals))


def _write_motion(conn: Connection, rows: list[MotionEventRecord]) -> None:
    conn.execute(insert(m.MotionEventRow.__table__), [
        {"camera_id": r.camera_id, "started_at": r.started_at, "ended_at": r.ended_at,
         "peak_area": float(r.peak_area), "regions": [list(x) if isinstance(x, tuple) else x for x in r.regions],
         "labels": list(r.labels)} for r in rows])  # fmt: skip


def _write_segments(conn: Connection, rows: list[RecordingSegmentRecord]) -> None:
    t = m.RecordingSegmentRow.__table__
    for r in {r.path: r for r in rows}.values():
        vals = {"camera_id": r.camera_id, "started_at": r.started_at, "ended_at": r.ended_at,
                "duration_s": r.duration_s, "size_bytes": int(r.size_bytes), "has_motion": bool(r.has_motion),
                "locked": bool(r.locked)}  # fmt: skip
        if conn.execute(update(t).where(t.c.path == r.path).values(**vals)).rowcount == 0:
            conn.execute(insert(t).values(path=r.path, **vals))


def _remove_segments(conn: Connection, rows: list[SegmentRemovedRecord]) -> None:
    t = m.RecordingSegmentRow.__table__
    conn.execute(delete(t).where(t.c.path.in_([r.path for r in rows])))


def _lock_segments(conn: Connection, rows: list[SegmentLockRecord]) -> None:
    t = m.RecordingSegmentRow.__table__
    for r in rows:
        conn.execute(update(t).where(t.c.path == r.path).values(locked=r.locked))


# Order inside one transaction: cameras first (readers join on them), removals after inserts.
_HANDLERS: tuple[tuple[type, Callable], ...] = (
    (CameraRecord, _write_cameras),
    (StateChangeRecord, _write_states),
    (HealthSampleRecord, _write_samples),
    (AlertRecord, _write_alerts),
    (MotionEventRecord, _write_motion),
    (RecordingSegmentRecord, _write_segments),
    (SegmentLockRecord, _lock_segments),
    (SegmentRemovedRecord, _remove_segments),
)

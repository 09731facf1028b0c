"""The one writer thread: opens the database, then writes records from a bounded queue in batches.

Why one writer: SQLite allows one writer at a time, and batching turns thousands of rows per second into
a handful of transactions. Callers (pipeline threads, the GUI) only ``put_nowait`` a frozen record:
microseconds, never a lock on the database.

Start-up: ``start()`` returns at once. Opening the database and migrating it (``open_db``) happen on this
thread, so the GUI never waits for a slow disk, a locked file or a PostgreSQL server. Records queue
meanwhile and are written once it is open. A database that cannot be opened is retried with backoff
(1 s .. 30 s) and the reason is in ``status()``; only a configuration that can never work (a URL that is
not a SQLAlchemy URL, a missing driver, missing migration scripts: ``StoreError``) turns history off.

Failure policy while running (the wall must keep running and history must not be lost):
- *Operational* errors (database locked by another program, disk full, server gone): the batch is kept,
  one clear log line says what is wrong and that rows are held, and the same batch is retried with
  backoff (1 s .. 30 s). New records keep queueing meanwhile; only when the bounded queue is full are new
  records dropped (counted in ``dropped_total``, logged once a minute), never the ones already queued.
- *Data* errors (a row the database refuses, e.g. a duplicate key): the batch is retried row by row and
  the bad rows are skipped with a log line (``rejected_total``), so one bad record cannot block the queue.

Maintenance (roll-ups, retention) runs on this thread between batches, about every
``maintenance_interval_s``; while a backlog of more than one batch is queued it waits (up to four more
intervals) so held rows are written first. Samples that still arrive late for a rolled-up minute are
re-rolled by the job (see ``rollup.RollupJob``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, insert, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from app.secrets import scrub
from app.store import models as m
from app.store.db import StoreError
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
MAINTENANCE_MAX_DEFER = 4  # intervals maintenance may wait for a backlog to drain


class Maintenance(Protocol):
    """What the writer runs between batches (``rollup.RollupJob``)."""

    def prime(self, engine: Engine) -> None: ...

    def note_committed(self, records: list) -> None: ...

    def run(self, engine: Engine) -> dict[str, int]: ...


@dataclass(eq=False)
class _Barrier:
    done: threading.Event
    ok: bool = True  # False: the writer ended before the rows in front of it were written


@dataclass(eq=False)
class _RunMaintenance:
    """Run maintenance right after the records queued in front of this (tests, ``Store.run_maintenance``)."""

    done: threading.Event = field(default_factory=threading.Event)


_CONTROL = (_Barrier, _RunMaintenance)


def _release(items: list) -> int:
    """The writer ends without writing *items*: wake the ``flush()`` callers among them (``ok=False``) and
    the ``request_maintenance()`` waiters. Returns how many records (not markers) are thereby lost."""
    lost = 0
    for r in items:
        if isinstance(r, _Barrier):
            r.ok = False
            r.done.set()
        elif isinstance(r, _RunMaintenance):
            r.done.set()
        else:
            lost += 1
    return lost


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
        engine: Engine | None = None,
        queue_max: int = 200_000,
        batch_max: int = 2000,
        maintenance: Maintenance | None = None,
        maintenance_interval_s: float | None = 60.0,
        name: str = "store:writer",
        *,
        open_db: Callable[[], Engine] | None = None,
        on_ready: Callable[[Engine], None] | None = None,
    ) -> None:
        """Give either an open *engine* or *open_db* (called on the writer thread, retried until it works).

        *maintenance_interval_s* None: maintenance runs only when asked (``request_maintenance``)."""
        if (engine is None) == (open_db is None):
            raise ValueError("StoreWriter needs exactly one of engine= or open_db=")
        self._engine = engine
        self._open_db = open_db
        self._on_ready = on_ready
        self._q: queue.Queue = queue.Queue(maxsize=queue_max)
        self._batch_max = batch_max
        self._maintenance = maintenance
        self._maintenance_interval = maintenance_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._drain_deadline = 0.0
        self.state = "starting"  # starting -> ready -> stopped; or "off" (can never work)
        self.off_reason = ""
        self.written_total = 0
        self.dropped_total = 0
        self.rejected_total = 0
        self.failed_attempts = 0
        self.last_error = ""
        self.last_error_at = 0.0
        self._last_drop_log = 0.0
        self.refused_after_stop = 0
        self._refused_logged = False
        self._pending_count = 0
        self._last_exc: BaseException | None = None

    # ------------------------------------------------------------------ caller side (any thread)
    def submit(self, record: object) -> bool:
        """Queue *record*; never blocks. False (and counted) if the queue is full, history is off, or the
        writer is stopping/stopped (``stop()`` was called: nothing queued from then on would be written)."""
        if self.state == "off":
            self.dropped_total += 1
            return False
        if self._stop.is_set():
            self.refused_after_stop += 1  # not dropped_total: status() reports that as "queue full"
            if not self._refused_logged:  # once: a late producer may submit many
                self._refused_logged = True
                log.warning("history store is stopped: a %s was not written (records refused later are "
                            "counted in refused_after_stop, not logged)", type(record).__name__)  # fmt: skip
            return False
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
        if self.state == "off" or self._stop.is_set():
            return False
        barrier = _Barrier(threading.Event())
        try:
            self._q.put(barrier, timeout=timeout)
        except queue.Full:
            return False
        return barrier.done.wait(timeout) and barrier.ok

    def request_maintenance(self) -> threading.Event | None:
        """Run maintenance after everything queued so far is written; the event is set once it ran."""
        if self.state == "off" or self._stop.is_set() or self._maintenance is None:
            return None
        marker = _RunMaintenance()
        try:
            self._q.put_nowait(marker)
        except queue.Full:
            return None
        return marker.done

    def status(self) -> WriterStatus:
        state = self.state
        error = self.off_reason if state == "off" else self.last_error
        return WriterStatus(self._q.qsize() + self._pending_count, self.written_total, self.dropped_total,
                            self.failed_attempts, error, self.last_error_at, self.rejected_total, state)  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def stop(self, drain_timeout_s: float = 15.0) -> bool:
        """Write what is queued (retrying for up to *drain_timeout_s*), then end. True if nothing was lost."""
        self._drain_deadline = time.monotonic() + drain_timeout_s
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(drain_timeout_s + 10)
        left = self._q.qsize() + self._pending_count
        if left and self.state != "off":
            log.error("store stopped with %d history records not written: %s", left, self.last_error or "timeout")
        if self.state != "off":
            self.state = "stopped"
        return left == 0 and not self._thread.is_alive() and self.state != "off"

    # ------------------------------------------------------------------ writer thread
    def _wait(self, backoff: float) -> None:
        if self._stop.is_set():
            time.sleep(min(backoff, 1.0))  # draining: keep trying until the deadline
        else:
            self._stop.wait(backoff)

    def _giving_up(self) -> bool:
        return self._stop.is_set() and time.monotonic() > self._drain_deadline

    def _open(self) -> bool:
        """Open (and migrate) the database, retrying with backoff. False if stopped first or history is off."""
        assert self._open_db is not None
        backoff = BACKOFF_INITIAL_S
        while not self._giving_up():
            try:
                engine = self._open_db()
            except StoreError as e:  # a configuration that can never work: say so once, stop trying
                self._go_off(str(e))
                return False
            except Exception as e:
                self.failed_attempts += 1
                msg = f"cannot open the database: {describe_db_error(e)}"
                if msg != self.last_error:
                    log.error("%s; %d history records are held and will be written once it opens "
                              "(retrying every %.0f-%.0f s)", msg, self._q.qsize(), backoff, BACKOFF_CAP_S)  # fmt: skip
                self.last_error, self.last_error_at = msg, time.time()
                self._wait(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP_S)
                continue
            self._engine = engine
            if self._maintenance is not None:
                try:
                    self._maintenance.prime(engine)
                except Exception as e:  # late-sample tracking starts at the first roll-up instead
                    log.warning("could not read the roll-up watermark: %s", describe_db_error(e))
            if self.last_error:
                log.warning("history database opened after %d failed attempts; writing %d held records",
                            self.failed_attempts, self._q.qsize())  # fmt: skip
                self.last_error = ""
            self.state = "ready"
            if self._on_ready is not None:
                try:
                    self._on_ready(engine)
                except Exception:
                    log.exception("store on_ready callback failed")
            return True
        return False

    def _go_off(self, reason: str) -> None:
        """History can never be written with this configuration: drop (and count) what is queued."""
        self.off_reason = reason
        self.state = "off"
        log.error("%s; Vigil runs WITHOUT history until the configuration is fixed and Vigil restarted", reason)
        self.dropped_total += _release(self._drain_queue())

    def _drain_queue(self) -> list:
        """Take everything queued (``get_nowait``: under the queue's own lock, never a peek at ``_q.queue``)."""
        out = []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    def _next_batch(self) -> list:
        try:
            first = self._q.get(timeout=0.25)
        except queue.Empty:
            return []
        batch = [first]
        while len(batch) < self._batch_max and not isinstance(batch[-1], _RunMaintenance):
            try:
                batch.append(self._q.get_nowait())
            except queue.Empty:
                break
        return batch

    def _maintenance_due(self, now: float, next_at: float) -> bool:
        if self._maintenance is None or self._maintenance_interval is None or self._stop.is_set():
            return False
        if now < next_at:
            return False
        if self._q.qsize() < self._batch_max:
            return True
        # a backlog is queued: write it first (its samples belong in the buckets about to be rolled up)
        return now >= next_at + MAINTENANCE_MAX_DEFER * self._maintenance_interval

    def _run(self) -> None:
        if self._engine is None and not self._open():
            if self.state != "off":  # stopped before the database opened: the rows are lost (stop() says so)
                self._pending_count = _release(self._drain_queue())
            return
        self.state = "ready"
        pending: list = []
        backoff = BACKOFF_INITIAL_S
        interval = self._maintenance_interval or 0.0
        next_maintenance = time.monotonic() + min(5.0, interval)
        while True:
            if not pending:
                if self._stop.is_set() and self._q.empty():
                    break
                if self._maintenance_due(time.monotonic(), next_maintenance):
                    next_maintenance = time.monotonic() + interval
                    self._run_maintenance()
                pending = self._next_batch()
                self._pending_count = sum(1 for r in pending if not isinstance(r, _CONTROL))
                if not pending:
                    continue
            records = [r for r in pending if not isinstance(r, _CONTROL)]
            controls = [r for r in pending if isinstance(r, _CONTROL)]
            held: list = []
            try:
                if records:
                    self._write_batch(records)
                    self.written_total += len(records)
                    if self._maintenance is not None:
                        self._maintenance.note_committed(records)
            except Exception as e:
                if is_transient(e):
                    held = records
                else:  # data/statement errors: isolate the bad rows, keep going
                    log.warning("store batch refused (%s): retrying row by row", _first_line(e))
                    held = self._write_one_by_one(records)
                if held:
                    self._on_failure(e if is_transient(e) else self._last_exc, len(held), backoff)
                    pending = held + controls
                    self._pending_count = len(held)
                    if self._giving_up():
                        break
                    self._wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_CAP_S)
                    continue
            if self.last_error and records:
                log.warning("store recovered: %d held records written", len(records))
                self.last_error = ""
            backoff = BACKOFF_INITIAL_S
            for r in controls:
                if isinstance(r, _RunMaintenance):
                    self._run_maintenance()
                r.done.set()
            pending = []
            self._pending_count = 0
        if pending:  # gave up while draining: what is held and still queued is lost (stop() says so)
            self._pending_count = _release(pending + self._drain_queue())

    def _on_failure(self, e: BaseException | None, n: int, backoff: float) -> None:
        self.failed_attempts += 1
        msg = describe_db_error(e) if e is not None else "unknown database error"
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
                if self._maintenance is not None:
                    self._maintenance.note_committed([r])
            except Exception as e:
                if is_transient(e):
                    self._last_exc = e
                    return records[i:]
                self.rejected_total += 1
                log.error("history record refused by the database and skipped: %r (%s)", r, _first_line(e))
        return []

    def _run_maintenance(self) -> None:
        assert self._maintenance is not None and self._engine is not None
        try:
            counts = self._maintenance.run(self._engine)
            log.debug("store maintenance: %s", counts)
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
            "labels": dict(r.labels), "cleared_at": r.cleared_at, "shelved_until": r.shelved_until,
            "shelved_by": r.shelved_by, "shelve_note": r.shelve_note}  # fmt: skip


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

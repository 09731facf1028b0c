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
  After a failed attempt the engine's connections are closed, so the next attempt opens the database
  afresh (a SQLite connection opened while the file was read-only stays read-only for good; closed files
  also let the operator remount or replace the disk).
- *Data* errors (a row the database refuses, e.g. a duplicate key): the batch is retried row by row and
  the bad rows are skipped with a log line (``rejected_total``), so one bad record cannot block the queue.

Outage accounting (what the status bar, the ``HistoryNotWritten`` alert and ``/metrics`` report): an
outage starts with the first failed attempt (``outage_since``) and ends with the first commit after it.
Every record that was held at that moment (the failed batch plus everything queued behind it) is counted
as written only once the writer has worked through that backlog in FIFO order, so "N held records
written" is the real N (it used to be the size of the one batch that failed first). Records dropped
because the queue was full during the outage are its "lost".

A lock is not an outage at first: with SQLite's rollback journal a commit must wait for every reader to
finish (and another program may hold the file a moment), and one attempt gives up after ``busy_timeout``
(5 s). A "database is locked" episode (SQLITE_BUSY) shorter than ``busy_grace_s`` (``BUSY_GRACE_S``, 15 s)
is retried quietly and only counted (``busy_retries``): no status sentence, no alert, no failure in
``/metrics``, the connections stay open. A lock that lasts longer is an outage that began at its first
failed attempt. The store's own long reads are cut into short statements (``repository``) so they never
hold the lock for long.

Stop: the queue is drained for up to ``drain_timeout_s`` while it makes progress (a healthy drain
commits a batch well within a second): the drain ends after ``STOP_RETRY_WHEN_FAILING_S`` (2 s) when the
database is already failing or locked, and after ``STOP_STALL_S`` (2 s) without a commit, however long
*drain_timeout_s* is; a writer stuck inside one database call (``busy_timeout``, a server that does not
answer) is not waited for more than ``STOP_JOIN_GRACE_S`` after that: ``stop()`` then spills for it.
So a stop with a failing or hung database returns within about 2.5 s. What is still not written is
spilled to the journal file (:mod:`app.store.journal`) and written at the next start, first thing after
the database opens, then the journal is removed.

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
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, insert, update
from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, OperationalError

from app.secrets import scrub
from app.store import journal
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
    duration_words,
)

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 1.0
BACKOFF_CAP_S = 30.0
MAINTENANCE_MAX_DEFER = 4  # intervals maintenance may wait for a backlog to drain
STOP_RETRY_WHEN_FAILING_S = 2.0  # at stop, a database that is already failing gets this long, then the journal
STOP_STALL_S = 2.0  # at stop, a drain that commits nothing for this long is given up (the rest: the journal)
STOP_JOIN_GRACE_S = 0.5  # then stop() waits this much longer for the writer to spill, and spills for it
BUSY_GRACE_S = 15.0  # a "database is locked" episode shorter than this is retried quietly, not an outage
BUSY_RETRY_S = 0.2  # pause between quiet retries (each attempt already waited busy_timeout)


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


class _Abandoned(Exception):
    """``stop()`` gave up on the writer and spilled its batch to the journal: do not commit it as well."""


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
    """The database (not the row) failed: locked, full, unreachable, damaged. Retry the same rows later."""
    if isinstance(e, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    if type(e) is DatabaseError:
        # the driver's generic error, not an integrity/data/programming one: SQLite says "database disk
        # image is malformed" / "file is not a database" when the file was truncated or overwritten under
        # it. Skipping rows as "refused" would lose every one of them.
        return True
    return isinstance(e, DBAPIError) and bool(e.connection_invalidated)


def is_busy(e: BaseException) -> bool:
    """SQLite's "database is locked" (SQLITE_BUSY / SQLITE_LOCKED): a reader or another program holds the
    file; it goes away by itself."""
    orig = getattr(e, "orig", None) or e
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes)
    return isinstance(e, OperationalError) and "database is locked" in str(orig).lower()


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
    if "malformed" in low or "not a database" in low:
        return f"the database file is damaged or was replaced ({text})"
    if "no such table" in low:
        return f"the database file lost its tables: emptied or replaced by another program? ({text})"
    if "disk i/o" in low or "input/output" in low:
        return f"the disk holding the database fails to read or write ({text})"
    if "connect" in low or "closed" in low or "terminat" in low:
        return f"the database server is unreachable ({text})"
    return text


@dataclass
class _Outage:
    """The current (or last) time the writer could not write. Times are UNIX seconds."""

    since: float
    lost0: int  # dropped_total when it began: drops since then are this outage's "lost"
    held: int = 0  # records held when writes worked again (the backlog to work through)
    done: int = 0  # of those, how many are written (or refused as bad rows) since
    ended_at: float | None = None  # first commit after the outage
    complete_at: float | None = None  # the whole backlog written
    lost: int = 0


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
        journal_path: Path | None = None,
        clock: Callable[[], float] = time.time,
        busy_grace_s: float = BUSY_GRACE_S,
    ) -> None:
        """Give either an open *engine* or *open_db* (called on the writer thread, retried until it works).

        *maintenance_interval_s* None: maintenance runs only when asked (``request_maintenance``).
        *journal_path*: where records not written at stop are kept for the next start (None: nowhere, they
        are lost and the log says how many). *clock*: wall time for the outage figures (tests).
        *busy_grace_s*: how long a locked database is retried quietly before it is an outage (0: at once)."""
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
        self._clock = clock
        self.journal_path = Path(journal_path) if journal_path is not None else None
        self._journal_loaded = False  # this run read the journal (its records are in memory, not just on disk)
        self._replay: list = []  # records from the journal, written before anything queued
        self._replay_count = 0
        self._replaying = False  # the batch in flight holds journal records
        self.replayed_total = 0
        self.journal_skipped = 0  # damaged journal lines skipped at start
        self.journaled = 0  # records spilled to the journal at stop
        self.lost_at_stop = 0  # records neither written nor spilled at stop
        self._inflight: list = []  # the records of the batch being written (stop() spills them if stuck)
        self._spill_lock = threading.Lock()
        self._spilled = False
        self._outage: _Outage | None = None
        self._controls_lock = threading.Lock()
        self._ready_signalled = False
        self._controls_queued = 0  # flush/maintenance markers in the queue (not records)
        self._busy_grace_s = busy_grace_s
        self._busy_since: float | None = None  # monotonic time of the first quiet "locked" retry of this episode
        self._busy_since_wall = 0.0
        self.busy_retries = 0  # quiet retries of a locked database (shorter than busy_grace_s: no outage)
        self._progress_at = 0.0  # monotonic time of the last commit (the stop's stall check)

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
        self._count_control(+1)
        try:
            self._q.put(barrier, timeout=timeout)
        except queue.Full:
            self._count_control(-1)
            return False
        return barrier.done.wait(timeout) and barrier.ok

    def request_maintenance(self) -> threading.Event | None:
        """Run maintenance after everything queued so far is written; the event is set once it ran."""
        if self.state == "off" or self._stop.is_set() or self._maintenance is None:
            return None
        marker = _RunMaintenance()
        self._count_control(+1)
        try:
            self._q.put_nowait(marker)
        except queue.Full:
            self._count_control(-1)
            return None
        return marker.done

    def _count_control(self, n: int) -> None:
        with self._controls_lock:  # flush()/request_maintenance() are rare: a lock costs nothing here
            self._controls_queued += n

    def records_queued(self) -> int:
        """Records (not flush/maintenance markers) in the queue: the held counts must be exact."""
        return max(0, self._q.qsize() - self._controls_queued)

    def status(self) -> WriterStatus:
        state = self.state
        error = self.off_reason if state == "off" else self.last_error
        o = self._outage
        queued = self.records_queued() + self._pending_count + len(self._replay)
        if state == "stopped":
            queued = self.lost_at_stop
        extra: dict = {"at": self._clock(), "journaled": self.journaled, "replayed": self.replayed_total}
        if o is not None:
            if o.ended_at is None:
                extra.update(outage_since=o.since, lost_in_outage=max(0, self.dropped_total - o.lost0))
            else:
                extra.update(recovered_at=o.complete_at, recovered_held=o.held, recovered_lost=o.lost,
                             recovered_outage_s=o.ended_at - o.since,
                             recovery_left=0 if o.complete_at is not None else max(0, o.held - o.done))  # fmt: skip
        extra["busy_retries"] = self.busy_retries
        return WriterStatus(queued, self.written_total, self.dropped_total, self.failed_attempts, error,
                            self.last_error_at, self.rejected_total, state, **extra)  # fmt: skip

    def start(self) -> None:
        self._thread.start()

    def stop(self, drain_timeout_s: float = 15.0) -> bool:
        """Write what is queued (retrying for up to *drain_timeout_s* while commits go through;
        ``STOP_RETRY_WHEN_FAILING_S`` if the database is failing or locked already, ``STOP_STALL_S`` without
        a commit), spill what is left to the journal, then end. Returns within about 2.5 s when the database
        is failing or hung. True if nothing was lost (records kept in the journal are not lost: they are
        written at the next start)."""
        if self.last_error or self._busy_since is not None:
            drain_timeout_s = min(drain_timeout_s, STOP_RETRY_WHEN_FAILING_S)
        start = time.monotonic()
        self._progress_at = start  # the stall is counted from the stop (an idle writer had nothing to commit)
        self._drain_deadline = start + drain_timeout_s
        self._stop.set()
        while self._thread.is_alive():
            now = time.monotonic()
            if (
                now > self._drain_deadline + STOP_JOIN_GRACE_S
                or now - self._progress_at > STOP_STALL_S + STOP_JOIN_GRACE_S
            ):
                break
            self._thread.join(0.05)
        if self._thread.is_alive():
            # stuck inside one database call (busy_timeout, a server that never answers): keep what it holds
            # ourselves. The writer checks before it commits and rolls back (_Abandoned); only a commit already
            # under way when we spill can still land, and then those rows are written twice at the next start
            # (samples) or upserted (the rest)
            log.error("the history writer did not finish within %.1f s of the stop (the database is locked or "
                      "does not answer); keeping its records in the journal", time.monotonic() - start)  # fmt: skip
            self._spill([*self._inflight, *self._replay, *self._drain_queue()])
        if self.state != "off":
            self.state = "stopped"
        return self.lost_at_stop == 0 and not self._thread.is_alive() and self.state != "off"

    def _spill(self, items: list) -> None:
        """At stop: put *items* (records not written; markers are released) into the journal, once."""
        with self._spill_lock:
            if self._spilled:
                return
            self._spilled = True
            self._pending_count = 0
            records = [r for r in items if not isinstance(r, _CONTROL)]
            _release([r for r in items if isinstance(r, _CONTROL)])
            self._replay = []
            reason = self.last_error or ("the database did not open before the stop" if self._engine is None
                                         else "the time to write the queue at stop ran out")  # fmt: skip
            if not records and not (self._journal_loaded and self.journal_path is not None
                                    and journal.files(self.journal_path)):  # fmt: skip
                return
            if self.journal_path is None:
                self.lost_at_stop = len(records)
                log.error("store stopped with %d history records not written: %s", len(records), reason)
                return
            try:
                # the journal's own records were read into memory this run: they are in *records* already
                held = journal.write(self.journal_path, records, keep_existing=not self._journal_loaded)
            except journal.JournalError as e:
                self.lost_at_stop = len(records)
                log.error("store stopped with %d history records not written: %s; and %s: they are lost",
                          len(records), reason, e)  # fmt: skip
                return
            self.journaled = len(records)
            if held == 0:
                self._remove_journal()
                return
            inside = f"{held} in it now" if held >= 0 else "next to an older journal that could not be read"
            log.warning("history not written at stop (%s): %d records saved to %s (%s); they are written to "
                        "the database at the next start", reason, len(records), self.journal_path, inside)  # fmt: skip

    # ------------------------------------------------------------------ writer thread
    def _wait(self, backoff: float) -> None:
        if self._stop.is_set():
            time.sleep(min(backoff, 1.0))  # draining: keep trying until the deadline
        else:
            self._stop.wait(backoff)

    def _giving_up(self) -> bool:
        if not self._stop.is_set():
            return False
        now = time.monotonic()
        return now > self._drain_deadline or now - self._progress_at > STOP_STALL_S

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
                # the outage and its words first, the count last: a reader that sees the count sees the words
                self._outage_begins()
                msg = f"cannot open the database: {describe_db_error(e)}"
                if msg != self.last_error:
                    log.error("%s; %d history records are held and will be written once it opens (retrying "
                              "every %.0f-%.0f s)", msg, self.records_queued(), backoff, BACKOFF_CAP_S)  # fmt: skip
                self.last_error, self.last_error_at = msg, time.time()
                self.failed_attempts += 1
                self._wait(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP_S)
                continue
            self._engine = engine
            if self._maintenance is not None:
                try:
                    self._maintenance.prime(engine)
                except Exception as e:  # late-sample tracking starts at the first roll-up instead
                    log.warning("could not read the roll-up watermark: %s", describe_db_error(e))
            self._load_journal()
            if self.last_error:
                log.warning("history database opened after %d failed attempts; writing %d held records",
                            self.failed_attempts, self.records_queued() + len(self._replay))  # fmt: skip
                self.last_error = ""
                self._on_written(0)  # the database works: the outage ends, its backlog is written next
            self.state = "ready"
            if not self._replay:
                self._signal_ready()
            # else: readers (the alert engine adopting last run's open alarms) wait for the journal's records
            return True
        return False

    def _signal_ready(self) -> None:
        """Once per run: the database is open (and the journal of the last stop written, or failing)."""
        if self._ready_signalled or self._on_ready is None or self._engine is None:
            return
        self._ready_signalled = True
        try:
            self._on_ready(self._engine)
        except Exception:
            log.exception("store on_ready callback failed")

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
                self._count_control(-sum(1 for r in out if isinstance(r, _CONTROL)))
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
        controls = sum(1 for r in batch if isinstance(r, _CONTROL))
        if controls:
            self._count_control(-controls)
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
        if self._engine is None:
            if not self._open():
                if self.state != "off":  # stopped before the database opened: keep the rows in the journal
                    self._spill(self._drain_queue())
                return
        else:
            self._load_journal()
        self.state = "ready"
        pending: list = []
        backoff = BACKOFF_INITIAL_S
        interval = self._maintenance_interval or 0.0
        next_maintenance = time.monotonic() + min(5.0, interval)
        while True:
            if not pending:
                if self._replay:  # the journal of the last stop: one transaction, before anything queued
                    pending, self._replay, self._replaying = self._replay, [], True
                    self._pending_count = len(pending)
                else:
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
            self._inflight = records
            held: list = []
            done_before = self.written_total + self.rejected_total
            try:
                if records:
                    self._write_batch(records)
                    self.written_total += len(records)
                    if self._maintenance is not None:
                        self._maintenance.note_committed(records)
            except _Abandoned:
                break  # stop() gave up on this call and spilled the batch: nothing more to do here
            except Exception as e:
                if is_transient(e):
                    held = records
                else:  # data/statement errors: isolate the bad rows, keep going
                    log.warning("store batch refused (%s): retrying row by row", _first_line(e))
                    try:
                        held = self._write_one_by_one(records)
                    except _Abandoned:
                        break  # stop() spilled these rows meanwhile
                if held:
                    err = e if is_transient(e) else self._last_exc
                    if err is not None and self._quiet_busy(err):
                        pending = held + controls
                        self._pending_count = len(held)
                        self._inflight = held
                        if self._giving_up():
                            break
                        self._wait(BUSY_RETRY_S)
                        continue
                    self._on_failure(err, len(held), backoff)
                    self._signal_ready()  # the journal could not be written yet: do not keep readers waiting
                    pending = held + controls
                    self._pending_count = len(held)
                    self._inflight = held
                    if self._giving_up():
                        break
                    self._wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_CAP_S)
                    continue
            self._inflight = []
            self._busy_since = None
            if records:
                self._progress_at = time.monotonic()
                self._on_written(self.written_total + self.rejected_total - done_before)
            if self._replaying:
                self._replaying = False
                self._journal_replayed()
                self._signal_ready()
            backoff = BACKOFF_INITIAL_S
            for r in controls:
                if isinstance(r, _RunMaintenance):
                    self._run_maintenance()
                r.done.set()
            pending = []
            self._pending_count = 0
        # gave up while draining (or a record slipped in after the last check): keep it for the next start
        self._spill([*pending, *self._replay, *self._drain_queue()])

    def _quiet_busy(self, e: BaseException) -> bool:
        """True: *e* is a lock of less than ``busy_grace_s`` so far (a long read, another program's short
        transaction): retry without an outage, counted in ``busy_retries``."""
        if self._busy_grace_s <= 0 or not is_busy(e):
            return False
        o = self._outage
        if o is not None and o.ended_at is None:
            return False  # already not writing: this lock is part of that outage
        now = time.monotonic()
        if self._busy_since is None:
            self._busy_since, self._busy_since_wall = now, self._clock()
        if now - self._busy_since >= self._busy_grace_s:
            return False
        self.busy_retries += 1
        log.debug("history write waits for a lock (%s); retrying", _first_line(e))
        return True

    def _on_failure(self, e: BaseException | None, n: int, backoff: float) -> None:
        # the outage and its words first, the count last: a reader that sees the count sees the words
        self._outage_begins(self._busy_since_wall if self._busy_since is not None else None)
        msg = describe_db_error(e) if e is not None else "unknown database error"
        if msg != self.last_error:
            log.error("cannot write history: %s; %d records are held and will be written when it works "
                      "again (retrying every %.0f-%.0f s)", msg, n + self.records_queued(), backoff,
                      BACKOFF_CAP_S)  # fmt: skip
        self.last_error = msg
        self.last_error_at = time.time()
        self.failed_attempts += 1
        if self._engine is not None:
            # the next attempt opens fresh connections: a SQLite connection opened while the file was
            # read-only stays read-only, and open files keep a disk busy that the operator wants to remount
            try:
                self._engine.dispose()
            except Exception:
                log.debug("closing the database connections after a failure failed", exc_info=True)

    # ------------------------------------------------------------------ outage accounting (writer thread)
    def _outage_begins(self, since: float | None = None) -> None:
        """*since*: when it began, if earlier than now (a lock that outlasted ``busy_grace_s``)."""
        o = self._outage
        if o is None or o.complete_at is not None:
            self._outage = _Outage(since=self._clock() if since is None else since, lost0=self.dropped_total)
        elif o.ended_at is not None:  # failing again before the backlog was written: the same outage goes on
            o.ended_at, o.held, o.done = None, 0, 0

    def _on_written(self, n: int) -> None:
        """*n* records were committed (or refused as bad rows) just now."""
        o = self._outage
        if o is None or o.complete_at is not None:
            return
        now = self._clock()
        if o.ended_at is None:  # the first commit after the outage: everything held until now is the backlog
            o.ended_at = now
            o.held = n + self.records_queued() + len(self._replay)
            o.lost = max(0, self.dropped_total - o.lost0)
            self.last_error = ""
        o.done += n
        if o.done >= o.held:
            o.done, o.complete_at = o.held, now
            log.warning("store recovered after %s without writes: %d held records written, %d lost",
                        duration_words(o.ended_at - o.since), o.held, o.lost)  # fmt: skip

    # ------------------------------------------------------------------ journal (writer thread)
    def _load_journal(self) -> None:
        """Read the journal of the last stop (if any) into memory: written first, then the file goes. Keep
        the journal's reserve on its disk (freed for it at stop if that disk is full by then)."""
        if self.journal_path is None or self._journal_loaded:
            return
        if not journal.ensure_reserve(self.journal_path):
            log.warning("cannot keep %d MiB free for the history journal next to %s (disk full or read-only?)",
                        journal.RESERVE_BYTES // 2**20, self.journal_path)  # fmt: skip
        try:
            records, skipped = journal.read_all(self.journal_path)  # the journal and its extra files, in order
        except journal.JournalError as e:
            log.error("%s; its records stay there until it can be read", e)
            return
        self._journal_loaded = True
        self.journal_skipped = skipped
        if skipped:
            log.warning("history journal %s: %d damaged lines skipped (cut short or not Vigil's); %d records "
                        "to write", self.journal_path, skipped, len(records))  # fmt: skip
        if not records:
            if skipped or journal.files(self.journal_path):
                self._remove_journal()
            return
        log.info("history journal %s: writing %d records not written at the last stop", self.journal_path,
                 len(records))  # fmt: skip
        self._replay, self._replay_count = records, len(records)

    def _journal_replayed(self) -> None:
        self._remove_journal()
        self.replayed_total = self._replay_count
        log.info("history journal replayed: %d records written to the database, %d damaged lines skipped; "
                 "%s removed", self._replay_count, self.journal_skipped, self.journal_path)  # fmt: skip

    def _remove_journal(self) -> None:
        assert self.journal_path is not None
        try:
            journal.remove(self.journal_path)
        except journal.JournalError as e:
            log.error("%s: its records may be written again at the next start", e)

    def _write_one_by_one(self, records: list) -> list:
        """Write rows singly, skipping the ones the database refuses. Returns the rows still to write if the
        database itself failed (transient error) part-way."""
        for i, r in enumerate(records):
            try:
                self._write_batch([r])
                self.written_total += 1
                if self._maintenance is not None:
                    self._maintenance.note_committed([r])
            except _Abandoned:
                raise
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
            if self._spilled:
                raise _Abandoned  # rolled back: stop() has these rows in the journal already
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

"""``MirroredIndex``: the recordings index that the recorders write to: the folder, mirrored into the store.
``IndexReconciler``: at start-up, brings the mirror (and the folder's own markers) back in line with the files.

The folder (file names, ``motion.jsonl``: what the player reads without a query) always gets the entry
first and is the truth; the history store's ``recording_segments`` and ``motion_events`` tables are a
mirror for queries. The store is asked for per call (``store()``, None while there is none), so an index
built before the store, or without one, still works. A store that refuses (stopped, queue full, not
started) or raises is logged once per kind of call and never stops recording or start-up recovery.

A refused mirror call is not retried: a run with a dead database leaves closed segments out of the
store. :class:`IndexReconciler` repairs that at the next start::

    RecorderService.start (start-up thread)       recording:reconcile (own thread)
      recover_parts (.part -> .mp4)
      IndexReconciler.start  ------------------->   survey_folder: files, lock markers, what is not ours
      (recorders start)                             wait for the store to open (never blocks start-up)
                                                    rows = every recording_segments row
                                                    plan: rows vs files (by file name)
                                                    add (probed) / update / remove, in chunks; one log line

Races with the recorders and retention, which run meanwhile, are closed by the order: the folder is
surveyed before the rows are read, and every candidate is checked on disk again right before it is
written, so a segment closed since the survey (already in the rows, or added by its recorder) is left
as it is, and one that retention deleted since is neither added nor re-added. A row is upserted by path,
so adding one twice is harmless.

A recordings disk that is not mounted (a NAS or USB disk late at boot) leaves an empty mountpoint where the
folder was: every row would read as vanished. Rows are therefore never removed when the survey looks like
that (:func:`missing_disk`): the folder holds none of the indexed segments, or more than half of them (over
20) are gone with their day folders. Those rows are kept, said in a warning, and reconciled at the next
start that finds the files; the rest (files to add, rows to correct) is done as usual.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.recording import fmp4
from app.recording.segments import DirectoryIndex, FolderSurvey, Segment, parse_segment, survey_folder
from app.store import repository

log = logging.getLogger(__name__)

CHUNK = 1000  # rows submitted between two flushes: the writer's queue stays small whatever the archive
STORE_WAIT_SAY_S = 10.0  # after this long without an open store, say that the reconciliation waits for it
_TIME_TOLERANCE_S = 0.002  # a name carries ms (start truncated, duration rounded); the recorder's row is exact
_NO_STORE = "no history store to mirror into"
_NAMES_SHOWN = 10  # a log line names at most this many files, then "and N more"
MASS_VANISHED_MIN = 20  # more lost rows than this, and more than MASS_VANISHED_SHARE of all: a missing disk?
MASS_VANISHED_SHARE = 0.5


class MirroredIndex:
    def __init__(self, directory: DirectoryIndex, store: Callable[[], object | None]) -> None:
        self.directory = directory
        self._store = store
        self._refused: set[str] = set()  # calls already logged as refused by the store

    def _mirror(self, what: str, call) -> None:
        store = self._store()
        if store is None:
            return
        why = ""
        try:
            ok = call(store)
        except Exception as e:
            ok, why = False, f"{type(e).__name__}: {e}"
        if ok is False and what not in self._refused:
            self._refused.add(what)
            why = why or store.status().message
            log.warning("history store did not take a %s (%s); the recordings folder has it", what, why)

    def add_segment(self, segment) -> None:
        self.directory.add_segment(segment)
        self._mirror("segment", lambda store: store.add_segment(segment))

    def remove_segment(self, path: str) -> None:
        self.directory.remove_segment(path)
        self._mirror("segment removal", lambda store: store.remove_segment(path))

    def lock_segment(self, path: str, locked: bool) -> None:
        """Mirror the operator's lock into the store. The marker next to the file is the lock itself (what
        retention reads): ``segments.lock_segment`` writes it before calling this; the folder needs no copy."""
        self._mirror("segment lock", lambda store: store.lock_segment(path, locked))

    def add_motion_event(self, event) -> None:
        self.directory.add_motion_event(event)
        self._mirror("motion event", lambda store: store.add_motion_event(event))

    def mirror(self) -> object | None:
        """The store this index mirrors into now (None while there is none)."""
        return self._store()

    def segments(self, camera_id: str, start: float = 0.0, end: float = float("inf")):
        return self.directory.segments(camera_id, start, end)

    def motion_events(self, camera_id: str, start: float = 0.0, end: float = float("inf")):
        return self.directory.motion_events(camera_id, start, end)


# ---------------------------------------------------------------------------------------------- reconcile
@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    """What to change in the store's rows so that they match the files (:func:`plan_reconcile`)."""

    add: tuple[Segment, ...]  # files with no row
    update: tuple[Segment, ...]  # files whose row says another size, lock or time
    vanished: tuple[str, ...]  # row paths whose file is gone
    unchanged: int


def _same(row: Mapping, seg: Segment) -> bool:
    return (row["camera_id"] == seg.camera_id and int(row["size_bytes"] or 0) == seg.size_bytes
            and bool(row["locked"]) == seg.locked
            and abs(float(row["started_at"]) - seg.start) <= _TIME_TOLERANCE_S
            and abs(float(row["ended_at"]) - seg.end) <= _TIME_TOLERANCE_S)  # fmt: skip


def plan_reconcile(
    on_disk: Mapping[str, Segment], rows: Iterable[Mapping], exists: Callable[[str], bool] = os.path.exists
) -> ReconcilePlan:
    """Rows vs files, matched by file name (unique per camera: its UTC start to the ms), so a row written
    under another spelling of the root (a symlink, a relative path) still matches its file.

    A row with no file in *on_disk* is vanished only if its path is gone too (``exists`` is asked for those
    rows alone): a segment closed after the survey, or one kept outside today's recordings folder, stays.
    A row whose path differs from its file's and is gone (the folder was moved) is replaced by the file's."""
    by_name = {os.path.basename(p): s for p, s in on_disk.items()}
    matched: set[str] = set()
    add: list[Segment] = []
    update: list[Segment] = []
    vanished: list[str] = []
    unchanged = 0
    for row in rows:
        path = row["path"]
        name = os.path.basename(path)
        seg = by_name.get(name)
        if seg is None or name in matched or path != seg.path:
            if exists(path):
                unchanged += 1
                if seg is not None:
                    matched.add(name)
            else:
                vanished.append(path)
            continue
        matched.add(name)
        if _same(row, seg):
            unchanged += 1
        else:
            update.append(seg)
    add = [s for n, s in by_name.items() if n not in matched]
    add.sort(key=lambda s: s.start)
    return ReconcilePlan(tuple(add), tuple(update), tuple(vanished), unchanged)


def mount_point(path: str | Path) -> str:
    """The mount point of the filesystem *path* lies on (its nearest existing ancestor's), for the words."""
    p = os.path.abspath(path)
    while not os.path.exists(p) and os.path.dirname(p) != p:
        p = os.path.dirname(p)
    while not os.path.ismount(p) and os.path.dirname(p) != p:
        p = os.path.dirname(p)
    return p


def missing_disk(root: str | Path, on_disk: int, rows: int, lost: Iterable[str],
                 isdir: Callable[[str], bool] = os.path.isdir) -> str:  # fmt: skip
    """Why the rows in *lost* (gone, and no file of their name in the folder) must not be removed because the
    recordings folder looks like a disk that is not mounted, in words; "" when they may go.

    It looks like one when the folder holds none of the indexed segments (*on_disk* 0, *rows* > 0), or when
    more than ``MASS_VANISHED_MIN`` rows and more than half of all went missing together with their day
    folders (an operator deleting files by hand leaves the folders; an empty mountpoint has none). Pure
    but for *isdir*, asked once per day folder."""
    lost = list(lost)
    if not lost:
        return ""
    where = f"the recordings folder {root} (on the filesystem mounted at {mount_point(root)})"
    if on_disk == 0:
        return (f"{where} holds none of the {rows:,} indexed segments: is its disk mounted? The index is kept "
                "and reconciled at the next start")  # fmt: skip
    folders: dict[str, bool] = {}
    gone = 0
    for path in lost:
        day = os.path.dirname(path)
        if day not in folders:
            folders[day] = isdir(day)
        gone += not folders[day]
    if gone > MASS_VANISHED_MIN and gone > MASS_VANISHED_SHARE * rows:
        return (f"{gone:,} of the {rows:,} indexed segments are missing from {where}, their day folders too: "
                "is its disk mounted? Their rows are kept and reconciled at the next start")  # fmt: skip
    return ""


def segment_problem(path: str) -> str:
    """Why *path* is not a playable segment as the recorder writes them, in words; "" when it is. Reads the
    top-level boxes only, no demuxing (``fmp4.scan``, what start-up recovery reads)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # non-blocking: a FIFO swapped in cannot hang us
        with os.fdopen(fd, "rb") as f:
            layout = fmp4.scan(f)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if layout.problem:
        return f"not laid out as a recorded segment: {layout.problem}"
    if not layout.has_moov:
        return "has no codec description ('moov' box): nothing in it can be played"
    if not layout.playable:
        return f"holds no complete fragment in its {layout.size} bytes: nothing in it can be played"
    return ""


def _names(paths: Iterable[str]) -> str:
    paths = list(paths)
    shown = ", ".join(paths[:_NAMES_SHOWN])
    return shown + (f" and {len(paths) - _NAMES_SHOWN} more" if len(paths) > _NAMES_SHOWN else "")


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    """What the start-up reconciliation did (``IndexReconciler.result``); ``sentence`` is its log line."""

    on_disk: int  # closed segments found in the folder
    added: int = 0  # rows written for files that had none
    updated: int = 0  # rows corrected (size, lock, times, moved folder)
    vanished: int = 0  # rows removed: their files are gone
    kept: int = 0  # rows of missing files kept: the folder looks like a disk that is not mounted (missing_disk)
    unchanged: int = 0
    skipped: tuple[str, ...] = ()  # "<path>: why": files named as segments that are not playable
    left_alone: tuple[str, ...] = ()  # entries of the folder that are not recordings
    orphan_locks: int = 0  # lock markers of vanished segments, removed
    seconds: float = 0.0  # work (survey + rows + writes), not the wait for the store
    waited_s: float = 0.0  # how long the store took to open
    incomplete: str = ""  # why the store was not (fully) reconciled; "" when it was
    skipped_paths: tuple[str, ...] = field(default=(), repr=False)

    @property
    def sentence(self) -> str:
        if self.incomplete and not (self.added or self.updated or self.vanished or self.unchanged):
            head = f"segment index: {_n(self.on_disk, 'closed segment')} in the folder; {self.incomplete}"
        else:
            head = (f"segment index reconciled: {_n(self.added, 'file')} added, "
                    f"{_n(self.vanished, 'vanished row')} removed, {self.unchanged} unchanged")  # fmt: skip
            if self.updated:
                head += f", {_n(self.updated, 'row')} corrected"
            if self.incomplete:
                head += f" ({self.incomplete})"
        extra = []
        if self.skipped:
            extra.append(f"{_n(len(self.skipped), 'unplayable file')} skipped")
        if self.left_alone:
            extra.append(f"{_n(len(self.left_alone), 'entry', 'entries')} that are not recordings left alone")
        if self.orphan_locks:
            extra.append(f"{_n(self.orphan_locks, 'lock marker')} of vanished segments removed")
        tail = (", " + ", ".join(extra)) if extra else ""
        wait = f" (after {self.waited_s:.1f} s waiting for the history store)" if self.waited_s >= 1.0 else ""
        return f"{head}{tail}, in {self.seconds:.1f} s{wait}"


class IndexReconciler:
    """Start-up reconciliation of the recordings index with the files on disk (see the module docstring).

    All of it runs on the ``recording:reconcile`` thread, started by ``start()``: the survey of the folder
    (one ``stat`` per file, no file opened: 1.2-1.8 s for 50,000 files here, more on a cold disk: too long
    for the start-up thread, which is the GUI thread), the report of what is not a recording, the removal
    of the lock markers of vanished segments, then the wait for the store (a database that is slow to
    open or dead never delays start-up or recording) and the store half. ``done`` is set and ``result``
    filled when it finished (or gave up); ``stop()`` ends it within its timeout whatever the store does
    (the thread is a daemon)."""

    def __init__(self, index, root: Path, *, store_wait_say_s: float = STORE_WAIT_SAY_S) -> None:
        self.index = index  # MirroredIndex (folder + store) or a bare DirectoryIndex
        self.root = Path(root)
        self._say_after = store_wait_say_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.done = threading.Event()
        self.result: ReconcileResult | None = None

    @property
    def directory(self) -> DirectoryIndex | None:
        d = getattr(self.index, "directory", self.index)
        return d if isinstance(d, DirectoryIndex) else None

    def start(self) -> None:
        """Hand the reconciliation to its thread and return at once (start-up is never delayed by it)."""
        self._thread = threading.Thread(target=self._run, name="recording:reconcile", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("segment index: the reconciliation did not stop within %.0f s (left to end)", timeout)
            self._thread = None

    # -------------------------------------------------------------------------------------------- folder
    def _survey(self) -> FolderSurvey:
        # the resolved root: the recorders name their files from it (segments.part_path), and so their rows
        survey = survey_folder(self.root.resolve())
        if survey.left_alone:
            log.warning("recordings folder: %s not recordings, left alone: %s",
                        _n(len(survey.left_alone), "entry is", "entries are"), _names(survey.left_alone))  # fmt: skip
        if survey.orphan_locks:
            log.warning("recordings folder: %s locked by the operator %s gone (deleted outside Vigil?); "
                        "the lock marker is removed: %s", _n(len(survey.orphan_locks), "segment"),
                        "is" if len(survey.orphan_locks) == 1 else "are", _names(survey.orphan_locks))  # fmt: skip
            for path in survey.orphan_locks:
                if os.path.lexists(path):  # listed while it was written: not vanished after all
                    continue
                try:
                    self.index.remove_segment(path)  # the folder drops the marker, the store its row (if any)
                except Exception:
                    log.exception("segment index: removing the lock marker of %s failed", path)
        return survey

    # --------------------------------------------------------------------------------------------- store
    def _run(self) -> None:
        t0 = time.monotonic()
        try:
            survey = self._survey()
        except Exception as e:  # never take Vigil down: say it; recording goes on without the reconciliation
            log.exception("segment index: surveying the recordings folder %s failed", self.root)
            self._finish(ReconcileResult(0, incomplete=f"the folder could not be surveyed ({e})"))
            return
        folder_s = time.monotonic() - t0
        if getattr(self.index, "mirror", None) is None or self.index.mirror() is None:
            self._finish(ReconcileResult(len(survey.segments), left_alone=survey.left_alone,
                                         orphan_locks=len(survey.orphan_locks), seconds=folder_s,
                                         incomplete=_NO_STORE))  # fmt: skip
            return
        try:
            self._finish(self._reconcile_store(survey, folder_s))
        except Exception as e:
            log.exception("segment index: reconciling with the history store failed")
            self._finish(ReconcileResult(len(survey.segments), incomplete=f"failed: {type(e).__name__}: {e}"))

    def _wait_store(self):
        """The store once open; None if there is none, history is off, or we are stopping."""
        t0 = time.monotonic()
        said = False
        while not self._stop.is_set():
            store = self.index.mirror()
            if store is None:
                return None
            if getattr(store, "unavailable", ""):
                log.warning("segment index: history is off (%s); only the recordings folder was checked",
                            store.unavailable)  # fmt: skip
                return None
            t = time.monotonic()
            if store.wait_ready(0.5):
                return store
            if time.monotonic() - t < 0.25:  # not started yet, or stopped: wait_ready returned at once
                self._stop.wait(0.5)
            if not said and time.monotonic() - t0 >= self._say_after:
                said = True
                log.warning("segment index: the history store is not open yet (%s); its segment rows are "
                            "reconciled with the recordings folder once it opens", store.status().message)  # fmt: skip
        return None

    def _rows(self, store) -> tuple[dict, ...] | None:
        fut = store.query(repository.recording_segment_index)
        while not self._stop.is_set():
            try:
                return fut.result(0.25)
            except FutureTimeout:
                continue
        fut.cancel()
        return None

    def _flush(self, store, limit_s: float = 60.0) -> bool:
        """Wait until what was submitted is written, in short waits: a stop is noticed within a second."""
        deadline = time.monotonic() + limit_s
        while not self._stop.is_set():
            if store.flush(1.0):
                return True
            if store.status().state in ("off", "stopped") or time.monotonic() > deadline:
                return False
        return False

    def _reconcile_store(self, survey: FolderSurvey, folder_s: float) -> ReconcileResult:
        t_wait = time.monotonic()
        first = self.index.mirror()
        open_at_once = first is not None and first.wait_ready(0.0)
        store = self._wait_store()
        waited = time.monotonic() - t_wait
        base = {"on_disk": len(survey.segments), "left_alone": survey.left_alone,
                "orphan_locks": len(survey.orphan_locks), "waited_s": waited}  # fmt: skip
        if store is None:
            why = "stopped before the history store opened" if self._stop.is_set() else "no history store"
            return ReconcileResult(**base, seconds=folder_s, incomplete=why)
        t0 = time.monotonic()
        try:
            rows = self._rows(store)
        except Exception as e:
            log.warning("segment index: the history store's segment rows cannot be read (%s); they are "
                        "reconciled at the next start", e)  # fmt: skip
            return ReconcileResult(**base, seconds=folder_s, incomplete=f"the store's rows cannot be read ({e})")
        if rows is None:
            return ReconcileResult(**base, seconds=folder_s, incomplete="stopped")
        if not open_at_once:  # files may have come since the survey: a fresh one (after the rows: see above).
            # Cheap where it happens: a large archive's survey takes long enough for the store to open meanwhile.
            survey = survey_folder(self.root.resolve())
            base["on_disk"] = len(survey.segments)
        plan = plan_reconcile(survey.segments, rows)
        names = {os.path.basename(p) for p in survey.segments}
        lost = [p for p in plan.vanished if os.path.basename(p) not in names]  # not moved: gone
        kept = 0
        if why := missing_disk(self.root, len(survey.segments), len(rows), lost):
            log.warning("segment index: %s", why)
            keep = set(lost)
            plan = replace(plan, vanished=tuple(p for p in plan.vanished if p not in keep))
            kept = len(keep)
        if plan.vanished:
            log.warning("segment index: %s no longer on disk (deleted outside Vigil?); removed from the index: "
                        "%s", _n(len(plan.vanished), "indexed segment is", "indexed segments are"),
                        _names(plan.vanished))  # fmt: skip
        done = {"added": 0, "updated": 0, "vanished": 0}
        skipped: list[str] = []
        skipped_paths: list[str] = []
        pending = 0
        incomplete = ""
        work = [("vanished", p) for p in plan.vanished] + [("updated", s) for s in plan.update] + [
            ("added", s) for s in plan.add]  # fmt: skip
        for what, item in work:
            if self._stop.is_set():
                incomplete = "stopped before it finished: the rest at the next start"
                break
            if what == "vanished":
                if os.path.lexists(item):  # back since the plan (e.g. closed right now): leave it
                    continue
                ok = store.remove_segment(item)
                if ok and (d := self.directory) is not None:
                    d.remove_segment(item)  # a stale lock marker, if any
            else:
                seg = parse_segment(Path(item.path))  # as it is now: deleted by retention meanwhile -> None
                if seg is None:
                    continue
                if what == "added" and (why := segment_problem(seg.path)):
                    skipped.append(f"{seg.path}: {why}")
                    skipped_paths.append(seg.path)
                    continue
                ok = store.add_segment(seg)
            if ok is False:
                incomplete = f"the history store did not take more rows ({store.status().message})"
                break
            done[what] += 1
            pending += 1
            if pending >= CHUNK:
                pending = 0
                if not self._flush(store):
                    incomplete = f"the history store is not writing ({store.status().message})"
                    break
        if skipped:
            for line in skipped[: _NAMES_SHOWN * 2]:
                log.warning("segment index: skipped %s", line)
            if len(skipped) > _NAMES_SHOWN * 2:
                log.warning("segment index: skipped %d more unplayable files", len(skipped) - _NAMES_SHOWN * 2)
        if (d := self.directory) is not None:
            d.set_unplayable(skipped_paths)
        if not incomplete and any(done.values()) and not self._flush(store):
            incomplete = f"queued, not yet written: {store.status().message}"
        if kept and not incomplete:
            incomplete = f"{_n(kept, 'row')} of missing files kept: is the recordings disk mounted?"
        return ReconcileResult(**base, **done, kept=kept, unchanged=plan.unchanged, skipped=tuple(skipped),
                               seconds=folder_s + time.monotonic() - t0, incomplete=incomplete,
                               skipped_paths=tuple(skipped_paths))  # fmt: skip

    def _finish(self, result: ReconcileResult) -> None:
        self.result = result
        fine = not result.incomplete or result.incomplete == _NO_STORE
        log.log(logging.INFO if fine else logging.WARNING, "%s", result.sentence)
        self.done.set()

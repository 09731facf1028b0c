"""Retention (what a CCTV site node's hdd-monitor does): a pure policy plus the job that applies it.

:func:`plan_deletions` decides, from a list of segments and the disk figures, which segments to
delete: everything older than ``max_age_days``; then, oldest first, until the disk has
``min_free_gb`` free and the recordings fit in ``max_total_gb``. It never picks a segment that is
open (being written) or locked by the operator, even if that means the targets are not met (the
result says so). :func:`days_available` estimates how many days of recording the disk holds at the
current rate (shown in the UI and exported as a metric).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.recording.segments import LOCK_SUFFIX, Segment, SegmentIndex, is_locked, scan_segments

log = logging.getLogger(__name__)

GB = 1024**3
DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    max_age_days: float = 30.0
    min_free_gb: float = 5.0
    max_total_gb: float = 0.0  # 0 = no cap

    @classmethod
    def from_settings(cls, s) -> RetentionPolicy:
        return cls(s.max_age_days, s.min_free_gb, s.max_total_gb)


@dataclass(frozen=True, slots=True)
class RetentionPlan:
    delete: tuple[Segment, ...]
    freed_bytes: int
    targets_met: bool  # False: locked/open segments (or other files) keep the disk above target
    reason: str = ""


def plan_deletions(
    segments: Iterable[Segment],
    policy: RetentionPolicy,
    *,
    now: float,
    disk_free_bytes: int,
    open_paths: frozenset[str] = frozenset(),
) -> RetentionPlan:
    """Pure: which segments to delete, oldest first. Never an open or locked one."""
    candidates = sorted((s for s in segments if not s.locked and s.path not in open_paths), key=lambda s: s.start)
    all_total = sum(s.size_bytes for s in segments)
    delete: list[Segment] = []
    cutoff = now - policy.max_age_days * DAY
    for s in candidates:
        if s.end < cutoff:
            delete.append(s)
    rest = [s for s in candidates if s.end >= cutoff]
    freed = sum(s.size_bytes for s in delete)
    need_free = int(policy.min_free_gb * GB)
    cap = int(policy.max_total_gb * GB) if policy.max_total_gb > 0 else None

    def over() -> bool:
        return disk_free_bytes + freed < need_free or (cap is not None and all_total - freed > cap)

    for s in rest:
        if not over():
            break
        delete.append(s)
        freed += s.size_bytes
    met = not over()
    reason = "" if met else "locked or open segments (or other files) keep the disk above the retention target"
    return RetentionPlan(tuple(delete), freed, met, reason)


def days_available(
    segments: Iterable[Segment], policy: RetentionPolicy, *, disk_free_bytes: int, now: float | None = None
) -> float | None:
    """Days of recording the space allows at the recent write rate; None when there is no rate yet."""
    segs = list(segments)
    if not segs:
        return None
    used = sum(s.size_bytes for s in segs)
    span = max(s.end for s in segs) - min(s.start for s in segs)
    if span <= 60 or used <= 0:
        return None
    per_day = used / (span / DAY)
    capacity = used + max(0, disk_free_bytes - int(policy.min_free_gb * GB))
    if policy.max_total_gb > 0:
        capacity = min(capacity, int(policy.max_total_gb * GB))
    return min(capacity / per_day, policy.max_age_days)


@dataclass(frozen=True, slots=True)
class DiskStatus:
    root: str
    total_bytes: int = 0
    free_bytes: int = 0
    recordings_bytes: int = 0
    segments: int = 0
    days_available: float | None = None
    oldest: float | None = None  # UNIX time of the oldest segment kept
    deleted_total: int = 0
    last_run: float = 0.0
    error: str = ""  # e.g. targets not met, folder not writable


class RetentionService:
    """Runs the policy every ``cleanup_interval_s`` on a named thread; ``run_once`` is what tests call."""

    def __init__(self, settings, root: Path, index: SegmentIndex | None = None,
                 open_paths: Callable[[], Iterable[str]] = lambda: (),
                 disk_usage: Callable[[Path], tuple[int, int, int]] = shutil.disk_usage) -> None:  # fmt: skip
        self.settings = settings
        self.root = Path(root)
        self.index = index
        self._open_paths = open_paths
        self._disk_usage = disk_usage
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._status = DiskStatus(str(self.root))

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="recording:retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10.0)
            self._thread = None

    def status(self) -> DiskStatus:
        with self._lock:
            return self._status

    def _loop(self) -> None:
        while True:
            try:
                self.run_once()
            except Exception:
                log.exception("retention run failed")
            if self._stop.wait(self.settings.cleanup_interval_s):
                return

    def run_once(self, now: float | None = None) -> RetentionPlan:
        now = time.time() if now is None else now
        policy = RetentionPolicy.from_settings(self.settings)
        self.root.mkdir(parents=True, exist_ok=True)
        segs = scan_segments(self.root)
        total, _used, free = self._disk_usage(self.root)
        open_paths = frozenset(str(p).removesuffix(".part") for p in self._open_paths())
        plan = plan_deletions(segs, policy, now=now, disk_free_bytes=free, open_paths=open_paths)
        deleted = 0
        freed = 0
        for s in plan.delete:
            if is_locked(s.path):  # locked by the operator since the scan: the marker is the truth
                continue
            try:
                Path(s.path).unlink()
                Path(s.path + LOCK_SUFFIX).unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("retention: cannot delete %s: %s", s.path, e)
                continue
            deleted += 1
            freed += s.size_bytes
            if self.index is not None:
                try:
                    self.index.remove_segment(s.path)
                except Exception:
                    log.exception("retention: unindexing %s failed", s.path)
        if deleted:
            log.info("retention: deleted %d segment(s), %.1f MB", deleted, freed / 1e6)
            self._remove_empty_dirs()
        gone = {s.path for s in plan.delete if not Path(s.path).exists()}
        kept = [s for s in segs if s.path not in gone]
        free_after = free + freed
        with self._lock:
            prev = self._status
            self._status = DiskStatus(
                str(self.root), total, free_after, sum(s.size_bytes for s in kept), len(kept),
                days_available(kept, policy, disk_free_bytes=free_after, now=now),
                kept[0].start if kept else None, prev.deleted_total + deleted, now,
                "" if plan.targets_met else plan.reason,
            )  # fmt: skip
        return plan

    def _remove_empty_dirs(self) -> None:
        for day in self.root.glob("*/*"):
            if day.is_dir():
                try:
                    day.rmdir()  # only succeeds when empty
                except OSError:
                    pass

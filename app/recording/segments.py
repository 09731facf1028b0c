"""Segment files: names, the index protocol, and a directory-backed index (used until/unless the store is wired).

Layout (UTC, so daylight-saving changes never produce two files with one name)::

    <root>/<camera-id>/<YYYY-MM-DD>/<camera-id>_<YYYYmmddTHHMMSS_mmm>Z_<duration ms>.mp4   closed
    <root>/<camera-id>/<YYYY-MM-DD>/<camera-id>_<YYYYmmddTHHMMSS_mmm>Z.mp4.part            being written
    ...mp4.locked   (empty marker: the operator locked this segment; retention never deletes it)
    <root>/<camera-id>/motion.jsonl  (motion events, one JSON object per line)

The camera id must already be a slug (``app.config`` enforces ``[a-z0-9][a-z0-9_-]*``); a name that
is not is refused, never "cleaned" into a path, and the result is checked to stay under the root.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NAME_RE = re.compile(r"^(?P<cam>[a-z0-9][a-z0-9_-]{0,63})_(?P<ts>\d{8}T\d{6}_\d{3})Z(?:_(?P<dur>\d+))?\.mp4$")
PART_SUFFIX = ".part"
LOCK_SUFFIX = ".locked"


@dataclass(frozen=True, slots=True)
class Segment:
    camera_id: str
    path: str
    start: float  # UNIX time of the first packet
    end: float  # start + duration
    size_bytes: int = 0
    has_audio: bool = False
    locked: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class StoredMotionEvent:
    camera_id: str
    start: float
    end: float
    peak_score: float
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    labels: tuple[str, ...] = ()


class SegmentIndex(Protocol):
    """Where closed segments and motion events are indexed (the store implements this too)."""

    def add_segment(self, segment: Segment) -> None: ...

    def remove_segment(self, path: str) -> None: ...

    def add_motion_event(self, event: StoredMotionEvent) -> None: ...


def check_camera_id(camera_id: str) -> str:
    if not isinstance(camera_id, str) or not _ID_RE.match(camera_id):
        raise ValueError(f"camera id {camera_id!r} is not a safe file name (lowercase letters, digits, - and _)")
    return camera_id


def _ts(start: float) -> str:
    d = datetime.fromtimestamp(start, UTC)
    return d.strftime("%Y%m%dT%H%M%S") + f"_{d.microsecond // 1000:03d}"


def part_path(root: Path, camera_id: str, start: float) -> Path:
    """Where a segment starting at *start* is written while open."""
    check_camera_id(camera_id)
    day = datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d")
    folder = (root / camera_id / day).resolve()
    if not folder.is_relative_to(root.resolve()):
        raise ValueError(f"segment folder {folder} escapes the recordings root")
    return folder / f"{camera_id}_{_ts(start)}Z.mp4{PART_SUFFIX}"


def final_path(part: Path, duration_s: float) -> Path:
    name = part.name.removesuffix(PART_SUFFIX).removesuffix(".mp4")
    return part.with_name(f"{name}_{max(0, round(duration_s * 1000))}.mp4")


def is_segment_part(path: Path) -> bool:
    """Whether *path* is named as a segment being written (``<camera-id>_<UTC time>Z.mp4.part``)."""
    name = path.name
    return name.endswith(".mp4" + PART_SUFFIX) and _NAME_RE.match(name.removesuffix(PART_SUFFIX)) is not None


def _start_of(ts: str) -> float:
    """UNIX time of a name's ``YYYYmmddTHHMMSS_mmm`` (UTC); ValueError for a date that does not exist.
    Not strptime: a tenth of its cost, and this runs once per file on every folder scan."""
    return datetime(int(ts[0:4]), int(ts[4:6]), int(ts[6:8]), int(ts[9:11]), int(ts[11:13]), int(ts[13:15]),
                    int(ts[16:19]) * 1000, tzinfo=UTC).timestamp()  # fmt: skip


def parse_segment(path: Path | str, *, locked: bool | None = None) -> Segment | None:
    """A closed segment from its file name (no probing); None if the name is not one of ours (or names a
    date that does not exist), or the file is gone or not a regular file. *locked*: the caller already
    knows whether the marker is there (a folder listing); else it is looked up."""
    path = str(path)
    m = _NAME_RE.match(os.path.basename(path))
    if not m or m["dur"] is None:
        return None
    try:
        start = _start_of(m["ts"])
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device under a segment's name would block every reader
        return None
    locked = is_locked(path) if locked is None else locked
    return Segment(m["cam"], path, start, start + int(m["dur"]) / 1000.0, st.st_size, False, locked)


def scan_segments(root: Path, camera_id: str | None = None) -> list[Segment]:
    """All closed segments under *root* (optionally one camera), oldest first."""
    root = Path(root)
    # None = every camera; "" is not "every camera" but a bad id (refused like any other)
    base = [root / check_camera_id(camera_id)] if camera_id is not None else [p for p in root.glob("*") if p.is_dir()]
    out = [s for b in base for p in b.glob("*/*.mp4") if (s := parse_segment(p)) is not None]
    out.sort(key=lambda s: (s.start, s.camera_id))
    return out


@dataclass(frozen=True, slots=True)
class FolderSurvey:
    """What one walk of the recordings folder found (:func:`survey_folder`)."""

    segments: dict[str, Segment]  # path -> closed segment named as ours (a regular file)
    left_alone: tuple[str, ...]  # "<path> (why)": entries that are not recordings, in words
    orphan_locks: tuple[str, ...]  # segment paths whose ``.locked`` marker is there but the file is not
    seconds: float = 0.0


def survey_folder(root: Path) -> FolderSurvey:
    """Walk ``<root>/<camera>/<day>/`` once: the closed segments (one ``stat`` each, as
    :func:`scan_segments`), the lock markers whose segment is gone, and every entry that is not ours,
    said in words. Never raises for what it finds: a folder that cannot be listed is one more entry in
    ``left_alone``. Open segments (``.part``) are skipped: start-up recovery has dealt with them already
    (and said why it left any). ``lost+found`` (a dedicated recordings disk) is not mentioned."""
    t0 = time.monotonic()
    segs: dict[str, Segment] = {}
    other: list[str] = []
    orphans: list[str] = []

    def entries(folder: str) -> list[os.DirEntry]:
        try:
            with os.scandir(folder) as it:
                return sorted(it, key=lambda e: e.name)
        except OSError as e:
            other.append(f"{folder} (cannot be listed: {e.strerror or e})")
            return []

    for cam in entries(str(root)):
        if not cam.is_dir():
            other.append(f"{cam.path} (a file where camera folders go)")
            continue
        if not _ID_RE.match(cam.name):
            if cam.name != "lost+found":
                other.append(f"{cam.path} (a folder not named as a camera id)")
            continue
        for day in entries(cam.path):
            if day.name == "motion.jsonl" and day.is_file():
                continue
            if not (_DAY_RE.match(day.name) and day.is_dir()):
                other.append(f"{day.path} (neither a day folder nor motion.jsonl)")
                continue
            files = entries(day.path)
            names = {e.name for e in files}
            for e in files:
                name = e.name
                if name.endswith(LOCK_SUFFIX):
                    if name.removesuffix(LOCK_SUFFIX) not in names:
                        orphans.append(e.path.removesuffix(LOCK_SUFFIX))
                    continue
                if name.endswith(PART_SUFFIX) and is_segment_part(Path(name)):
                    continue
                m = _NAME_RE.match(name)
                if m is None or m["dur"] is None:
                    other.append(f"{e.path} (not named as a recorded segment)")
                elif (seg := parse_segment(e.path, locked=name + LOCK_SUFFIX in names)) is None:
                    other.append(f"{e.path} (not a regular file, or it cannot be read)")
                else:
                    segs[seg.path] = seg
    return FolderSurvey(segs, tuple(other), tuple(orphans), time.monotonic() - t0)


def set_locked(segment_path: str | Path, locked: bool) -> None:
    """Operator lock: retention never deletes a locked segment.

    THE lock is the ``<segment>.locked`` marker next to the file: retention reads only it, and so does
    :func:`parse_segment` (hence every Segment's ``locked``). A store's ``locked`` column is a mirror
    written by :func:`lock_segment`. The marker lives next to the file so that it survives a database
    change, is visible to anyone looking at the folder, and is checked by retention without a query.
    """
    path = Path(segment_path)
    marker = Path(str(path) + LOCK_SUFFIX)
    if locked:
        if not path.is_file():
            raise FileNotFoundError(f"cannot lock {path.name}: the segment file no longer exists")
        marker.touch()
    else:
        marker.unlink(missing_ok=True)


def is_locked(segment_path: str | Path) -> bool:
    return os.path.exists(str(segment_path) + LOCK_SUFFIX)


def lock_segment(segment_path: str | Path, locked: bool, index: SegmentIndex | None = None) -> None:
    """Lock/unlock a segment: the marker file first (the truth), then the index's mirror, if it keeps one
    (``index.lock_segment(path, locked)``: the store's ``recording_segments.locked``). This is the one
    place the marker is written; an index's ``lock_segment`` only mirrors (``DirectoryIndex`` has none:
    the marker is the folder's own record). A failing mirror is logged, never undoes the marker:
    retention goes by the marker."""
    set_locked(segment_path, locked)
    mirror = getattr(index, "lock_segment", None)
    if mirror is not None:
        try:
            mirror(str(segment_path), locked)
        except Exception:
            log.exception("mirroring the lock of %s into the index failed (the lock itself holds)", segment_path)


class DirectoryIndex:
    """SegmentIndex over the recordings folder itself: file names carry start and duration, motion
    events go to ``<camera>/motion.jsonl``. Thread-safe; no database needed."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self.added: list[Segment] = []  # in this process (for status and tests)
        # file names found unplayable by the start-up reconciliation: never offered for playback
        self._unplayable: frozenset[str] = frozenset()

    def add_segment(self, segment: Segment) -> None:
        with self._lock:
            self.added.append(segment)

    def remove_segment(self, path: str) -> None:
        Path(path + LOCK_SUFFIX).unlink(missing_ok=True)

    def set_unplayable(self, paths) -> None:
        """Segment files that are named as ours but hold no playable recording (garbage, a foreign file):
        :meth:`segments` leaves them out, so the player never offers them (retention, which scans the
        folder itself, still ages them out). Keyed by file name: unique per camera, whatever spelling of
        the root a path was made from."""
        self._unplayable = frozenset(Path(p).name for p in paths)

    def add_motion_event(self, event: StoredMotionEvent) -> None:
        folder = self.root / check_camera_id(event.camera_id)
        line = json.dumps(asdict(event), separators=(",", ":"))
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "motion.jsonl", "a", encoding="utf-8") as f:
                f.write(line + "\n")

    def segments(self, camera_id: str, start: float = 0.0, end: float = float("inf")) -> list[Segment]:
        bad = self._unplayable
        return [s for s in scan_segments(self.root, camera_id)
                if s.end > start and s.start < end and Path(s.path).name not in bad]  # fmt: skip

    def motion_events(self, camera_id: str, start: float = 0.0, end: float = float("inf")) -> list[StoredMotionEvent]:
        f = self.root / check_camera_id(camera_id) / "motion.jsonl"
        out = []
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                d = json.loads(line)
                boxes = tuple(tuple(b) for b in d.get("boxes", ()))
                ev = StoredMotionEvent(d["camera_id"], d["start"], d["end"], d["peak_score"], boxes,
                                       tuple(d.get("labels", ())))  # fmt: skip
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a crash: skip it, keep the rest
            if ev.end > start and ev.start < end:
                out.append(ev)
        return out

    def cameras(self) -> list[str]:
        return sorted(p.name for p in self.root.glob("*") if p.is_dir() and _ID_RE.match(p.name))


def now() -> float:
    return time.time()

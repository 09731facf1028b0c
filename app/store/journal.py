"""The spill journal: history records that could not be written to the database when Vigil stopped.

At stop the writer drains its queue; what the database does not take (locked, full, read-only, server
gone) is written here, one JSON object per line (`JSON Lines <https://jsonlines.org/>`_), and written into
the database at the next start, before anything new; then the file is removed. Both ways are logged with
counts.

Format (version 1), one line per record::

    {"v": 1, "type": "HealthSampleRecord", "data": {"camera_id": "gate", "at": 1700000000.0, ...}}

``type`` is a class name from :data:`app.store.records.WRITE_RECORDS`; ``data`` its fields (tuples as
lists). A line that is not such an object (cut short by a crash, damaged, a newer version, an unknown
type or field) is skipped and counted, never an error that stops the start-up.

Writing is atomic and durable: a temporary file in the same folder (created ``0600``: the records name
cameras and carry alert notes) is written, ``fsync``-ed and renamed over the journal, and the folder is
``fsync``-ed, so after a crash or power cut the journal is either the old one or the new one, whole.
The file name is not ``<database>-journal``: that is SQLite's own rollback journal, which SQLite would
take for a hot journal to roll back.

A journal that exists but cannot be read (an I/O error, a disk not mounted, a name that is not a file) is
never replaced: a stop that cannot read it writes its records to a new file next to it,
``<name>.<nanoseconds>.jsonl`` (:func:`extra_path`), and the next start reads the journal and every such
file in the order they were written (:func:`files`, :func:`read_all`; all of them or none, so the last
state of an alert is never replayed before an older one). Once they are all in memory, a stop writes them
back as one journal and removes the extra files.

A full disk is the usual reason the database failed, and the journal lives on the same disk: so once the
database is open the writer keeps a reserve file (``<journal>.reserve``, ``RESERVE_BYTES``, allocated with
``posix_fallocate``) next to it, and a journal write that finds the disk full deletes the reserve and tries
again. A read-only disk cannot be helped: the records are lost and the log says how many.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import re
import time
from pathlib import Path

from app.fileio import fsync_dir, write_private_atomic
from app.store.records import WRITE_RECORDS

log = logging.getLogger(__name__)

VERSION = 1
SUFFIX = ".unwritten.jsonl"  # next to the database: vigil.sqlite3 -> vigil.sqlite3.unwritten.jsonl
DEFAULT_NAME = "history" + SUFFIX  # in the data folder when the database is not a local file (PostgreSQL)

RESERVE_BYTES = 4 * 2**20  # room for ~25,000 records on a disk that filled up (a record is ~150 bytes)

_TYPES = {cls.__name__: cls for cls in WRITE_RECORDS}


class JournalError(Exception):
    """The journal cannot be written or read; the message says why in words."""


def _json_default(v: object) -> object:
    try:
        return float(v)  # type: ignore[arg-type]  # numpy scalars and the like
    except (TypeError, ValueError):
        return str(v)


def encode(record: object) -> str:
    """One journal line (no newline) for a record of one of ``WRITE_RECORDS``."""
    name = type(record).__name__
    if _TYPES.get(name) is not type(record):
        raise TypeError(f"not a history record: {record!r}")
    data = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}  # type: ignore[arg-type]
    return json.dumps({"v": VERSION, "type": name, "data": data}, ensure_ascii=False, separators=(",", ":"),
                      default=_json_default)  # fmt: skip


def _tuples(v: object) -> object:
    if isinstance(v, list):
        return tuple(_tuples(x) for x in v)
    return v


def decode(line: str) -> object:
    """The record of one journal line; ``ValueError`` (in words) for anything else."""
    try:
        obj = json.loads(line)
    except ValueError as e:
        raise ValueError(f"not JSON ({e})") from None
    if not isinstance(obj, dict) or obj.get("v") != VERSION:
        raise ValueError("not a version-1 journal entry")
    cls = _TYPES.get(obj.get("type"))  # type: ignore[arg-type]
    data = obj.get("data")
    if cls is None or not isinstance(data, dict):
        raise ValueError(f"unknown record type {obj.get('type')!r}")
    try:
        return cls(**{k: _tuples(v) for k, v in data.items()})
    except TypeError as e:
        raise ValueError(f"bad fields for {cls.__name__}: {e}") from None


def read(path: Path) -> tuple[list, int]:
    """(records, damaged lines skipped) of the journal at *path*; ([], 0) when there is none.

    ``JournalError`` when the file exists but cannot be read (permissions, I/O error)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as e:
        raise JournalError(f"cannot read the history journal {path}: {e.strerror or e}") from None
    records: list = []
    skipped = 0
    for line in raw.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            records.append(decode(line))
        except ValueError:
            skipped += 1
    return records, skipped


def _base(path: Path) -> str:
    return path.name[: -len(".jsonl")] if path.name.endswith(".jsonl") else path.name


def _extra_re(path: Path) -> re.Pattern[str]:
    return re.compile(re.escape(_base(path)) + r"\.(\d{20})\.jsonl")


def extra_path(path: Path) -> Path:
    """A new name for records that could not be added to the unreadable journal at *path*: ``<name without
    .jsonl>.<20-digit nanoseconds>.jsonl``, later than every extra file there (names sort in write order)."""
    path = Path(path)
    stamp = time.time_ns()
    pattern = _extra_re(path)
    for p in files(path):
        m = pattern.fullmatch(p.name)
        if m:
            stamp = max(stamp, int(m.group(1)) + 1)
    return path.with_name(f"{_base(path)}.{stamp:020d}.jsonl")


def files(path: Path) -> list[Path]:
    """The journal files at *path* in the order their records were written: the journal itself (if there is
    anything by that name, readable or not), then its extra files (``extra_path``) oldest first."""
    path = Path(path)
    out = [path] if os.path.lexists(path) else []
    pattern = _extra_re(path)
    try:
        names = sorted(n for n in os.listdir(path.parent) if pattern.fullmatch(n))
    except OSError:
        names = []
    return out + [path.with_name(n) for n in names]


def read_all(path: Path) -> tuple[list, int]:
    """(records, damaged lines skipped) of the journal at *path* and its extra files, in write order.
    ``JournalError`` if any of them cannot be read: then none is used (they stay, in order, for a later run)."""
    records: list = []
    skipped = 0
    for p in files(path):
        r, n = read(p)
        records += r
        skipped += n
    return records, skipped


def reserve_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".reserve")


def ensure_reserve(path: Path, size: int = RESERVE_BYTES) -> bool:
    """Keep ``RESERVE_BYTES`` allocated next to the journal (``0600``), to be freed for it on a full disk.
    False (and nothing kept) if the disk cannot spare it now."""
    r = reserve_path(path)
    try:
        if r.is_file() and r.stat().st_size >= size:
            return True
        fd = os.open(r, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)  # real blocks (a sparse file would free nothing)
        finally:
            os.close(fd)
        return True
    except (OSError, AttributeError):  # full, read-only, or no posix_fallocate on this platform
        try:
            r.unlink()
        except OSError:
            pass
        return False


def write(path: Path, records: list, *, keep_existing: bool) -> int:
    """Write *records* to the journal at *path* atomically (``0600``, fsynced); returns how many records
    the journal holds now (``-1``: not known, an old journal there could not be read).

    *keep_existing* False: *records* are everything (this run read the journal and its extra files): they
    replace the journal, then the extra files are removed. *keep_existing* True: the lines of a journal
    already there (not replayed this run) are kept in front, damaged ones dropped; if that journal cannot
    be read, or extra files exist, *records* go to a new extra file and nothing already there is touched.
    On a full disk the reserve file is given up and the write tried once more. ``JournalError`` (in words)
    if it cannot be written."""
    try:
        return _write(Path(path), records, keep_existing)
    except OSError as e:
        r = reserve_path(path)
        if e.errno not in (errno.ENOSPC, errno.EDQUOT) or not r.exists():
            raise JournalError(f"cannot write the history journal {path}: {e.strerror or e}") from None
        log.warning("the disk of the history journal %s is full: freeing its %d MiB reserve", path,
                    r.stat().st_size // 2**20)  # fmt: skip
        try:
            r.unlink()
            return _write(Path(path), records, keep_existing)
        except OSError as e2:
            raise JournalError(f"cannot write the history journal {path}: {e2.strerror or e2}") from None


def _write(path: Path, records: list, keep_existing: bool) -> int:
    new = [encode(r) for r in records]
    present = files(path)
    if not keep_existing:
        n = _write_file(path, new)
        extras = [p for p in present if p != path]
        for p in extras:  # their records are in the journal now
            p.unlink(missing_ok=True)
        if extras:
            fsync_dir(path.parent)
        return n
    old: list | None = None
    if all(p == path for p in present):
        try:
            old, _skipped = read(path)
        except JournalError as e:
            log.error("%s: it is kept as it is, and the %d records of this stop go to a new file next to it",
                      e, len(records))  # fmt: skip
    if old is None:  # unreadable, or extra files already: never rewrite what is there, add a file after it
        _write_file(extra_path(path), new)
        return -1
    return _write_file(path, [encode(r) for r in old] + new)


def _write_file(path: Path, lines: list[str]) -> int:
    """*lines* into *path*: 0600, atomic and durable (app.fileio)."""
    write_private_atomic(path, ("\n".join(lines) + "\n") if lines else "")
    return len(lines)


def remove(path: Path) -> None:
    """Remove the journal and its extra files once their records are in the database (durably: the folder
    is fsynced)."""
    path = Path(path)
    removed = False
    for p in files(path):
        try:
            p.unlink()
            removed = True
        except FileNotFoundError:
            continue
        except OSError as e:
            raise JournalError(f"cannot remove the replayed history journal {p}: {e.strerror or e}") from None
    if removed:
        fsync_dir(path.parent)

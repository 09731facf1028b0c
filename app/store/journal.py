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
from pathlib import Path

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


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # e.g. a platform without directory fds: the rename itself is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    the journal holds now. *keep_existing*: the lines of a journal already there (not replayed this run)
    are kept in front, damaged ones dropped. On a full disk the reserve file is given up and the write
    tried once more. ``JournalError`` (in words) if it cannot be written."""
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
    lines: list[str] = []
    if keep_existing:
        try:
            old, _skipped = read(path)
        except JournalError:
            old = []  # unreadable: the new file replaces it (its own error was logged when it was read)
        lines.extend(encode(r) for r in old)
    lines.extend(encode(r) for r in records)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a stale temp file from a crashed run keeps its old mode otherwise
            data = ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return len(lines)


def remove(path: Path) -> None:
    """Remove the journal once its records are in the database (durably: the folder is fsynced)."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as e:
        raise JournalError(f"cannot remove the replayed history journal {path}: {e.strerror or e}") from None
    _fsync_dir(path.parent)

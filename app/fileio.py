"""Files Vigil writes for itself: atomic and readable by this user only.

:func:`write_private_atomic` writes a temporary file in the same folder (created with *mode* and set to it
again with ``fchmod``: ``O_CREAT``'s mode is filtered by the umask, and a stale temporary file of a crashed
run keeps its old mode), fsyncs it, renames it over the target and fsyncs the folder, so a crash or a power
cut leaves the old file or the new one, never half of either. Used by the alert backlog, the history spill
journal and the metrics textfile (docs/security.md, "Private files").
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def write_private_atomic(path: str | os.PathLike, data: bytes | str, mode: int = 0o600) -> None:
    """*data* (text is UTF-8) to *path* atomically, with *mode* whatever the umask. Raises OSError."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    view = memoryview(data.encode("utf-8") if isinstance(data, str) else data)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            if hasattr(os, "fchmod"):  # not on Windows (before 3.13), where the ACLs decide
                os.fchmod(fd, mode)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: str | os.PathLike) -> None:
    """Make a rename or a removal in *folder* durable (best effort: not every platform can open a folder)."""
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)

"""A really full disk for tests: a small tmpfs mounted for the test (root only) and a ballast that fills it."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path


@contextlib.contextmanager
def tiny_disk(tmp_path: Path, size_mb: int = 8):
    """A *size_mb* tmpfs under *tmp_path* (root only); yields its path, or None when mounting is not possible."""
    d = tmp_path / "tiny"
    d.mkdir()
    if os.geteuid() != 0:
        yield None
        return
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        yield None
        return
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def fill(directory: Path) -> Path:
    """Write zeros into *directory* until the file system says ENOSPC; returns the ballast (delete it to free)."""
    ballast = directory / "ballast.bin"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)
    return ballast

"""A really full disk for tests: a small tmpfs mounted for the test (root only) and a ballast that fills it."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest


def _unavailable(why: str) -> None:
    """The project rule for a lab part this machine cannot give: fail where the lab must have it (CI and
    ``VIGIL_LAB_STRICT`` run as root with mount rights), skip elsewhere (a developer's non-root shell)."""
    if os.environ.get("VIGIL_LAB_STRICT") or os.environ.get("CI"):
        pytest.fail(f"a tmpfs cannot be mounted here ({why}): CI runs as root and must be able to")
    pytest.skip(f"mounting a tmpfs needs root ({why})")


@contextlib.contextmanager
def tiny_disk(tmp_path: Path, size_mb: int = 8):
    """A *size_mb* tmpfs under *tmp_path* (root only); yields its path. Where it cannot be mounted the test
    is skipped, or failed under ``CI`` / ``VIGIL_LAB_STRICT`` (``_unavailable``): never a silent pass."""
    d = tmp_path / "tiny"
    d.mkdir()
    if os.geteuid() != 0:
        _unavailable("not root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(d)], capture_output=True)
    if r.returncode != 0:
        _unavailable(r.stderr.decode(errors="replace").strip() or f"mount exited with {r.returncode}")
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

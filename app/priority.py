"""Background threads yield the CPU to the GUI thread when the machine is saturated.

A wall of 64 cameras keeps 64 demux/decode threads runnable; with equal priority the kernel gives the
GUI thread one share in 65 of the CPU and the event loop freezes for seconds (bench/wall.py). Lowering
the *niceness* of the workers (not of the whole process) leaves the GUI thread's weight untouched: when
there is spare CPU nothing changes, when there is none the GUI runs first and the workers fall behind,
which the pipelines already handle (latest-frame slot, keyframe-only degradation).

Linux only: ``setpriority(PRIO_PROCESS, tid)`` applies to one thread there, and the threads FFmpeg starts
from it (slice/frame decoders) inherit the value. Elsewhere this is a no-op (documented in
docs/pipeline.md).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

# Other background workers that burn CPU (motion analysis, recording mux) take the same default as the
# pipelines (``pipeline.worker_nice``): they may fall behind for a moment, the GUI thread may not.
BACKGROUND_NICE = 10


def lower_current_thread_priority(increment: int) -> int | None:
    """Raise the calling thread's nice value by *increment* (capped at 19). Returns the new value, or None."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return None
    tid = threading.get_native_id()
    try:
        nice = min(19, os.getpriority(os.PRIO_PROCESS, tid) + increment)
        os.setpriority(os.PRIO_PROCESS, tid, nice)
        return nice
    except OSError as e:  # e.g. a sandbox without the permission: run at normal priority
        log.debug("cannot lower the priority of %s: %s", threading.current_thread().name, e)
        return None


def thread_nice(native_id: int) -> int | None:
    """The nice value of a thread of this process (Linux), for tests and diagnostics."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return os.getpriority(os.PRIO_PROCESS, native_id)
    except OSError:
        return None

"""Small helpers shared by the end-to-end tests: bounded waits (never fixed sleeps) and recording checks."""

from __future__ import annotations

import hashlib
import time
import urllib.request
from pathlib import Path

import av

from app.pipeline.pipeline import CameraPipeline
from app.recording.recorder import CameraRecorder, RecorderStatus
from app.recording.segments import DirectoryIndex, Segment


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"):
    """Poll *predicate* until it returns something truthy (returned) or *timeout* s pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def sha256_of(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def decoded_pictures(path: str | Path) -> int:
    """How many video frames a recording really decodes to (playable = at least one)."""
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(c.streams.video[0]))


def fetch_metrics(port: int) -> str:
    """The /metrics exposition of an exporter listening on 127.0.0.1:*port*."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        return r.read().decode()


def record_through_pipeline(clip: Path, root: Path, closed: int = 2) -> tuple[list[Segment], int, RecorderStatus]:
    """Play *clip* through the real pipeline into a recorder with 1 s segments until *closed* segments are
    closed; returns every segment written (those after the first *closed* were cut short by the stop)."""
    index = DirectoryIndex(root)
    pipe = CameraPipeline("dock", "Dock", f"file://{clip}")
    rec = CameraRecorder("dock", root, segment_seconds=1.0, reserve_mb=0, index=index)
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    try:
        wait_for(lambda: len(index.added) >= closed, timeout=60, what=f"{closed} closed segments ({rec.status()})")
    finally:
        pipe.stop()
        rec.stop()
    return list(index.added), closed, rec.status()

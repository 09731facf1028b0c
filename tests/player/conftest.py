"""A few recorded segments (made once per session by the real recorder from the lab clip)."""

from __future__ import annotations

import time

import pytest

from app.pipeline.pipeline import CameraPipeline
from app.recording.recorder import CameraRecorder
from app.recording.segments import DirectoryIndex, StoredMotionEvent


@pytest.fixture(scope="session")
def recorded(lab_clip, tmp_path_factory):
    """(root, index, segments): >= 3 closed 2 s segments of camera "play" + two motion events."""
    root = tmp_path_factory.mktemp("recordings")
    index = DirectoryIndex(root)
    pipe = CameraPipeline("play", "Play", f"file://{lab_clip}")
    rec = CameraRecorder("play", root, segment_seconds=2.0, reserve_mb=0, index=index)
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    deadline = time.monotonic() + 90
    try:
        while len(index.added) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        pipe.stop()
        rec.stop()
    segs = sorted(index.added, key=lambda s: s.start)
    assert len(segs) >= 4, rec.status()
    index.add_motion_event(
        StoredMotionEvent("play", segs[1].start + 0.5, segs[1].start + 1.5, 0.2, ((0.1, 0.1, 0.2, 0.2),))
    )
    index.add_motion_event(StoredMotionEvent("play", segs[2].start + 1.0, segs[2].start + 1.8, 0.1))
    return root, index, segs

"""A really full disk under the recorder (a small tmpfs filled with a ballast, so writes fail with ENOSPC, not
a simulated reserve): recording stops with an error in words, the wall's pipeline keeps running, the segments
closed before stay byte-identical and playable, and recording resumes by itself once space is freed."""

from __future__ import annotations

import os
import re

import pytest

from app.pipeline.pipeline import CameraPipeline
from app.pipeline.state import StreamState
from app.recording import recorder as recorder_module
from app.recording.recorder import CameraRecorder
from app.recording.segments import scan_segments
from tests.helpers import decoded_pictures, sha256_of, wait_for
from tests.lab.disk import fill, tiny_disk

pytestmark = pytest.mark.lab


@pytest.fixture
def disk(tmp_path):
    """A real 32 MB file system for the recorder to fill (a tmpfs: mounting needs root, which CI has)."""
    with tiny_disk(tmp_path, size_mb=32) as fs:
        if fs is None:
            if os.environ.get("VIGIL_LAB_STRICT") or os.environ.get("CI"):
                pytest.fail("a tmpfs cannot be mounted here: CI runs as root and must be able to")
            pytest.skip("mounting a tmpfs needs root")
        yield fs


@pytest.mark.parametrize("floor", ["free-space floor", "write error", "short-segment check"])
def test_enospc_stops_recording_in_words_and_keeps_what_was_written(rtsp_lab, disk, monkeypatch, floor):
    """Three guards, each tested alone: free space checked before every fragment is written; (floor 0) the
    error of the write itself, which FFmpeg reports since the recorder flushes every fragment; and (floor 0,
    FFmpeg's default buffered writes, which swallow ENOSPC: only this guard can see it) a closed segment
    smaller than the payload muxed into it."""
    if floor != "free-space floor":
        monkeypatch.setattr(recorder_module, "MIN_FREE_BYTES", 0)
    if floor == "short-segment check":
        buffered = {k: v for k, v in recorder_module.FRAG_OPTIONS.items() if k != "flush_packets"}
        monkeypatch.setattr(recorder_module, "FRAG_OPTIONS", buffered)
    root = disk / "recordings"
    rec = CameraRecorder("dock", root, segment_seconds=1.0, reserve_mb=0)  # no reserve: the disk says no
    pipe = CameraPipeline("dock", "Dock", rtsp_lab.url(1))
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    try:
        wait_for(lambda: len(scan_segments(root)) >= 2, 90, what="two closed segments")
        before = {s.path: sha256_of(s.path) for s in scan_segments(root)}
        ballast = fill(disk)  # the disk is really full now: the recorder's next write gets ENOSPC
        wait_for(lambda: rec.status().state == "error", 30, what="the recorder to report the full disk")
        st = rec.status()
        where = re.escape(str(root))
        words = {  # the guard that saw it says so
            "free-space floor": rf"disk full: \d+ MB free on {where}, recording stopped",
            "write error": rf"disk full on {where}: recording stopped",
            "short-segment check": rf"writes to {where} fail \(disk full or I/O error\): recording stopped",
        }[floor]
        assert re.fullmatch(words, st.reason), st.reason
        assert st.current_path is None
        assert pipe.snapshot().state is StreamState.LIVE  # the wall's camera does not notice
        after = scan_segments(root)
        assert {s.path: sha256_of(s.path) for s in after if s.path in before} == before
        for s in after:  # closed ones untouched; the one cut short by ENOSPC, if kept, plays too
            assert decoded_pictures(s.path) >= 1, s.path
        ballast.unlink()  # space comes back: recording resumes without anyone doing anything
        n = len(after)
        wait_for(lambda: len(scan_segments(root)) > n and rec.status().state != "error", 60, what="recording again")
    finally:
        pipe.stop()
        rec.stop()


def test_motion_recorder_clears_its_disk_error_between_events(rtsp_lab, disk):
    """A motion-mode recorder that hit a full disk says so, and once space is back says it is waiting again
    (its alert clears) without waiting for the next motion event to find out."""
    root = disk / "recordings"
    rec = CameraRecorder("gate", root, mode="motion", segment_seconds=1.0, pre_roll_s=1.0, post_roll_s=0.5,
                         reserve_mb=0)  # fmt: skip
    pipe = CameraPipeline("gate", "Gate", rtsp_lab.url(2))
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    try:
        wait_for(lambda: pipe.snapshot().state is StreamState.LIVE, 30, what="the camera to be LIVE")
        ballast = fill(disk)
        rec.motion(True)  # an event while the disk is full: recording cannot start
        wait_for(lambda: rec.status().state == "error", 30, what="the recorder to report the full disk")
        assert "disk full" in rec.status().reason
        rec.motion(False)
        ballast.unlink()  # space is back; no new motion event comes
        wait_for(lambda: rec.status().state == "waiting", 40, what="the error to clear between events")
        assert rec.status().reason == "" and rec.status().error_since is None
    finally:
        pipe.stop()
        rec.stop()

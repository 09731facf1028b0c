"""Playback core: timeline, seek to a timestamp (PyAV path), play, snapshot, clip export."""

from __future__ import annotations

import itertools
import time

import av
import cv2
import pytest

from app.recording.playback import PyAvPlayback, Timeline, decode_at, export_clip, save_snapshot

pytestmark = pytest.mark.lab


def timeline(index) -> Timeline:
    return Timeline("play", tuple(index.segments("play")), tuple(index.motion_events("play")))


def wait_for(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_timeline_locates_times_and_events(recorded):
    _root, index, segs = recorded
    tl = timeline(index)
    assert len(tl.segments) == len(segs) and len(tl.events) == 2
    assert tl.locate(segs[1].start + 0.7) == (1, pytest.approx(0.7, abs=0.01))  # names keep ms
    assert tl.locate(segs[0].start - 100) == (0, 0.0)
    assert tl.locate(segs[-1].end + 100) is None
    assert tl.next_event(segs[0].start).start == pytest.approx(segs[1].start + 0.5, abs=0.01)
    assert tl.next_event(segs[1].start + 0.6).start == pytest.approx(segs[2].start + 1.0, abs=0.01)
    assert tl.next_event(segs[2].start + 1.5) is None


def test_decode_at_returns_the_picture_at_that_offset(recorded):
    _root, _index, segs = recorded
    f = decode_at(segs[1].path, 1.0)
    with av.open(segs[1].path) as c:
        first = next(float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.pts is not None)
    assert float(f.pts * f.time_base) - first == pytest.approx(1.0, abs=1 / 15 + 1e-3)


def test_pyav_playback_seeks_to_a_timestamp_and_plays(recorded):
    _root, index, segs = recorded
    pb = PyAvPlayback(timeline(index), max_width=320)
    try:
        target = segs[2].start + 1.2
        pb.seek(target)
        assert wait_for(lambda: (f := pb.slot.latest()) is not None and abs(f.pts_s - target) < 0.1)
        frame = pb.slot.latest()
        assert frame.width == 320 and frame.source_width == 640
        pb.set_speed(4.0)
        pb.play()
        assert wait_for(lambda: pb.position is not None and pb.position > target + 1.5)  # crossed into the next
        pb.pause()
        pb.seek(segs[0].start)
        assert wait_for(lambda: abs(pb.slot.latest().pts_s - segs[0].start) < 0.1)
    finally:
        pb.stop()


def test_snapshot_and_clip_export(recorded, tmp_path):
    _root, index, segs = recorded
    png = save_snapshot(segs[0].path, 0.5, tmp_path / "snap.png")
    img = cv2.imread(str(png))
    assert img is not None and img.shape == (360, 640, 3)
    tl = timeline(index)
    start, end = segs[0].start + 1.0, segs[2].start + 1.0  # spans three segments
    out = export_clip(tl, start, end, tmp_path / "clip.mp4")
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        pts = [float(f.pts * f.time_base) for f in c.decode(v)]
    # starts at the keyframe at or before `start` (GOP 1 s): 3.0-4.0 s of pictures, continuous
    span = pts[-1] - pts[0]
    assert 2.8 <= span <= 4.1, span
    steps = [b - a for a, b in itertools.pairwise(pts)]
    assert max(steps) < 0.2  # no hole at the segment joins
    assert not (tmp_path / "clip.mp4.part").exists()
    with pytest.raises(ValueError, match="no recording"):
        export_clip(tl, segs[-1].end + 10, segs[-1].end + 20, tmp_path / "none.mp4")

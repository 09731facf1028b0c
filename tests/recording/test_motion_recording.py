"""Motion-triggered recording end to end: Runtime + install() wiring + a real SQLite store. The
MotionService (not the test) triggers the recorder on a clip that is still, then moves, then is still.
Also: unsafe camera ids never become paths."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import av
import pytest

from app.compose import add_recording, add_store
from app.config import AppConfig, CameraConfig, CameraRecordingSettings, MotionSettings, RecordingSettings
from app.paths import Paths
from app.recording.segments import DirectoryIndex, check_camera_id, part_path, scan_segments
from app.runtime import Runtime
from app.store import repository

MOVE_FROM, MOVE_TO = 5.0, 7.0  # seconds into the clip the white square moves


def wait_for(cond, timeout=60.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


@pytest.fixture(scope="module")
def still_move_still_clip(tmp_path_factory) -> Path:
    """20 s H.264 (1 s GOP, 15 fps): grey with a white square that moves only from 5 to 7 s."""
    out = tmp_path_factory.mktemp("clip") / "still_move_still.mp4"
    x = f"if(between(t,{MOVE_FROM},{MOVE_TO}),20+(t-{MOVE_FROM})*120,20)"
    graph = (f"color=c=0x505050:size=320x180:rate=15:d=20[bg];color=c=white:size=40x40:rate=15:d=20[sq];"
             f"[bg][sq]overlay=x='{x}':y=70")  # fmt: skip
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph, "-c:v", "libx264",
                    "-preset", "veryfast", "-g", "15", "-keyint_min", "15", "-sc_threshold", "0", "-bf", "0",
                    "-pix_fmt", "yuv420p", str(out)], check=True, timeout=120)  # fmt: skip
    return out


def test_motion_service_triggers_a_recording_with_pre_roll_and_stores_the_event(still_move_still_clip, tmp_path):
    pre_roll = 2.0
    cam = CameraConfig(
        id="yard", name="Yard", url=f"file://{still_move_still_clip}",
        motion=MotionSettings(enabled=True, analysis_fps=5, sensitivity=0.6, min_area_percent=0.2, end_hold_s=1.0),
        recording=CameraRecordingSettings(mode="motion", pre_roll_s=pre_roll, post_roll_s=1.0),
    )  # fmt: skip
    cfg = AppConfig(cameras=[cam], recording=RecordingSettings(segment_seconds=30, reserve_mb=0, min_free_gb=0))
    paths = Paths(tmp_path / "vigil.json", tmp_path, tmp_path / "rec", tmp_path / "logs")
    rt = Runtime(config=cfg, paths=paths)
    add_store(rt)  # real SQLite file under tmp_path
    recorder = add_recording(rt)
    motion = rt.motion
    events = []
    motion.subscribe(events.append)
    root = tmp_path / "rec"
    started = time.monotonic()
    rt.start()
    try:
        assert wait_for(lambda: any(e.end is not None for e in events), timeout=60), (events, motion.states())
        assert wait_for(lambda: len(scan_segments(root, "yard")) == 1, timeout=30), recorder.statuses()
        # until the square moved nothing was recorded (the clip loops after 20 s: stop before that)
        assert time.monotonic() - started < 19.5
    finally:
        rt.stop()
    begin = next(e for e in events if e.end is None)
    end = next(e for e in events if e.end is not None)
    assert begin.start == end.start and end.end > end.start and end.peak_score > 0
    (seg,) = scan_segments(root, "yard")
    # pre-roll: the segment starts at least pre_roll_s before motion was detected, at a keyframe
    assert seg.start <= begin.start - pre_roll + 0.1, (seg.start, begin.start)
    assert seg.start >= begin.start - pre_roll - 1.2  # ... and at most one GOP earlier
    assert seg.end >= end.end  # post-roll: kept recording after motion ended
    with av.open(seg.path) as c:
        first = next(p for p in c.demux(c.streams.video[0]) if p.size)
        assert first.is_keyframe
    with av.open(seg.path) as c:
        n = sum(1 for _ in c.decode(video=0))
    assert n >= (pre_roll + (MOVE_TO - MOVE_FROM)) * 15 - 5, n
    # the event in motion.jsonl (what the player reads) and in the store
    (line,) = (root / "yard" / "motion.jsonl").read_text().splitlines()
    stored = json.loads(line)
    assert stored["camera_id"] == "yard" and stored["start"] == pytest.approx(begin.start, abs=1e-3)
    assert stored["boxes"] and all(0 <= v <= 1 for b in stored["boxes"] for v in b)
    assert DirectoryIndex(root).motion_events("yard")[0].end == pytest.approx(end.end, abs=1e-3)
    store2 = add_store(Runtime(config=cfg, paths=paths))  # read back from the file with a fresh store
    store2.start()
    try:
        assert store2.wait_ready(30)
        evs = store2.query(repository.motion_events, "yard", 0, 2e9).result(30)
        segs = store2.query(repository.recording_segments, "yard", 0, 2e9).result(30)
    finally:
        store2.stop()
    assert len(evs) == 1 and evs[0]["started_at"] == pytest.approx(begin.start, abs=1e-3)
    assert [s["path"] for s in segs] == [seg.path]


@pytest.mark.parametrize("bad", ["../evil", "a/b", "/abs", "cam\0x", "..", "", "Cam", "cam.", "a" * 65, "x\\y"])
def test_unsafe_camera_ids_are_refused_never_turned_into_paths(tmp_path, bad):
    root = tmp_path / "rec"
    root.mkdir()
    with pytest.raises(ValueError, match="not a safe file name"):
        check_camera_id(bad)
    with pytest.raises(ValueError, match="not a safe file name"):
        part_path(root, bad, 1_700_000_000.0)
    with pytest.raises(ValueError, match="not a safe file name"):
        scan_segments(root, bad)
    from app.recording.segments import StoredMotionEvent

    with pytest.raises(ValueError, match="not a safe file name"):
        DirectoryIndex(root).add_motion_event(StoredMotionEvent(bad, 1.0, 2.0, 0.1))
    assert list(tmp_path.rglob("*")) == [root]  # nothing written anywhere


def test_a_camera_folder_linked_outside_the_root_is_refused(tmp_path):
    root, outside = tmp_path / "rec", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "cam1")
    with pytest.raises(ValueError, match="escapes the recordings root"):
        part_path(root, "cam1", 1_700_000_000.0)
    assert part_path(root, "cam2", 1_700_000_000.0).is_relative_to(root.resolve())

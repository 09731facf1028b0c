"""Recording from the real lab servers (RTSP, RTMP, HLS): playable segments, right length, no gaps,
and a kill -9 leaves every closed segment playable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from app.pipeline.pipeline import CameraPipeline
from app.recording.recorder import CameraRecorder, recover_parts
from app.recording.segments import DirectoryIndex, parse_segment, scan_segments

pytestmark = pytest.mark.lab

SEG_S = 2.0


def wait_for(cond, timeout=60.0, step=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step)
    return cond()


def video_pts(path: str) -> tuple[list[float], float]:
    """(pts in seconds of every decoded picture, frame duration) — decoding proves it is playable."""
    with av.open(path) as c:
        v = c.streams.video[0]
        pts = [float(f.pts * f.time_base) for f in c.decode(v)]
        rate = float(v.average_rate or v.guessed_rate or 15)
    return pts, 1.0 / rate


def record(url: str, root: Path, n_segments: int = 3, **kw) -> list:
    index = DirectoryIndex(root)
    pipe = CameraPipeline("labcam", "Lab cam", url)
    rec = CameraRecorder("labcam", root, segment_seconds=SEG_S, reserve_mb=0, index=index, **kw)
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    try:
        assert wait_for(lambda: len(index.added) >= n_segments, timeout=90), (
            f"only {len(index.added)} segments; status {rec.status()} pipeline {pipe.snapshot().reason}"
        )
    finally:
        pipe.stop()
        rec.stop()
    return list(index.added)


@pytest.fixture(params=["rtsp", "rtmp", "hls"])
def lab_url(request) -> str:
    if request.param == "rtsp":
        return request.getfixturevalue("rtsp_lab").url(2)
    if request.param == "rtmp":
        return request.getfixturevalue("rtmp_lab").url
    return request.getfixturevalue("hls_lab").variant_url("360p")


def test_recording_makes_playable_gapless_segments(lab_url, tmp_path):
    segs = record(lab_url, tmp_path)
    assert not list(tmp_path.rglob("*.part"))  # all closed and renamed
    closed = segs[:-1]  # the last one was cut short by the stop
    prev_last = None
    for s in segs:
        assert Path(s.path).exists() and s.path.endswith(".mp4")
        assert parse_segment(Path(s.path)) is not None
        pts, frame = video_pts(s.path)
        assert len(pts) >= (2 if s in closed else 1), f"{s.path} has {len(pts)} pictures"
        with av.open(s.path) as c:
            first = next(p for p in c.demux(c.streams.video[0]) if p.size)
            assert first.is_keyframe  # a segment starts at a keyframe: it plays from its start
        span = pts[-1] - pts[0] + frame
        assert abs(span - s.duration) < 0.15, (span, s.duration)  # the name's duration is the file's
        assert s.duration > 0
        if s in closed:
            # cut at the first keyframe after SEG_S: at least SEG_S, at most one GOP (<= 2 s here) more
            assert SEG_S - 0.1 <= s.duration <= SEG_S + 2.1, s.duration
        if prev_last is not None:
            gap = pts[0] - prev_last
            assert abs(gap - frame) < frame * 0.6, f"gap of {gap:.3f} s between segments (frame {frame:.3f} s)"
        prev_last = pts[-1]


def test_motion_mode_writes_pre_roll_from_a_keyframe_and_stops_after_post_roll(rtsp_lab, tmp_path):
    index = DirectoryIndex(tmp_path)
    pipe = CameraPipeline("labcam", "Lab cam", rtsp_lab.url(3))
    rec = CameraRecorder("labcam", tmp_path, mode="motion", segment_seconds=30, pre_roll_s=2.0, post_roll_s=1.0,
                         reserve_mb=0, index=index)  # fmt: skip
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    try:
        assert wait_for(lambda: pipe.snapshot().frames_decoded_total > 60, timeout=60)  # > 2 s buffered
        assert not index.added and rec.status().state == "waiting"
        t_start = time.time()
        rec.motion(True)
        time.sleep(1.0)
        rec.motion(False)
        assert wait_for(lambda: len(index.added) == 1, timeout=30), rec.status()
    finally:
        pipe.stop()
        rec.stop()
    s = index.added[0]
    assert s.start <= t_start - 1.9  # pre-roll: at least 2 s before the event, from a keyframe
    # 2-3 s pre-roll (GOP 1 s) + 1 s motion + 1 s post-roll (ends at the next keyframe)
    assert 3.5 <= s.duration <= 6.5, s.duration
    pts, _ = video_pts(s.path)
    assert len(pts) >= 40


def test_kill_9_leaves_every_closed_segment_playable(rtsp_lab, tmp_path):
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("record_child.py")), str(tmp_path),
                              f"crash={rtsp_lab.url(4)}"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        assert wait_for(lambda: len(scan_segments(tmp_path)) >= 2, timeout=90)
        time.sleep(1.3)  # die in the middle of a segment
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    closed = scan_segments(tmp_path)
    assert len(closed) >= 2
    for s in closed:
        pts, _ = video_pts(s.path)
        assert len(pts) >= 25, f"{s.path}: {len(pts)} pictures"
    parts = list(tmp_path.rglob("*.part"))
    assert len(parts) == 1  # the open one
    recovered = recover_parts(tmp_path)
    # the torn segment keeps its complete fragments (one GOP lost at most) or is dropped if it had none
    for s in recovered:
        pts, _ = video_pts(s.path)
        assert len(pts) >= 1
    assert not list(tmp_path.rglob("*.part"))
    assert len(scan_segments(tmp_path)) == len(closed) + len(recovered)


def test_source_without_timestamps_is_recorded_with_arrival_times(rtsp_server_factory, lab_clip, tmp_path):
    # the lab's clip-serving RTSP mounts send pts 0 on every packet (like some cheap cameras)
    srv = rtsp_server_factory(mounts=1, clip=lab_clip, overlay=False)
    segs = record(srv.url(1), tmp_path, n_segments=2)
    for s in segs[:-1]:
        pts, _ = video_pts(s.path)
        assert len(pts) >= 20 and pts == sorted(pts) and len(set(pts)) == len(pts)
        assert SEG_S - 0.2 <= s.duration <= SEG_S + 2.5, s.duration

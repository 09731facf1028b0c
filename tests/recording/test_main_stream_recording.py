"""Evidence is the main stream: a camera with a 1280x720 main and a 640x360 sub-stream records 1280x720
(ffprobe on the written segment), the wall shows the sub-stream, and focusing the camera decodes from the
recording's own connection (counted at the lab server) instead of opening a second one."""

from __future__ import annotations

import json
import subprocess

import pytest

from app import compose
from app.config import AppConfig, CameraConfig, CameraRecordingSettings, PipelineSettings, RecordingSettings
from app.paths import Paths
from app.pipeline.supervisor import MAIN, TILE
from app.recording.segments import scan_segments
from app.runtime import Runtime
from tests.helpers import wait_for

FAST = PipelineSettings(open_timeout_s=5, read_timeout_s=5, stall_after_s=3, backoff_initial_s=0.3, backoff_cap_s=2)


def _established(port: int) -> int:
    """TCP connections to the lab server's RTSP port (one per RTSP session over TCP)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return len([line for line in out.splitlines() if line.strip()])


def _probe(path: str) -> tuple[int, int]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                          "-of", "json", path], capture_output=True, text=True, check=True).stdout  # fmt: skip
    s = json.loads(out)["streams"][0]
    return s["width"], s["height"]


@pytest.mark.lab
def test_recording_is_the_main_stream_and_focus_reuses_its_connection(rtsp_server_factory, tmp_path):
    main_srv = rtsp_server_factory(size="1280x720", fps=15)
    sub_srv = rtsp_server_factory(size="640x360", fps=15)
    cam = CameraConfig(id="gate", name="Gate", url=main_srv.url(1), sub_url=sub_srv.url(1),
                       recording=CameraRecordingSettings(mode="continuous"))  # fmt: skip
    cfg = AppConfig(cameras=[cam], pipeline=FAST, recording=RecordingSettings(segment_seconds=2, reserve_mb=0))
    rt = Runtime(cfg, Paths(tmp_path / "v.json", tmp_path, tmp_path / "rec", tmp_path / "logs"))
    compose.add_recording(rt)
    rt.start()
    try:
        sup = rt.supervisor
        wait_for(lambda: sup.snapshots()["gate"].is_live, what="the tile (sub-stream) live")
        tile, main = sup.pipeline("gate", TILE), sup.pipeline("gate", MAIN)
        assert main is not None and main.variant == MAIN  # the recording's own connection, before any focus
        wait_for(lambda: len(scan_segments(tmp_path / "rec", "gate")) >= 1, timeout=60, what="a closed segment")
        seg = scan_segments(tmp_path / "rec", "gate")[0]
        assert _probe(seg.path) == (1280, 720)  # evidence at the main stream's resolution
        assert tile.snapshot().resolution == "640x360"
        # not focused: the recording pipeline decodes keyframes only (health, at a fraction of the cost)
        wait_for(lambda: main.snapshot().is_live, what="the main pipeline LIVE on keyframes")
        assert main.snapshot().keyframes_only
        wait_for(lambda: _established(main_srv.port) == 1, timeout=10, what="one session at the main server")
        # focus: the view decodes from that same connection, every frame
        assert sup.open_main("gate") is main
        main.set_output_size(1280, 720)
        wait_for(lambda: main.snapshot().fps_decoded >= 10, timeout=20, what="full-rate decoding when focused")
        assert _established(main_srv.port) == 1  # no second connection
        sup.close_main("gate")
        assert sup.pipeline("gate", MAIN) is main and main.snapshot().keyframes_only  # kept, back to keyframes
        n = len(scan_segments(tmp_path / "rec", "gate"))
        wait_for(lambda: len(scan_segments(tmp_path / "rec", "gate")) > n, timeout=30, what="recording goes on")
        # the sub-stream is not what is recorded
        assert all(_probe(s.path) == (1280, 720) for s in scan_segments(tmp_path / "rec", "gate"))
    finally:
        rt.stop()
    assert _established(main_srv.port) == 0


def test_cameras_without_a_sub_stream_or_set_to_sub_record_their_tile_stream():
    from app.pipeline.supervisor import recording_variant

    rec = CameraRecordingSettings(mode="continuous")
    assert recording_variant(CameraConfig(name="A", url="rtsp://h/a", recording=rec)) == TILE
    assert recording_variant(CameraConfig(name="B", url="rtsp://h/main", sub_url="rtsp://h/sub", recording=rec)) == MAIN
    sub = CameraRecordingSettings(mode="continuous", stream="sub")
    assert recording_variant(CameraConfig(name="C", url="rtsp://h/main", sub_url="rtsp://h/sub", recording=sub)) == TILE
    off = CameraConfig(name="D", url="rtsp://h/main", sub_url="rtsp://h/sub")
    assert recording_variant(off) == TILE  # not recording: no second connection at all

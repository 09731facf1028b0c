"""Recordings are bit-exact whatever the RTSP packetizer does: SPS/PPS in-band before every IDR (packets of
one timestamp) and pictures in several slices, from GStreamer's rtph264pay. Every recorded segment decodes
with zero FFmpeg warnings, and the pipeline's figures count pictures, not packets."""

from __future__ import annotations

import subprocess

import pytest

from app.config import AppConfig, CameraConfig, CameraRecordingSettings, PipelineSettings, RecordingSettings
from app.paths import Paths
from app.recording.segments import scan_segments
from app.runtime import Runtime
from tests.helpers import decoded_pictures, wait_for

FAST = PipelineSettings(open_timeout_s=5, read_timeout_s=5, stall_after_s=3, backoff_initial_s=0.3, backoff_cap_s=2)


def _warnings(path: str) -> list[str]:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "warning", "-i", path, "-f", "null", "-"], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    return [line for line in r.stderr.splitlines() if line.strip()]


@pytest.mark.lab
@pytest.mark.parametrize(("config_interval", "slices"), [(-1, 0), (1, 4), (-1, 4)],
                         ids=["sps-pps-every-idr", "four-slices", "both"])  # fmt: skip
def test_recording_decodes_cleanly_and_figures_count_pictures(rtsp_server_factory, tmp_path, config_interval, slices):
    from app import compose

    srv = rtsp_server_factory(size="1280x720", fps=15, config_interval=config_interval, slices=slices,
                              bitrate_kbps=1500)  # fmt: skip
    cam = CameraConfig(id="dock", name="Dock", url=srv.url(1), recording=CameraRecordingSettings(mode="continuous"))
    cfg = AppConfig(cameras=[cam], pipeline=FAST, recording=RecordingSettings(segment_seconds=2, reserve_mb=0))
    rt = Runtime(cfg, Paths(tmp_path / "v.json", tmp_path, tmp_path / "rec", tmp_path / "logs"))
    compose.add_recording(rt)
    rt.start()
    try:
        wait_for(lambda: len(scan_segments(tmp_path / "rec", "dock")) >= 3, timeout=90, what="three segments")
        snap = rt.supervisor.snapshots()["dock"]
        status = rt.recording.statuses()["dock"]
    finally:
        rt.stop()
    # the figures count pictures: 15 fps (not packets per second), a 1 s GOP (not the gap between packets)
    assert snap.fps_received == pytest.approx(15, rel=0.1), snap
    assert snap.keyframe_interval_s == pytest.approx(1.0, rel=0.15), snap
    assert status.packets_dropped == 0, status
    for seg in scan_segments(tmp_path / "rec", "dock"):
        assert _warnings(seg.path) == [], seg.path
        assert decoded_pictures(seg.path) >= 15 * seg.duration * 0.9, seg

"""Recorded MP4s carry the sample-entry tag players expect: ``hvc1`` for HEVC (QuickTime and Apple devices
refuse FFmpeg's default ``hev1``), ``avc1`` for H.264; and they decode without one FFmpeg warning.

The source is an MPEG-TS file (as a camera's stream: no codec tag of its own, parameter sets in band
before every IDR) played through the real pipeline, paced to real time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import decoded_pictures, record_through_pipeline

pytestmark = pytest.mark.lab

ENCODERS = {
    "hevc": ["-c:v", "libx265", "-x265-params", "keyint=15:min-keyint=15:scenecut=0:bframes=0:log-level=error"],
    "h264": ["-c:v", "libx264", "-g", "15", "-keyint_min", "15", "-sc_threshold", "0", "-bf", "0"],
}


def _ts_clip(path: Path, codec: str) -> Path:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15",
           "-t", "4", *ENCODERS[codec], "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-b:v", "300k",
           "-f", "mpegts", str(path)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"cannot encode the {codec} clip: {r.stderr[-500:]}")
    return path


def _stream_tag(path: str) -> str:
    r = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_tag_string",
                        "-of", "default=noprint_wrappers=1:nokey=1", path],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    return r.stdout.strip()


def _warnings(path: str) -> list[str]:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "warning", "-i", path, "-f", "null", "-"], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    return [line for line in r.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize(("codec", "tag"), [("hevc", "hvc1"), ("h264", "avc1")])
def test_recorded_segments_carry_the_tag_players_expect_and_decode_cleanly(tmp_path, codec, tag):
    clip = _ts_clip(tmp_path / f"clip_{codec}.ts", codec)
    segs, closed, _status = record_through_pipeline(clip, tmp_path / "rec")
    for seg in segs:
        assert _stream_tag(seg.path) == tag, seg.path
        assert _warnings(seg.path) == [], seg.path
        assert decoded_pictures(seg.path) >= (14 if seg in segs[:closed] else 1), seg.path

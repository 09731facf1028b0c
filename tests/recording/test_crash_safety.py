"""What a segment being written already holds *on disk* (what a ``kill -9`` would leave): every fragment
reaches the file as it is emitted, so the media on disk trails the newest packet by less than a fragment,
whatever the bitrate and whether or not the audio keeps coming.

In-process and without a lab: packets of an encoded file are handed to a real ``CameraRecorder`` as the
pipeline hands them over; the open ``.part`` is read while the recorder still has it open, cut to its
complete fragments (as recovery does) and demuxed. Before the recorder flushed each fragment, FFmpeg's
256 KiB output buffer held all of a low-bitrate segment, and its interleaver held 10 s of video once a
camera's audio stopped."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from app.recording import fmp4
from app.recording.recorder import FRAGMENT_S, CameraRecorder
from tests.helpers import wait_for

FPS = 15
SECONDS = 6.0
# the fragment being gathered (FRAGMENT_S, rounded up to whole pictures), the picture being joined (one
# frame: its end is only known when the next one arrives) and FFmpeg's interleaving window (0.1 s)
BOUND_S = FRAGMENT_S + 2 / FPS + 0.1


def _source(path: Path, audio_until_s: float | None) -> Path:
    """A quiet camera: a still picture (a few kbit/s of H.264, 2 s GOP); optionally AAC audio that stops."""
    with av.open(str(path), "w", format="matroska") as out:
        v = out.add_stream("libx264", rate=FPS, options={"g": str(2 * FPS), "bf": "0", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = 320, 180, "yuv420p"
        a = out.add_stream("aac", rate=16000, layout="mono") if audio_until_s is not None else None
        still = np.full((180, 320, 3), 90, np.uint8)
        samples = 0
        for i in range(round(SECONDS * FPS)):
            frame = av.VideoFrame.from_ndarray(still, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(v.encode(frame))
            while a is not None and samples < min(i / FPS, audio_until_s) * 16000:
                tone = np.sin(np.arange(samples, samples + 1024) * 0.2).astype(np.float32)[None, :] * 0.1
                af = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
                af.sample_rate, af.pts, af.time_base = 16000, samples, Fraction(1, 16000)
                out.mux(a.encode(af))
                samples += 1024
        out.mux(v.encode())
        if a is not None:
            out.mux(a.encode())
    return path


def _video_end_on_disk(part: Path) -> float | None:
    """The newest picture time in what the open segment holds on disk, cut to its complete fragments."""
    data = part.read_bytes()
    layout = fmp4.scan(io.BytesIO(data))
    if not layout.playable:
        return None
    with av.open(io.BytesIO(data[: layout.complete_end]), format="mp4") as c:
        return max(float(p.pts * p.time_base) for p in c.demux(c.streams.video[0]) if p.pts is not None)


@pytest.mark.parametrize("audio_until_s", [None, 1.0], ids=["quiet-video-only", "audio-stops-after-1s"])
def test_every_fragment_is_on_disk_as_soon_as_it_is_written(tmp_path, audio_until_s):
    src = _source(tmp_path / "camera.mkv", audio_until_s)
    rec = CameraRecorder("dock", tmp_path / "rec", segment_seconds=60, reserve_mb=0)
    rec.start()
    try:
        with av.open(str(src)) as c:
            rec.on_open(c)
            newest = 0.0
            for pkt in c.demux():
                if pkt.size == 0 or pkt.pts is None:
                    continue
                rec.on_packet(pkt)
                if pkt.stream.type == "video":
                    newest = max(newest, float(pkt.pts * pkt.time_base))
        part = wait_for(lambda: next((tmp_path / "rec").rglob("*.mp4.part"), None), timeout=10, what="the segment")
        assert newest > SECONDS - 0.2
        # the recorder still has the segment open: nothing has been closed or finalised
        end = wait_for(lambda: (e := _video_end_on_disk(part)) is not None and newest - e <= BOUND_S and e,
                       timeout=10, what=f"the segment on disk to reach {newest - BOUND_S:.2f} s "
                                        f"(on disk: {_video_end_on_disk(part)} s of {newest:.2f} s)")  # fmt: skip
        assert newest - end <= BOUND_S
        assert part.stat().st_size < 256 * 1024  # all of it would have sat in FFmpeg's buffer before
    finally:
        rec.stop()

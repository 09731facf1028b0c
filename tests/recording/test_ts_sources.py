"""Recordings of MPEG-TS sources (HLS segments, TS over HTTP or UDP) decode with zero FFmpeg warnings.

- AAC in ADTS framing (a header on every frame, as TS carries it) is converted for MP4 by FFmpeg's
  ``aac_adtstoasc``: before, the first audio packet made the MP4 muxer fail ("recording failed: Operation
  not permitted") and nothing more was recorded.
- An audio stream MP4 cannot hold is left out and the video recorded alone, with a status that says so.
- A segment that starts at an HEVC CRA (open GOP, x265's default) holds none of the RASL pictures that follow
  the CRA and reference the previous segment: every sample recorded is a picture a decoder shows.

The sources are files made with the ffmpeg CLI, played through the real pipeline (paced to real time) or
handed to the recorder packet by packet as the pipeline does."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import pytest

from app.recording import recorder as recorder_module
from app.recording.recorder import CameraRecorder, RecorderStatus, hevc_picture_type
from app.recording.segments import DirectoryIndex, Segment
from tests.helpers import decoded_pictures, record_through_pipeline

VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=15"]
TONE = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
H264 = ["-c:v", "libx264", "-g", "15", "-bf", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
# x265's defaults as a camera uses them: open GOP (CRA keyframes followed by RASL pictures), B-frames
HEVC_OPEN_GOP = ["-c:v", "libx265", "-x265-params", "keyint=15:min-keyint=15:open-gop=1:bframes=3:log-level=error",
                 "-pix_fmt", "yuv420p", "-b:v", "300k"]  # fmt: skip
RASL = {8, 9}
CRA = 21


def _encode(path: Path, *args: str, seconds: float = 4) -> Path:
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", *args, "-t", str(seconds), "-f", "mpegts", str(path)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"cannot make {path.name}: {r.stderr[-500:]}")
    return path


def _warnings(path: str) -> list[str]:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "warning", "-i", path, "-f", "null", "-"], capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    return [line for line in r.stderr.splitlines() if line.strip()]


def _streams(path: str) -> dict[str, dict]:
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                        "stream=codec_type,codec_name,profile,sample_rate,extradata_size", "-of", "json", path],
                       capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return {s["codec_type"]: s for s in json.loads(r.stdout)["streams"]}


def _audio_samples(path: str) -> int:
    with av.open(path) as c:
        return sum(f.samples for f in c.decode(c.streams.audio[0]))


def _video_samples(path: str) -> list[bytes]:
    with av.open(path) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def _record_directly(clip: Path, root: Path) -> tuple[list[Segment], RecorderStatus]:
    """Hand every packet of *clip* to a recorder as the pipeline does (unpaced), then close the stream."""
    index = DirectoryIndex(root)
    rec = CameraRecorder("dock", root, segment_seconds=1.0, reserve_mb=0, index=index)
    rec.start()
    try:
        with av.open(str(clip)) as c:
            rec.on_open(c)
            for pkt in c.demux():
                if pkt.size:
                    rec.on_packet(pkt)
            rec.on_close()
    finally:
        rec.stop()  # writes what is queued first
    return list(index.added), rec.status()


@pytest.mark.lab
def test_aac_in_adts_from_mpegts_is_recorded_and_decodes_cleanly(tmp_path):
    clip = _encode(tmp_path / "h264_aac.ts", *VIDEO, *TONE, *H264, "-c:a", "aac", "-b:a", "64k")
    assert _streams(str(clip))["audio"].get("extradata_size", 0) == 0  # ADTS: the config is in every frame
    segs, closed, status = record_through_pipeline(clip, tmp_path / "rec")
    assert status.state != "error", status
    assert status.audio == "recorded", status
    assert status.packets_dropped == 0, status
    for seg in segs:
        streams = _streams(seg.path)
        assert streams["video"]["codec_name"] == "h264", seg.path
        audio = streams.get("audio")
        assert audio is not None and audio["codec_name"] == "aac", (seg.path, streams)
        assert audio["sample_rate"] == "48000" and audio["extradata_size"] == 2, audio  # the AudioSpecificConfig
        assert _warnings(seg.path) == [], seg.path
    for seg in segs[:closed]:  # a whole segment: all of its pictures and all of its sound
        assert seg.has_audio, seg
        assert _streams(seg.path)["audio"]["profile"] == "LC", seg.path
        assert decoded_pictures(seg.path) >= 14, seg.path
        assert _audio_samples(seg.path) >= 0.85 * 48000 * seg.duration, seg


@pytest.mark.lab
def test_hevc_open_gop_segments_hold_no_undecodable_leading_picture(tmp_path):
    clip = _encode(tmp_path / "hevc_open_gop.ts", *VIDEO, *HEVC_OPEN_GOP)
    with av.open(str(clip)) as c:  # the source really is open GOP: CRA keyframes followed by RASL pictures
        source = [hevc_picture_type(bytes(p)) for p in c.demux(c.streams.video[0]) if p.size]
    assert CRA in source and RASL & set(source), source
    segs, closed, status = record_through_pipeline(clip, tmp_path / "rec", closed=3)
    assert status.state != "error", status
    assert status.packets_dropped == 0, status
    started_at_cra = 0
    for seg in segs:
        assert _warnings(seg.path) == [], seg.path
        # the samples are length-prefixed in MP4 (hvcC: 4-byte lengths)
        types = [hevc_picture_type(s, 4) for s in _video_samples(seg.path)]
        if types[0] == CRA:
            started_at_cra += 1
            assert types[1] not in RASL, (seg.path, types)  # before: RASL_R, RASL_N (and one more RASL_N)
        # every sample is a picture a decoder shows (before: the two or three RASL pictures after the CRA
        # were in the file, and every decoder had to discard them)
        assert decoded_pictures(seg.path) == len(types), (seg.path, types)
    assert started_at_cra >= 2, [s.path for s in segs]
    for seg in segs[:closed]:
        assert decoded_pictures(seg.path) >= 11, seg.path


# TS audio that MP4 holds as it comes, and audio it cannot hold (then the video is recorded alone)
TS_AUDIO = {
    "mp2": (["-c:a", "mp2"], True),
    "mp3": (["-c:a", "libmp3lame"], True),
    "ac3": (["-c:a", "ac3"], True),
    "aac-latm": (["-c:a", "aac", "-mpegts_flags", "latm"], False),  # DVB's LOAS/LATM framing: no MP4 sample entry
    "s302m": (["-c:a", "s302m", "-ac", "2", "-strict", "-2"], False),  # SMPTE 302M PCM
}


@pytest.mark.lab
@pytest.mark.parametrize("name", list(TS_AUDIO))
def test_other_ts_audio_is_recorded_or_left_out_never_stopping_the_video(tmp_path, name):
    args, recordable = TS_AUDIO[name]
    clip = _encode(tmp_path / f"{name}.ts", *VIDEO, *TONE, *H264, *args, seconds=3)
    segs, status = _record_directly(clip, tmp_path / "rec")
    assert status.state != "error", status
    assert len(segs) >= 2, segs
    if recordable:
        assert status.audio == "recorded", status
    else:
        assert status.audio.startswith("not recorded: "), status
    for seg in segs:
        assert seg.has_audio is recordable, seg
        assert ("audio" in _streams(seg.path)) is recordable, seg.path
        assert _warnings(seg.path) == [], seg.path
        assert decoded_pictures(seg.path) >= 14, seg.path


@pytest.mark.lab
def test_a_ts_audio_pid_without_packets_leaves_the_video_recording(tmp_path):
    """The PMT lists an AAC stream that never carries a packet (a camera with its microphone off): the
    demuxer cannot tell its sample rate, and the MP4 muxer refuses a header with it. Before, every segment
    failed ("recording failed: Invalid argument"), retried every 10 s."""
    clip = _encode(tmp_path / "h264_aac.ts", *VIDEO, *TONE, *H264, "-c:a", "aac", seconds=3)
    audio_pid = 0x101  # ffmpeg's mpegts muxer: video 0x100, audio 0x101
    data = clip.read_bytes()
    packets = [data[i : i + 188] for i in range(0, len(data), 188)]
    silent = tmp_path / "silent_audio_pid.ts"
    silent.write_bytes(b"".join(q for q in packets if ((q[1] & 0x1F) << 8 | q[2]) != audio_pid))
    assert _streams(str(silent))["audio"]["sample_rate"] == "0"
    segs, status = _record_directly(silent, tmp_path / "rec")
    assert status.state != "error", status
    assert status.audio.startswith("not recorded: aac: the MP4 muxer refuses it"), status
    assert len(segs) >= 2, segs
    for seg in segs:
        assert "audio" not in _streams(seg.path), seg.path
        assert _warnings(seg.path) == [], seg.path
        assert decoded_pictures(seg.path) >= 14, seg.path


@dataclass
class _FakePacket:
    """What the recorder reads of a demuxed packet, for a payload no muxer would produce."""

    data: bytes
    stream_index: int
    pts: int
    time_base: Fraction
    is_keyframe: bool = True

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def dts(self) -> int:
        return self.pts

    def __bytes__(self) -> bytes:
        return self.data


@pytest.mark.lab
def test_audio_the_muxer_refuses_is_left_out_and_the_video_goes_on(tmp_path, monkeypatch):
    clip = _encode(tmp_path / "h264_aac.ts", *VIDEO, *TONE, *H264, "-c:a", "aac", seconds=3)
    # the ADTS frames reach the muxer unconverted: it refuses the first one (EPERM), as before the fix
    monkeypatch.setattr(recorder_module._AdtsToAsc, "convert", lambda self, data: data)
    segs, status = _record_directly(clip, tmp_path / "rec")
    assert status.state != "error", status
    assert status.audio.startswith("not recorded: aac: the MP4 muxer refuses its packets"), status
    assert len(segs) >= 2, segs
    for seg in segs:
        assert not seg.has_audio, seg
        assert _warnings(seg.path) == [], seg.path
        assert decoded_pictures(seg.path) >= 14, seg.path


@pytest.mark.lab
def test_an_audio_packet_the_adts_filter_cannot_read_is_counted_and_left_out(tmp_path):
    clip = _encode(tmp_path / "h264_aac.ts", *VIDEO, *TONE, *H264, "-c:a", "aac", seconds=3)
    index = DirectoryIndex(tmp_path / "rec")
    rec = CameraRecorder("dock", tmp_path / "rec", segment_seconds=1.0, reserve_mb=0, index=index)
    rec.start()
    try:
        with av.open(str(clip)) as c:
            rec.on_open(c)
            a = c.streams.audio[0]
            for i, pkt in enumerate(c.demux()):
                if pkt.size:
                    rec.on_packet(pkt)
                if i == 40:  # an ADTS sync word and then nothing a frame needs
                    rec.on_packet(_FakePacket(b"\xff\xf1\x50", a.index, pkt.pts, pkt.time_base))
            rec.on_close()
    finally:
        rec.stop()
    status = rec.status()
    assert status.state != "error", status
    assert status.audio == "recorded" and status.packets_dropped == 1, status
    assert index.added and all(seg.has_audio for seg in index.added), index.added
    for seg in index.added:
        assert _warnings(seg.path) == [], seg.path


def _annexb(*nals: bytes) -> bytes:
    return b"".join(b"\x00\x00\x00\x01" + n for n in nals)


def _nal(nal_type: int, payload: bytes = b"\xaf\x13") -> bytes:
    return bytes([nal_type << 1, 0x01]) + payload


def test_hevc_picture_type_reads_the_first_slice_past_parameter_sets_and_sei():
    big_sei = _nal(39, b"\x05" + b"\x11" * 3000)  # an encoder's settings, kilobytes before the slice
    au = [_nal(35), _nal(32), _nal(33), _nal(34), big_sei, _nal(CRA), _nal(CRA)]
    assert hevc_picture_type(_annexb(*au)) == CRA
    assert hevc_picture_type(b"\x00\x00\x01" + _nal(9)) == 9  # a 3-byte start code
    assert hevc_picture_type(_annexb(_nal(35), _nal(8))) == 8
    for size in (4, 2):  # length-prefixed (MP4, FLV): the hvcC's lengthSizeMinusOne + 1
        data = b"".join(len(n).to_bytes(size, "big") + n for n in au)
        assert hevc_picture_type(data, size) == CRA
    assert hevc_picture_type(_annexb(_nal(35), _nal(39))) is None  # no slice
    assert hevc_picture_type(b"") is None

"""Recovery of ``.part`` files cut short (a crash, a power cut, a full disk): a torn tail is cut back to the
last complete fragment so the segment decodes without an error; a file that is not laid out as the
recorder writes segments is never cut, and one that does not play is left where it is.

The segments here are written in-process with the recorder's own muxer options (``FRAG_OPTIONS``), from
pictures encoded by PyAV: no lab server needed."""

from __future__ import annotations

import io
import logging
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from app.recording import fmp4
from app.recording.recorder import FRAG_OPTIONS, recover_part, recover_parts
from app.recording.segments import part_path, scan_segments
from tests.helpers import decoded_pictures

FPS = 15
START = 1_790_000_000.0


def _encode(out: av.container.OutputContainer, seconds: float) -> None:
    s = out.add_stream("libx264", rate=FPS, options={"g": str(FPS), "bf": "0", "preset": "ultrafast"})
    s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
    rng = np.random.default_rng(1)
    for i in range(round(seconds * FPS)):
        img = rng.integers(0, 255, (96, 160, 3), dtype=np.uint8)  # noise: fragments of a few KB each
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = i, Fraction(1, FPS)
        out.mux(s.encode(frame))
    out.mux(s.encode())


def _segment(seconds: float = 3.0) -> bytes:
    """A closed segment as the recorder writes it: ftyp, moov, moof+mdat pairs, mfra."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4", options=dict(FRAG_OPTIONS)) as out:
        _encode(out, seconds)
    return buf.getvalue()


def _boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, start, end) of the top-level boxes (32-bit sizes: what FFmpeg writes here)."""
    out, pos = [], 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        out.append((data[pos + 4 : pos + 8], pos, pos + size))
        pos += size
    return out


def _scan(data: bytes) -> fmp4.Layout:
    return fmp4.scan(io.BytesIO(data))


def _part(tmp_path: Path, data: bytes) -> Path:
    part = part_path(tmp_path, "dock", START)
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(data)
    return part


def _ffmpeg_errors(path: str) -> list[str]:
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"], capture_output=True,
                       text=True, timeout=60)  # fmt: skip
    return [line for line in r.stderr.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def segment() -> bytes:
    return _segment()


def test_a_whole_segment_is_complete_and_cut_nowhere(segment):
    kinds = [k for k, _, _ in _boxes(segment)]
    assert kinds[:2] == [b"ftyp", b"moov"] and kinds[-1] == b"mfra"
    layout = _scan(segment)
    # fragments every keyframe (1 s here) and after FRAGMENT_S: 0.5 s fragments
    assert layout.fragments == kinds.count(b"moof") >= 6
    assert (layout.problem, layout.torn_bytes, layout.playable) == ("", 0, True)


def test_a_segment_cut_anywhere_keeps_exactly_its_complete_fragments(segment):
    boxes = _boxes(segment)
    mdat_ends = [end for kind, _, end in boxes if kind == b"mdat"]
    cuts = sorted({c for _, start, end in boxes for c in (start, start + 3, start + 8, (start + end) // 2, end - 1)})
    for cut in cuts:
        layout = _scan(segment[:cut])
        complete = [e for e in mdat_ends if e <= cut]
        assert layout.problem == "", cut
        assert layout.fragments == len(complete), cut
        if complete:
            # the last complete fragment, and any complete box after it that is not a fragment (the mfra)
            assert complete[-1] <= layout.complete_end <= cut, cut
            assert not any(start < layout.complete_end < end for _, start, end in boxes), cut
        else:
            assert not layout.playable, cut


def test_zeros_after_the_last_fragment_are_a_torn_tail(segment):
    cut = _boxes(segment)[5][2]  # after a fragment
    layout = _scan(segment[:cut] + b"\0" * 70_000)
    assert (layout.problem, layout.complete_end, layout.torn_bytes) == ("", cut, 70_000)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00\x00\x00\x10mdatxxxxxxxx" + b"\x01" * 64, "not 'ftyp'"),
        (b"\x89PNG\r\n\x1a\n" + b"\x01" * 64, "no box at byte 0"),
    ],
    ids=["starts-with-mdat", "not-mp4"],
)
def test_a_file_laid_out_otherwise_is_not_understood(data, why):
    layout = _scan(data)
    assert why in layout.problem and layout.torn_bytes == 0 and not layout.playable


def test_garbage_inside_a_segment_is_not_understood_and_nothing_is_cut(segment):
    boxes = _boxes(segment)
    _, start, _ = boxes[4]
    damaged = segment[:start] + b"\xff" * 8 + segment[start + 8 :]
    layout = _scan(damaged)
    assert layout.problem == f"no box at byte {start}" and layout.torn_bytes == 0


def test_a_plain_mp4_is_not_a_fragmented_one():
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:  # mdat first, moov at the end
        _encode(out, 1.0)
    assert "outside a fragment" in _scan(buf.getvalue()).problem


@pytest.mark.parametrize("where", ["in a box header", "in an mdat", "in a moof"])
def test_recovery_cuts_a_torn_tail_and_the_segment_decodes_without_an_error(tmp_path, segment, where):
    boxes = _boxes(segment)
    moofs = [(start, end) for kind, start, end in boxes if kind == b"moof"]
    start, end = moofs[4]
    mdat_end = next(e for kind, s, e in boxes if kind == b"mdat" and s == end)
    cut = {"in a box header": start + 5, "in a moof": (start + end) // 2, "in an mdat": (end + mdat_end) // 2}[where]
    part = _part(tmp_path, segment[:cut])
    if where == "in an mdat":
        assert _ffmpeg_errors(str(part))  # what FFmpeg (and players) complain about: "Invalid NAL unit size"
    seg = recover_part(part)
    assert seg is not None and not part.exists()
    assert Path(seg.path).stat().st_size == start  # everything up to the moof of the torn fragment
    assert _ffmpeg_errors(seg.path) == []
    # four complete fragments: two GOPs of 15 pictures, each cut after FRAGMENT_S (8 pictures at 15 fps)
    assert decoded_pictures(seg.path) == 2 * 15
    assert seg.duration == pytest.approx(2.0, abs=0.01)


def test_recovery_removes_a_part_without_one_complete_fragment(tmp_path, segment):
    first_mdat_end = next(end for kind, _, end in _boxes(segment) if kind == b"mdat")
    for data in (b"", segment[:20], segment[: first_mdat_end - 1]):
        part = _part(tmp_path, data)
        assert recover_part(part) is None and not part.exists()


def test_recovery_leaves_alone_what_it_does_not_understand(tmp_path, segment, caplog):
    caplog.set_level(logging.INFO)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    part = _part(tmp_path, png)
    assert recover_part(part) is None
    assert part.read_bytes() == png  # not cut, not removed, not renamed
    assert "not laid out as a recorded segment" in caplog.text and "left as it is" in caplog.text

    stranger = part.parent / "notes.mp4.part"  # beside the segments, but not a segment's name
    stranger.write_bytes(segment[:1000])
    assert recover_parts(tmp_path) == []
    assert stranger.read_bytes() == segment[:1000] and part.read_bytes() == png
    assert "notes.mp4.part: not the name of a segment; left as it is" in caplog.text


def test_recovery_keeps_a_playable_file_it_does_not_understand_without_cutting_it(tmp_path):
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:  # a plain MP4 (not what the recorder writes)
        _encode(out, 2.0)
    data = buf.getvalue() + b"\x01\x02\x03"  # and three stray bytes after it
    part = _part(tmp_path, data)
    seg = recover_part(part)
    assert seg is not None and Path(seg.path).read_bytes() == data
    assert [s.path for s in scan_segments(tmp_path)] == [seg.path]

"""What a packet's bytes say about its codec: H.264 and HEVC access units in Annex B (start codes).

An MPEG-TS source (HLS, TS over HTTP or UDP) can switch codec on the same PID when its encoder is
reconfigured: the demuxer keeps reporting the codec it probed at open, the H.264 decoder fails on every
HEVC packet, and a stream-copy recorder writes HEVC into an H.264 track. The first keyframe after the
switch tells it at once, before any of it reaches a decoder or a recording: the NAL unit headers of the two
codecs differ (H.264: one byte, type in the low 5 bits, ITU-T H.264 7.3.1; HEVC: two bytes, type in bits
1-6 of the first, ``nuh_layer_id`` 0 and ``nuh_temporal_id_plus1`` 1 in a base-layer stream: second byte
0x01, ITU-T H.265 7.3.1.2).

Every NAL unit header of a packet is read (a find for each start code, in C; emulation prevention keeps
start codes out of the payload). At the switch the H.264 parser glues the HEVC parameter sets and first
slice onto the last H.264 picture, so a packet can tell both codecs.
Length-prefixed streams (RTMP/FLV, MP4) are not Annex B; they are reported as unknown (None), never guessed.
"""

from __future__ import annotations

# A NAL unit header "tells" its codec when it is valid for one and implausible for the other:
# - H.264 types a Baseline/Main/High stream uses (slices, SEI, parameter sets, delimiters, end of sequence/stream,
#   filler); types 0 and 2-4 (data partitioning, Extended profile only) never occur in camera streams.
# - HEVC with nuh_layer_id 0 (a base-layer stream) and a known type: the VCL types, VPS/SPS/PPS, AUD, EOS, EOB,
#   FD, SEI. An H.264 header with its lowest bit set (every slice type is odd) has layer id bits set in HEVC.
_H264_PLAUSIBLE = frozenset({1, 5, 6, 7, 8, 9, 10, 11, 12})
_HEVC_KNOWN = frozenset({*range(0, 10), *range(16, 22), *range(32, 41)})
_MAX_NALS = 64  # parameter sets + slices of one picture; beyond this the packet is slice data


def nal_headers(data: bytes | memoryview, limit: int = _MAX_NALS) -> list[tuple[int, int]]:
    """The first two bytes of each NAL unit of an Annex B buffer, up to *limit* ([] if it is not Annex B)."""
    buf = bytes(data)
    out: list[tuple[int, int]] = []
    i = buf.find(b"\x00\x00\x01", 0, 8)
    if i < 0 or any(buf[:i]):  # Annex B starts with a start code (3 or 4 bytes)
        return out
    n = len(buf)
    while i >= 0 and len(out) < limit:
        start = i + 3
        if start + 2 > n:
            break
        out.append((buf[start], buf[start + 1]))
        i = buf.find(b"\x00\x00\x01", start + 2)
    return out


def _tells(b0: int, b1: int) -> str | None:
    h264 = b0 & 0x80 == 0 and b0 & 0x1F in _H264_PLAUSIBLE
    hevc = b0 & 0x81 == 0 and b1 & 0xF8 == 0 and b1 & 0x07 != 0 and (b0 >> 1) & 0x3F in _HEVC_KNOWN
    if h264 and not hevc:
        return "h264"
    if hevc and not h264:
        return "hevc"
    return None


def annexb_codecs(data: bytes | memoryview) -> frozenset[str]:
    """The codecs the NAL units of an Annex B packet tell ("h264", "hevc"; both when a parser of one codec has
    glued units of the other onto a picture at the switch; empty when the bytes do not say)."""
    return frozenset(c for c in (_tells(b0, b1) for b0, b1 in nal_headers(data)) if c is not None)


def annexb_codec(data: bytes | memoryview) -> str | None:
    """ "h264" or "hevc" when every telling NAL unit of an Annex B access unit says the same, else None."""
    codecs = annexb_codecs(data)
    return next(iter(codecs)) if len(codecs) == 1 else None

"""Per-camera recorder: stream copy of the pipeline's packets into short fragmented-MP4 segments.

Threads and hand-over: the pipeline calls :class:`CameraRecorder` as a *packet sink* on its demux
thread. ``on_packet`` copies the payload and timing (a few µs) into a bounded queue and returns; when
the queue is full the packet is dropped and counted, and the recorder closes the segment before the
hole and restarts at the next keyframe (so no segment ever contains a gap). The recorder thread
(``camera:<id>:record``) does all file I/O.

Crash safety: segments are fragmented MP4. A fragment (moof+mdat, self-describing) is cut at every video
keyframe and after ``FRAGMENT_S`` (0.5 s) of media, whichever comes first, and is handed to the OS as soon as
the muxer emits it (``flush_packets``): what the process has written survives a ``kill -9`` in the page
cache, so a kill loses the fragment being gathered (< ``FRAGMENT_S``) plus the picture being joined (one
frame), whatever the bitrate. Without the flush FFmpeg kept up to 256 KiB in its output buffer: a
low-bitrate camera lost its whole open segment. A segment is written as ``*.mp4.part`` and renamed
(atomically, same folder) to its final name when closed; only then is it indexed. Closed segments are never
opened for writing again. ``recover_parts`` finalises the ``.part`` files a crash left behind, cut back to
their last complete fragment (``app.recording.fmp4``) so that they decode without an error.

Motion mode: packets are held in a pre-roll buffer starting at a keyframe (at least ``pre_roll_s``
back); a motion start writes the buffer and keeps recording until ``post_roll_s`` after the end.

What MP4 cannot take as it comes: AAC in ADTS framing (MPEG-TS, HLS) is converted to raw AAC with an
AudioSpecificConfig by FFmpeg's ``aac_adtstoasc`` (:class:`_AdtsToAsc`); an audio stream the MP4 muxer
refuses is left out, and the video recorded alone (``RecorderStatus.audio`` says why); the RASL pictures
after the HEVC CRA that starts a segment are dropped (they reference the previous segment, H.265 8.1.3).

Audio announced but not sent (an RTSP camera whose SDP lists a microphone that is off, a TS or RTMP source
with a silent audio track): with ``delay_moov`` the MP4 muxer writes nothing until every track has a sample,
so such a segment stayed 0 bytes on disk until its close. A connection's first segment is therefore held
(in the ring) until its first audio packet or ``AUDIO_GRACE_S`` of video; each segment gets an audio track
only while the audio is live (a packet within the last ``AUDIO_GRACE_S`` of video), so audio that starts
late is recorded from the next segment, and a segment whose audio never brings a sample is cut at the first
keyframe after ``AUDIO_GRACE_S``.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
from av.bitstream import BitStreamFilterContext

from app.priority import BACKGROUND_NICE, lower_current_thread_priority
from app.recording import fmp4
from app.recording.segments import (
    Segment,
    SegmentIndex,
    StoredMotionEvent,
    final_path,
    is_segment_part,
    parse_segment,
    part_path,
)

log = logging.getLogger(__name__)

# delay_moov: the moov (with an edit list) is written with the first fragment, which keeps the source
# timestamps (plain empty_moov rebases every segment to 0, hiding gaps between segments).
# frag_duration: a fragment also ends after FRAGMENT_S of media, so a long GOP (or a low-bitrate camera)
# does not keep seconds in memory. flush_packets: after each packet FFmpeg flushes its output buffer (256 KiB
# for a file); packets go into the muxer's in-memory fragment, so the buffer holds data, and a flush makes a
# write(), only when a fragment was emitted: one write() per fragment (strace), not one per packet.
# 0.5 s, not 1 s: a kill also loses the picture being joined (see _gather) and what is queued, and must lose
# no more than a second even at low frame rates. Each fragment costs ~130 bytes of moof (2 kbit/s at 0.5 s).
# max_interleave_delta: FFmpeg's interleaver holds every packet until each stream has one as late (for up to
# 10 s by default): a camera whose audio stops, or whose audio clock lags, kept 10 s of video out of the
# file. The MP4 muxer gathers each track's samples of a fragment apart anyway, so 0.1 s is plenty.
FRAGMENT_S = 0.5
FRAG_OPTIONS = {
    "movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof",
    "frag_duration": str(round(FRAGMENT_S * 1_000_000)),  # microseconds
    "flush_packets": "1",
    "max_interleave_delta": "100000",  # microseconds
}
# Sample-entry tags: hvc1 (parameter sets in the hvcC, QuickTime and Apple devices play only this) rather
# than FFmpeg's default hev1; avc1 for H.264 whatever the source said (avc3 from some MP4 sources).
# The in-band parameter sets a camera repeats before every IDR stay in the samples: decoders accept
# them under both tags (checked with FFmpeg and libvlc).
MP4_TAGS = {"h264": "avc1", "hevc": "hvc1"}
_MAX_QUEUED = 1500  # packets (~50 s of 15 fps video + audio); beyond it the disk is hopelessly slow
_RETRY_AFTER_ERROR_S = 10.0
# Hard floor under any configured reserve: below it a segment is neither started nor continued. FFmpeg's
# buffered writes fail silently on ENOSPC (mux() and close() return fine, the file just lacks the data); with
# flush_packets a fragment that cannot be written makes mux() raise, but not every write is a fragment's (the
# trailer at close). So the recorder does not wait for an error: it checks free space before every fragment
# (each video keyframe and every FRAGMENT_S of video) and compares each closed segment's size with the
# payload it muxed.
MIN_FREE_BYTES = 4 * 1024 * 1024
_RESTAMP_TB = Fraction(1, 90_000)
# A source with sound sends its first audio packet within a few audio frames (20-64 ms each) of its first
# picture; one that announces audio and sends none must not keep a segment off the disk for long: a kill
# during the hold loses what is held. 1 s of video: a late audio start is still caught, the hold stays
# within the second a kill may lose.
AUDIO_GRACE_S = 1.0

# HEVC NAL unit types (ITU-T H.265 table 7-1): the leading pictures that cannot be decoded when the IRAP
# picture before them starts the bitstream (RASL_N, RASL_R), and the IRAP pictures that may have such
# pictures (BLA_W_LP, BLA_W_RADL, BLA_N_LP, CRA; an IDR never has any).
_HEVC_RASL = frozenset({8, 9})
_HEVC_IRAP_WITH_RASL = frozenset({16, 17, 18, 21})
_HEVC_FIRST_NON_VCL = 32  # types 0-31 are slices (VCL); 32 and up are VPS, SPS, PPS, AUD, SEI, ...


def hevc_picture_type(data: bytes, length_size: int | None = None) -> int | None:
    """The ``nal_unit_type`` of the first slice (VCL NAL unit) of an HEVC access unit, None if it has none.

    *length_size* None: Annex B (start codes, MPEG-TS and RTSP sources); otherwise each NAL unit is preceded
    by its length in that many bytes (MP4 and FLV sources: the hvcC's ``lengthSizeMinusOne`` + 1). The
    whole access unit is searched, not its first bytes: parameter sets and an encoder's SEI can come first
    and run to kilobytes (x265 writes its settings in one)."""
    if length_size is None:
        i = data.find(b"\x00\x00\x01")
        while 0 <= i < len(data) - 3:  # emulation prevention keeps 00 00 01 out of NAL payloads
            t = (data[i + 3] >> 1) & 0x3F
            if t < _HEVC_FIRST_NON_VCL:
                return t
            i = data.find(b"\x00\x00\x01", i + 3)
        return None
    i = 0
    while i + length_size < len(data):
        t = (data[i + length_size] >> 1) & 0x3F
        if t < _HEVC_FIRST_NON_VCL:
            return t
        i += length_size + int.from_bytes(data[i : i + length_size], "big")
    return None


def _hevc_length_size(extradata: bytes | None) -> int | None:
    """NAL length size of a stream whose extradata is an hvcC (ISO/IEC 14496-15 HEVCDecoderConfigurationRecord:
    configurationVersion 1, ``lengthSizeMinusOne`` in the low bits of byte 21); None for Annex B (parameter
    sets with start codes, or no extradata)."""
    if extradata and len(extradata) >= 23 and extradata[0] == 1:
        return (extradata[21] & 0x03) + 1
    return None


def _is_adts(data: bytes) -> bool:
    """An ADTS frame header starts the packet: its 12-bit syncword 0xFFF (ISO/IEC 13818-7, 14496-3); the
    test FFmpeg's MP4 muxer applies before it refuses a packet."""
    return len(data) > 2 and data[0] == 0xFF and data[1] & 0xF0 == 0xF0


class _AdtsToAsc:
    """AAC in ADTS framing (one header per frame, as MPEG-TS and HLS carry it) to raw AAC frames plus the
    AudioSpecificConfig MP4 keeps in the sample entry (ISO/IEC 14496-3 1.6.2.1), by FFmpeg's
    ``aac_adtstoasc`` bitstream filter: one raw frame per ADTS frame; the config (from the first header)
    comes as ``new_extradata`` side data of the first output.

    The MP4 muxer would insert the filter itself (``AVFMT_FLAG_AUTO_BSF``), but it turns automatic filters
    off when it writes an empty moov (``empty_moov``, implied by ``delay_moov``): measured, the flag is
    cleared at the header and the first ADTS packet makes ``mux()`` fail with EPERM ("Malformed AAC
    bitstream detected")."""

    def __init__(self, template: av.stream.Stream) -> None:
        self._bsf = BitStreamFilterContext("aac_adtstoasc", template)
        self.config: bytes | None = None  # the AudioSpecificConfig, once the first frame went through
        self._config_sd: av.packet.PacketSideData | None = None

    def convert(self, data: bytes) -> bytes | None:
        """The raw frame of one ADTS packet; None for a packet the filter refuses (raises nothing)."""
        try:
            out = self._bsf.filter(av.Packet(data))
        except av.FFmpegError:  # not ADTS, a header without payload, several raw blocks with CRC
            return None
        if not out:
            return None
        if self.config is None and out[0].has_sidedata("new_extradata"):
            self._config_sd = out[0].get_sidedata("new_extradata")
            self.config = bytes(self._config_sd)
        return bytes(out[0])

    def attach_config(self, packet: av.Packet) -> None:
        """Give *packet* the config as ``new_extradata`` side data (the MP4 muxer takes it for the sample
        entry if its moov is not written yet)."""
        if self._config_sd is not None:
            self._config_sd.to_packet(packet)


# What the MP4 muxer raises for a packet it refuses (EPERM: ADTS; EINVAL, AVERROR_INVALIDDATA): the stream's
# fault, not the disk's (a failed write raises an OSError with the errno of the write: ENOSPC, EIO).
_REFUSALS = (av.error.PermissionError, av.error.ArgumentError, av.error.InvalidDataError)


def _words(e: Exception) -> str:
    """An error in words without a file name (a status names the stream, not a segment): for FFmpeg's, its
    errno's words and the library's last log line when PyAV kept one."""
    if not isinstance(e, av.FFmpegError):
        return str(e)
    last = e.log[2].strip() if e.log and len(e.log) > 2 and e.log[2] else ""
    return f"{e.strerror}: {last}" if last else str(e.strerror)


def _mp4_refusal(template: av.stream.Stream) -> str:
    """Why the MP4 muxer refuses a segment header with this stream ("" when it takes it): the checks made
    when a segment starts (a sample entry for the codec, a sample rate), made once per connection so that
    an audio stream MP4 cannot hold never stops the video with it."""
    probe = av.open(io.BytesIO(), "w", format="mp4", options=dict(FRAG_OPTIONS))
    try:
        probe.add_stream_from_template(template)
        probe.start_encoding()
    except av.FFmpegError as e:  # e.g. no sample rate: a TS audio PID that never carried a packet
        return f"the MP4 muxer refuses it ({_words(e)})"
    except Exception as e:  # ValueError: no sample entry for the codec
        return str(e)
    finally:
        try:
            probe.close()
        except Exception:  # a header never written has nothing to close
            pass
    return ""


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    camera_id: str
    state: str = "idle"  # idle | waiting (motion mode, buffering) | recording | error
    reason: str = ""
    current_path: str | None = None
    segments_total: int = 0
    bytes_total: int = 0
    packets_dropped: int = 0
    error_since: float | None = None  # UNIX time
    audio: str = ""  # "" (the source has none) | "recorded" | "not recorded: <why>" (the video is recorded alone)


# ---------------------------------------------------------------------- demux thread -> recorder thread
# The queue holds these; _Pkt (one per packet) is itself the message, so nothing else is allocated per packet.
# Frozen: nothing changes a message once it is queued (restamping makes a new _Pkt).
AU_SPAN_MAX_S = 1.0  # the parts of one picture arrive within this (a source stamping all packets alike does not)


@dataclass(frozen=True, slots=True)
class _Pkt:
    """A copy of one packet's payload and timing (the av.Packet belongs to the demux thread)."""

    data: bytes
    pts: int | None
    dts: int | None
    time_base: Fraction
    key: bool
    kind: str  # "v" | "a"
    mono: float
    wall: float

    def ts(self) -> int | None:
        return self.dts if self.dts is not None else self.pts


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """A new connection: segments are made from *templates* (streams of *container*, kept alive with them)."""

    container: av.container.OutputContainer
    templates: dict[str, av.stream.Stream]
    audio: str = ""  # as RecorderStatus.audio


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The connection ended: close the open segment."""


@dataclass(frozen=True, slots=True)
class Resync:
    """Packets were dropped (queue full) before the next one: close the segment before the hole."""


@dataclass(frozen=True, slots=True)
class MotionChanged:
    """Motion started or ended at *mono* (monotonic); an end starts the post-roll from then."""

    active: bool
    mono: float


_RecorderMsg = _Pkt | StreamOpened | StreamClosed | Resync | MotionChanged


class DiskFullError(Exception):
    pass


class CameraRecorder:
    """PacketSink + thread for one camera. ``mode``: "continuous" or "motion"."""

    def __init__(self, camera_id: str, root: Path, *, mode: str = "continuous", segment_seconds: float = 10.0,
                 pre_roll_s: float = 5.0, post_roll_s: float = 10.0, reserve_mb: float = 500.0,
                 index: SegmentIndex | None = None) -> None:  # fmt: skip
        self.camera_id = camera_id
        self.root = Path(root)
        self.mode = mode
        self.segment_seconds = segment_seconds
        self.pre_roll_s = pre_roll_s
        self.post_roll_s = post_roll_s
        self.reserve_bytes = int(reserve_mb * 1024 * 1024)
        self.index = index
        self._cv = threading.Condition()
        self._queue: deque[_RecorderMsg] = deque()  # guarded by _cv
        self._queued_packets = 0  # the _Pkt in _queue: only packets count against _MAX_QUEUED
        self._overflow = False
        self._stream_kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._status = RecorderStatus(camera_id, "waiting" if mode == "motion" else "idle")
        self._status_lock = threading.Lock()
        # recorder-thread state
        self._templates: dict[str, av.stream.Stream] = {}
        self._template_container = None
        self._out = None
        self._out_streams: dict[str, av.stream.Stream] = {}
        self._part: Path | None = None
        self._seg_wall = 0.0
        self._seg_first_v: float | None = None  # seconds
        self._seg_last_v: float | None = None
        self._seg_frame_dur = 0.0
        self._last_ts: dict[str, int] = {}
        self._has_audio = False
        self._audio_said: set[str] = set()  # each RecorderStatus.audio "not recorded" is logged once
        self._adts: _AdtsToAsc | None = None  # the connection's audio is ADTS: converted (see _audio)
        self._adts_refused = 0  # audio packets of the connection the filter refused
        self._hevc_length_size: int | None = None  # NAL length size of length-prefixed HEVC (None: Annex B)
        self._hevc = False
        self._drop_rasl: bool | None = None  # None: before the segment's first picture; True: dropping RASL
        self._rasl_dropped = 0  # RASL pictures left out of the open segment
        self._rasl_said = False  # the connection's first drop is logged at INFO, later ones at DEBUG
        self._ring: deque[_Pkt] = deque()
        self._motion_active = False
        self._record_until = 0.0  # monotonic
        self._error_until = 0.0
        self._disk_error = False  # the last failure was a full disk (a motion recorder re-checks between events)
        self._seg_payload = 0  # bytes of packet data muxed into the open segment
        self._next_check_v = 0.0  # video time (s) of the next free-space check (one per fragment)
        self._write_failed = ""  # set by _close_segment when a segment came out short (words)
        self._nominal_frame_s = 0.0
        self._restamping = False
        self._src_last_v: int | None = None
        self._mono0: float | None = None
        self._restamp_last: dict[str, int] = {}
        # The video access unit being gathered: an RTSP depacketiser may hand one picture over as several
        # packets of one timestamp (SPS/PPS before an IDR, a picture in several slices: GStreamer's
        # rtph264pay config-interval=-1, many cameras). They are one sample in MP4; written one by one,
        # the muxer refuses every packet after the first and each keyframe loses its slices.
        self._group: list[_Pkt] = []
        self._grouping = True  # off for a stream whose timestamps do not move (see _gather)
        self._unwritable = 0  # packets of the open segment the muxer could not take (logged at its close)
        # the connection's audio as seen on the video clock (s, after restamping): see _audio_live
        self._v_first: float | None = None  # the connection's first video time
        self._v_now: float | None = None  # its newest
        self._audio_heard = False  # an audio packet came on this connection
        self._audio_last_v: float | None = None  # the video time when the last one came

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._write_failed = ""  # a short segment at the last stop belongs to that run
            self._thread = threading.Thread(target=self._run, name=f"camera:{self.camera_id}:record", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close the open segment (it is renamed and indexed) and end the thread."""
        self._stop.set()
        with self._cv:
            self._cv.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> RecorderStatus:
        with self._status_lock:
            return self._status

    def _set_status(self, **kw) -> None:
        with self._status_lock:
            self._status = replace(self._status, **kw)

    # -------------------------------------------------------------- PacketSink (demux thread)

    def on_open(self, container) -> None:
        # Copy the codec parameters now, while the input container is certainly alive: an in-memory
        # output container holds streams made from the input's templates; segments are made from those.
        tmpl = av.open(io.BytesIO(), "w", format="mp4")
        templates: dict[str, av.stream.Stream] = {}
        kinds: dict[int, str] = {}
        if container.streams.video:
            v = container.streams.video[0]
            templates["v"] = tmpl.add_stream_from_template(v)
            kinds[v.index] = "v"
            rate = v.average_rate or v.guessed_rate
            self._nominal_frame_s = 1.0 / float(rate) if rate and 1 <= float(rate) <= 240 else 0.0
        audio = ""
        if container.streams.audio:
            a = container.streams.audio[0]
            try:
                refusal = _mp4_refusal(a)  # e.g. a codec MP4 cannot carry (G.711, LATM, SMPTE 302M), no rate
                if not refusal:
                    templates["a"] = tmpl.add_stream_from_template(a)
                    kinds[a.index] = "a"
            except Exception as e:
                refusal = _words(e)
            audio = f"not recorded: {a.codec_context.name}: {refusal}" if refusal else "recorded"
        self._stream_kinds = kinds
        self._push(StreamOpened(tmpl, templates, audio))

    def on_packet(self, packet: av.Packet) -> None:
        kind = self._stream_kinds.get(packet.stream_index)
        if kind is None or packet.size == 0 or (packet.pts is None and packet.dts is None):
            return
        p = _Pkt(bytes(packet), packet.pts, packet.dts, packet.time_base, bool(packet.is_keyframe), kind,
                 time.monotonic(), time.time())  # fmt: skip
        with self._cv:
            if self._queued_packets >= _MAX_QUEUED:
                self._overflow = True
                with self._status_lock:
                    self._status = replace(self._status, packets_dropped=self._status.packets_dropped + 1)
                return
            if self._overflow:  # tell the writer there is a hole before this packet
                self._queue.append(Resync())
                self._overflow = False
            self._queue.append(p)
            self._queued_packets += 1
            self._cv.notify()

    def on_close(self) -> None:
        self._push(StreamClosed())

    def motion(self, active: bool, mono: float | None = None) -> None:
        """Motion started/ended (any thread)."""
        self._push(MotionChanged(active, time.monotonic() if mono is None else mono))

    def _push(self, msg: _RecorderMsg) -> None:
        with self._cv:
            self._queue.append(msg)
            self._cv.notify()

    # -------------------------------------------------------------- recorder thread

    def _run(self) -> None:
        lower_current_thread_priority(BACKGROUND_NICE)
        try:
            while True:
                with self._cv:
                    while not self._queue and not self._stop.is_set():
                        self._cv.wait(0.5)
                    if not self._queue and self._stop.is_set():
                        break
                    msg = self._queue.popleft()
                    if type(msg) is _Pkt:
                        self._queued_packets -= 1
                try:
                    self._handle(msg)
                    if self._write_failed:  # a segment closed short: the disk refused the data
                        raise DiskFullError(self._write_failed)
                except Exception as e:
                    self._fail(e)
        finally:
            self._close_segment()

    def _handle(self, msg: _RecorderMsg) -> None:
        match msg:
            case _Pkt():
                self._gather(msg)
            case StreamOpened(container, templates, audio):
                self._group, self._grouping = [], True
                self._close_segment()
                self._ring.clear()
                self._template_container, self._templates = container, templates
                self._restamping, self._src_last_v, self._mono0, self._restamp_last = False, None, None, {}
                self._adts, self._adts_refused, self._rasl_said = None, 0, False
                self._v_first = self._v_now = self._audio_last_v = None
                self._audio_heard = False
                video = templates.get("v")
                codec = video.codec_context.codec if video is not None else None
                self._hevc = codec is not None and codec.canonical_name == "hevc"
                self._hevc_length_size = _hevc_length_size(video.codec_context.extradata) if self._hevc else None
                self._set_audio(audio)
            case StreamClosed():
                self._flush_group()  # the stream's last picture
                self._close_segment()
                self._ring.clear()
            case Resync():
                self._group = []  # packets were dropped: that picture may be incomplete
                self._close_segment()
                self._ring.clear()
            case MotionChanged(active, mono):
                self._motion_active = active
                if not active:
                    self._record_until = mono + self.post_roll_s

    def _gather(self, p: _Pkt) -> None:
        """Video packets of one timestamp become one access unit (their payloads joined: Annex B start
        codes and AVCC length prefixes both concatenate); anything else passes straight on.

        A group closes when a packet with another timestamp arrives, however slowly a big IDR trickles in
        over a thin link. A source that stamps every packet alike (0) never closes one: a group that spans
        more than ``AU_SPAN_MAX_S`` of arrival time is not a picture, so grouping stops for this stream and
        its packets go on one by one (the restamping below re-times them from arrival)."""
        if p.kind != "v" or not self._grouping:
            self._on_pkt(p)
            return
        g = self._group
        if g and p.pts is not None and (p.pts, p.dts) == (g[0].pts, g[0].dts):
            g.append(p)
            if p.mono - g[0].mono > AU_SPAN_MAX_S:
                self._grouping, self._group = False, []
                for q in g:
                    self._on_pkt(q)
            return
        self._flush_group()
        self._group = [p]

    def _flush_group(self) -> None:
        g, self._group = self._group, []
        if len(g) == 1:
            self._on_pkt(g[0])
        elif g:
            self._on_pkt(replace(g[0], data=b"".join(q.data for q in g), key=any(q.key for q in g)))

    def _want(self, p: _Pkt) -> bool:
        if self.mode == "continuous":
            return True
        return self._motion_active or p.mono <= self._record_until

    def _restamp(self, p: _Pkt) -> _Pkt:
        """Sources without usable timestamps (all 0 or going backwards, seen from some RTSP servers
        and cheap cameras) are re-timed from arrival time, so MP4 gets increasing timestamps."""
        ts = p.ts()
        if not self._restamping and p.kind == "v" and ts is not None:
            last = self._src_last_v
            if last is not None and ts <= last and not p.key:
                self._restamping = True
                log.warning("%s: source timestamps do not advance; recording with arrival times", self.camera_id)
            self._src_last_v = ts
        if not self._restamping:
            return p
        if self._mono0 is None:
            self._mono0 = p.mono
        t = round((p.mono - self._mono0) * 90_000)
        last = self._restamp_last.get(p.kind, -1)
        t = max(t, last + 1)
        self._restamp_last[p.kind] = t
        return replace(p, pts=t, dts=t, time_base=_RESTAMP_TB)

    def _set_audio(self, note: str) -> None:
        """Say what becomes of the connection's audio (``RecorderStatus.audio``); each reason is logged once."""
        self._set_status(audio=note)
        if note.startswith("not recorded") and note not in self._audio_said:  # not again at every reconnect
            self._audio_said.add(note)
            log.warning("%s: audio %s; the video is recorded without it", self.camera_id, note)

    def _leave_out_audio(self, why: str) -> None:
        """Record the rest of the connection without audio (the open segment keeps the audio it has)."""
        self._templates.pop("a", None)
        self._out_streams.pop("a", None)
        self._set_audio(f"not recorded: {why}")

    def _audio(self, p: _Pkt) -> _Pkt | None:
        """The audio packet as MP4 takes it (ADTS converted to raw AAC), or None when it is left out."""
        if "a" not in self._templates:
            return None
        if self._adts is None:
            template = self._templates["a"]
            codec = template.codec_context.codec
            if not (codec is not None and codec.canonical_name == "aac" and _is_adts(p.data)):
                return p
            try:
                self._adts = _AdtsToAsc(template)
            except Exception as e:
                self._leave_out_audio(f"aac: its ADTS framing cannot be converted ({_words(e)})")
                return None
        data = self._adts.convert(p.data)
        if data is None:
            # a frame the filter cannot read (e.g. a packet that is not ADTS in an ADTS stream): a gap in
            # the audio only, counted; said once per connection
            self._adts_refused += 1
            with self._status_lock:
                self._status = replace(self._status, packets_dropped=self._status.packets_dropped + 1)
            if self._adts_refused == 1:
                log.warning("%s: an audio packet is not ADTS AAC the aac_adtstoasc filter can read: left out "
                            "(such packets are counted as dropped)", self.camera_id)  # fmt: skip
            return None
        return replace(p, data=data)

    def _on_pkt(self, p: _Pkt) -> None:
        if "v" not in self._templates:
            return
        if p.kind == "a" and (p := self._audio(p)) is None:
            return
        p = self._restamp(p)
        self._clock_audio(p)
        is_vkey = p.kind == "v" and p.key
        if self._out is not None:
            if is_vkey and (not self._want(p) or self._seg_elapsed(p) >= self.segment_seconds or self._audio_silent(p)):
                self._close_segment()  # cut at a keyframe: every segment starts with one
            else:
                self._write(p)
                return
        # not writing: buffer (pre-roll) and start when wanted, from a keyframe
        self._ring.append(p)
        self._trim_ring(p.mono)
        if self._disk_error and not self._want(p) and time.monotonic() >= self._error_until and is_vkey:
            # a motion-mode recorder between events: see whether the disk has room again, so the error
            # (and its alert) clears now rather than at the next motion event
            try:
                self._check_free(max(self.reserve_bytes, MIN_FREE_BYTES))
            except DiskFullError:
                self._error_until = time.monotonic() + _RETRY_AFTER_ERROR_S
            else:
                self._disk_error = False
                self._set_status(state="waiting", reason="", error_since=None)
        if (self._want(p) and time.monotonic() >= self._error_until and self._ring and self._ring[0].key
                and not self._audio_awaited()):  # fmt: skip
            buffered = list(self._ring)
            self._ring.clear()
            try:
                self._open_segment(buffered[0].wall)
            except DiskFullError as e:
                self._fail(e)
                return
            for q in buffered:
                self._write(q)

    def _trim_ring(self, now_mono: float) -> None:
        """Keep the buffer starting at the newest keyframe that is at least pre_roll_s old."""
        ring = self._ring
        while ring and not (ring[0].kind == "v" and ring[0].key):
            ring.popleft()
        horizon = now_mono - (self.pre_roll_s if self.mode == "motion" else 0.0)
        if self.mode == "continuous" and self._audio_awaited():
            horizon = float("-inf")  # the first segment is held: keep all of it from its keyframe
        keys = [i for i, q in enumerate(ring) if q.kind == "v" and q.key and q.mono <= horizon]
        if len(keys) > 0 and keys[-1] > 0:
            for _ in range(keys[-1]):
                ring.popleft()

    def _clock_audio(self, p: _Pkt) -> None:
        """Note when audio comes, on the video clock (media time works paced or not, unlike arrival time)."""
        if p.kind == "a":
            self._audio_heard, self._audio_last_v = True, self._v_now
        elif (ts := p.ts()) is not None:
            self._v_now = t = float(ts * p.time_base)
            if self._v_first is None:
                self._v_first = t
            if self._audio_heard and self._audio_last_v is None:  # audio came before the first picture
                self._audio_last_v = t

    def _audio_awaited(self) -> bool:
        """The connection announces audio, none came yet, and the grace is not over: the first segment waits
        (its audio track would keep it off the disk if none ever comes, and a segment cannot take one later)."""
        if "a" not in self._templates or self._audio_heard:
            return False
        return self._v_first is None or self._v_now is None or self._v_now - self._v_first < AUDIO_GRACE_S

    def _audio_live(self) -> bool:
        """An audio packet came within the last AUDIO_GRACE_S of video: a segment opened now gets audio."""
        if not self._audio_heard or self._audio_last_v is None or self._v_now is None:
            return False
        return self._v_now - self._audio_last_v <= AUDIO_GRACE_S

    def _audio_silent(self, p: _Pkt) -> bool:
        """The open segment has an audio track without a sample in its first AUDIO_GRACE_S of video (the audio
        stopped just before it began): the muxer writes nothing of it until one comes (delay_moov), so it is
        cut here and the next one goes without."""
        return "a" in self._out_streams and not self._has_audio and self._seg_elapsed(p) >= AUDIO_GRACE_S

    def _seg_elapsed(self, p: _Pkt) -> float:
        if self._seg_first_v is None or p.pts is None:
            return 0.0
        return float(p.pts * p.time_base) - self._seg_first_v

    def _open_segment(self, wall: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._check_free(max(self.reserve_bytes, MIN_FREE_BYTES))
        part = part_path(self.root, self.camera_id, wall)
        part.parent.mkdir(parents=True, exist_ok=True)
        out = av.open(str(part), "w", format="mp4", options=dict(FRAG_OPTIONS))
        templates = self._templates
        if "a" in templates:
            live = self._audio_live()
            if not live:
                templates = {k: t for k, t in templates.items() if k != "a"}
            stopped = "the source stopped sending audio" if self._audio_heard else "the source sends no audio"
            self._set_audio("recorded" if live else f"not recorded: {stopped}")
        self._out_streams = {k: out.add_stream_from_template(t) for k, t in templates.items()}
        if (video := self._out_streams.get("v")) is not None:
            codec = video.codec_context.codec  # named after the encoder PyAV picked (libx265): use the format's
            tag = MP4_TAGS.get(codec.canonical_name) if codec is not None else None
            if tag is not None:
                video.codec_context.codec_tag = tag
        if (audio := self._out_streams.get("a")) is not None and self._adts is not None and self._adts.config:
            audio.codec_context.extradata = self._adts.config  # in the sample entry when the header is written
        self._out, self._part, self._seg_wall = out, part, wall
        self._seg_first_v = self._seg_last_v = None
        self._seg_payload = 0
        self._next_check_v = float("-inf")
        self._seg_frame_dur = self._nominal_frame_s  # refined from the pts steps as packets arrive
        self._last_ts = {}
        self._has_audio = False
        self._drop_rasl, self._rasl_dropped = None, 0
        self._disk_error = False
        self._set_status(state="recording", reason="recording", current_path=str(part), error_since=None)

    def _write(self, p: _Pkt) -> None:
        if self._out is None:
            return
        stream = self._out_streams.get(p.kind)
        if stream is None:
            return
        if p.kind == "a" and self._seg_first_v is None:
            return  # audio before the first picture of the segment
        if p.kind == "v" and self._hevc and self._drop_rasl is not False and self._leading_picture(p):
            return
        ts = p.ts()
        last = self._last_ts.get(p.kind)
        if last is not None and ts <= last:
            # timestamps that do not increase (a camera glitch): MP4 cannot hold them. Counted, and said
            # once per segment at its close: never a silent gap in evidence
            self._unwritable += 1
            with self._status_lock:
                self._status = replace(self._status, packets_dropped=self._status.packets_dropped + 1)
            return
        self._last_ts[p.kind] = ts
        pkt = av.Packet(p.data)
        pkt.pts, pkt.dts, pkt.time_base = p.pts, p.dts if p.dts is not None else p.pts, p.time_base
        pkt.is_keyframe = p.key
        pkt.stream = stream
        if p.kind == "a" and not self._has_audio and self._adts is not None and not stream.codec_context.extradata:
            # the segment began before the first audio frame had been converted: the config goes to the
            # muxer with this packet, in time for the moov: with delay_moov the muxer writes it only once
            # every track has a sample (measured: audio 1.2 s behind the video still gets its config)
            self._adts.attach_config(pkt)
        if p.kind == "v" and p.pts is not None:
            t = float(p.pts * p.time_base)
            if p.key or t >= self._next_check_v:
                # this packet makes the muxer emit the fragment before it (a keyframe, or FRAGMENT_S of
                # video): see first whether the disk filled meanwhile
                self._next_check_v = t + FRAGMENT_S
                self._check_free(MIN_FREE_BYTES)
            if self._seg_first_v is None:
                self._seg_first_v = t
            elif self._seg_last_v is not None and t > self._seg_last_v:
                self._seg_frame_dur = t - self._seg_last_v
            self._seg_last_v = max(t, self._seg_last_v or t)
        try:
            self._out.mux(pkt)  # raises when the fragment it emits cannot be written (flush_packets)
        except _REFUSALS as e:
            if p.kind != "a":
                raise
            self._leave_out_audio(f"{stream.codec_context.name}: the MP4 muxer refuses its packets ({_words(e)})")
            return
        if p.kind == "a":
            self._has_audio = True
        self._seg_payload += len(p.data)

    def _leading_picture(self, p: _Pkt) -> bool:
        """Whether *p* is a RASL picture of the CRA (or BLA) that starts the segment: left out.

        Such a picture follows the CRA in decode order, precedes it in output order, and references pictures
        before the CRA, which are in the previous segment. For a CRA that starts a bitstream the standard
        sets NoRaslOutputFlag and its RASL pictures are neither output nor correctly decodable (ITU-T H.265
        8.1.3 and its definition of a RASL picture, which also says that no non-RASL picture references
        one), so leaving them out changes nothing a decoder shows and leaves no sample in the file that cannot
        be decoded. (They lie before the segment's first picture in time, before the start of its edit list:
        a player never showed them either. FFmpeg's decoder drops them itself, silently.)"""
        picture = hevc_picture_type(p.data, self._hevc_length_size)
        if self._drop_rasl is None:  # the segment's first picture: a keyframe, an IRAP picture
            self._drop_rasl = picture in _HEVC_IRAP_WITH_RASL
            return False
        if picture in _HEVC_RASL:
            self._rasl_dropped += 1
            return True
        self._drop_rasl = False  # the first picture after the leading ones
        return False

    def _check_free(self, needed: int) -> None:
        free = shutil.disk_usage(self.root).free
        if free < needed:
            raise DiskFullError(f"disk full: {free / 1e6:.0f} MB free on {self.root}, recording stopped")

    def _close_segment(self) -> None:
        out, part = self._out, self._part
        if out is None or part is None:
            return
        self._out = None
        self._part = None
        if self._unwritable:
            log.warning("%s: %d packet(s) of %s could not be recorded: their timestamps did not increase",
                        self.camera_id, self._unwritable, part.name)  # fmt: skip
            self._unwritable = 0
        if self._rasl_dropped:
            log.log(logging.DEBUG if self._rasl_said else logging.INFO,
                    "%s: %s starts at an HEVC CRA: its %d RASL picture(s) (which reference the previous segment) "
                    "were left out", self.camera_id, part.name, self._rasl_dropped)  # fmt: skip
            self._rasl_said, self._rasl_dropped = True, 0
        try:
            out.close()
        except Exception as e:  # disk full while writing the last fragment: keep what is on disk
            log.warning("%s: closing %s failed: %s", self.camera_id, part.name, e)
        if self._seg_first_v is None or self._seg_last_v is None:
            part.unlink(missing_ok=True)  # nothing playable in it
            return
        written = part.stat().st_size
        if written < self._seg_payload:  # the MP4 holds every payload byte plus boxes: data never reached disk
            log.error("%s: %s is short (%d of at least %d bytes written): keeping what is playable",
                      self.camera_id, part.name, written, self._seg_payload)  # fmt: skip
            try:
                seg = recover_part(part, self.index)
            except Exception:  # an index that fails must not take the recorder thread down with it
                log.exception("%s: keeping the short segment %s failed", self.camera_id, part.name)
                seg = None
            if seg is not None:
                self._count_segment(seg)
            self._write_failed = f"writes to {self.root} fail (disk full or I/O error): recording stopped"
            return
        duration = self._seg_last_v - self._seg_first_v + self._seg_frame_dur
        final = final_path(part, duration)
        os.replace(part, final)
        size = final.stat().st_size
        seg = Segment(self.camera_id, str(final), self._seg_wall, self._seg_wall + duration, size, self._has_audio)
        self._count_segment(seg)
        if self.index is not None:
            try:
                self.index.add_segment(seg)
            except Exception:
                log.exception("%s: indexing %s failed (the file is kept)", self.camera_id, final.name)

    def _count_segment(self, seg: Segment) -> None:
        with self._status_lock:
            s = self._status
            self._status = replace(s, segments_total=s.segments_total + 1, bytes_total=s.bytes_total + seg.size_bytes,
                                   current_path=None, state="waiting" if self.mode == "motion" else "idle",
                                   reason="")  # fmt: skip

    def _fail(self, e: Exception) -> None:
        disk_full = isinstance(e, DiskFullError) or (isinstance(e, OSError) and e.errno == errno.ENOSPC)
        self._disk_error = disk_full
        reason = str(e) if isinstance(e, DiskFullError) else (
            f"disk full on {self.root}: recording stopped" if disk_full else f"recording failed: {e}")  # fmt: skip
        log.error("%s: %s", self.camera_id, reason)
        self._close_segment()
        self._write_failed = ""
        self._ring.clear()
        self._error_until = time.monotonic() + _RETRY_AFTER_ERROR_S
        with self._status_lock:
            since = self._status.error_since or time.time()
        self._set_status(state="error", reason=reason, current_path=None, error_since=since)


def recover_parts(root: Path, index: SegmentIndex | None = None) -> list[Segment]:
    """Finalise ``*.mp4.part`` files left by a crash: keep what is readable, rename, index."""
    out: list[Segment] = []
    for part in sorted(Path(root).glob("*/*/*.mp4.part")):
        seg = recover_part(part, index, why="after an unclean stop")
        if seg is not None:
            out.append(seg)
    return out


def recover_part(part: Path, index: SegmentIndex | None = None, why: str = "cut short") -> Segment | None:
    """Keep what is readable of one ``*.mp4.part`` (fragments written before a crash or a full disk): cut a
    torn tail back to the last complete fragment, rename it to its final name with the duration it really
    holds and index it.

    Only what is understood is changed: a segment of ours without one complete fragment holds no media
    and is removed; a file whose boxes are not laid out as the recorder writes them is never cut, and one
    that does not demux is left where it is, under its ``.part`` name (logged: something else wrote it,
    or the disk returned garbage; a person may want it)."""
    if not is_segment_part(part):
        log.warning("recovering %s: not the name of a segment; left as it is", part)
        return None
    try:
        with open(part, "rb") as f:
            layout = fmp4.scan(f)
        if layout.problem:
            log.warning("recovering %s: not laid out as a recorded segment (%s); nothing cut off", part,
                        layout.problem)  # fmt: skip
        elif not layout.playable:
            log.info("recovering %s: no complete fragment in its %d bytes (nothing playable); removed", part,
                     layout.size)  # fmt: skip
            part.unlink(missing_ok=True)
            return None
        elif layout.torn_bytes:
            os.truncate(part, layout.complete_end)
            log.info("recovering %s: cut the torn last %d bytes (kept %d complete fragments)", part,
                     layout.torn_bytes, layout.fragments)  # fmt: skip
    except OSError as e:
        log.warning("recovering %s: %s; left as it is", part, e)
        return None
    try:
        first = last = None
        step = 0.0
        has_audio = False
        with av.open(str(part), format="mp4") as c:
            if not c.streams.video:
                raise ValueError("no video")
            v = c.streams.video[0]
            has_audio = bool(c.streams.audio)
            for pkt in c.demux(v):
                if pkt.pts is None:
                    continue
                t = float(pkt.pts * pkt.time_base)
                if first is None:
                    first = t
                if last is not None and t > last:
                    step = t - last
                last = t if last is None else max(last, t)
        if first is None or last is None:
            raise ValueError("no picture")
    except Exception as e:
        log.warning("recovering %s: unreadable (%s); left as it is", part, e)
        return None
    duration = last - first + step
    final = final_path(part, duration)
    os.replace(part, final)
    seg = parse_segment(final)
    if seg is None:
        return None
    seg = replace(seg, has_audio=has_audio)
    log.info("recovered %s (%.1f s) %s", final.name, duration, why)
    if index is not None:
        index.add_segment(seg)
    return seg


def stored_event(ev) -> StoredMotionEvent:
    """A finished ``app.motion.service.MotionEvent`` as the index stores it."""
    return StoredMotionEvent(ev.camera_id, ev.start, ev.end or ev.start, round(ev.peak_score, 4),
                             tuple((r.x, r.y, r.w, r.h) for r in ev.regions[:8]), tuple(ev.labels))  # fmt: skip

"""Per-camera recorder: stream copy of the pipeline's packets into short fragmented-MP4 segments.

Threads and hand-over: the pipeline calls :class:`CameraRecorder` as a *packet sink* on its demux
thread. ``on_packet`` copies the payload and timing (a few µs) into a bounded queue and returns; when
the queue is full the packet is dropped and counted, and the recorder closes the segment before the
hole and restarts at the next keyframe (so no segment ever contains a gap). The recorder thread
(``camera:<id>:record``) does all file I/O.

Crash safety: segments are fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``): every
keyframe starts a fragment that is self-describing, so a ``kill -9`` or power cut loses at most the
fragment being written (one GOP, ~1-2 s) and a reader ignores the torn tail. A segment is written as
``*.mp4.part`` and renamed (atomically, same folder) to its final name when closed; only then is it
indexed. Closed segments are never opened for writing again. ``recover_parts`` finalises the
``.part`` files a crash left behind.

Motion mode: packets are held in a pre-roll buffer starting at a keyframe (at least ``pre_roll_s``
back); a motion start writes the buffer and keeps recording until ``post_roll_s`` after the end.
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

from app.priority import BACKGROUND_NICE, lower_current_thread_priority
from app.recording.segments import Segment, SegmentIndex, StoredMotionEvent, final_path, part_path

log = logging.getLogger(__name__)

# delay_moov: the moov (with an edit list) is written with the first fragment, which keeps the source
# timestamps (plain empty_moov rebases every segment to 0, hiding gaps between segments).
FRAG_OPTIONS = {"movflags": "frag_keyframe+empty_moov+delay_moov+default_base_moof"}
_MAX_QUEUED = 1500  # packets (~50 s of 15 fps video + audio); beyond it the disk is hopelessly slow
_RETRY_AFTER_ERROR_S = 10.0
# Hard floor under any configured reserve: below it a segment is neither started nor continued. FFmpeg's
# buffered writes fail silently on ENOSPC (mux() and close() return fine, the file just lacks the data),
# so the recorder cannot wait for an error: it checks free space at every fragment (video keyframe) and
# compares each closed segment's size with the payload it muxed.
MIN_FREE_BYTES = 4 * 1024 * 1024
_RESTAMP_TB = Fraction(1, 90_000)


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
        self._ring: deque[_Pkt] = deque()
        self._motion_active = False
        self._record_until = 0.0  # monotonic
        self._error_until = 0.0
        self._disk_error = False  # the last failure was a full disk (a motion recorder re-checks between events)
        self._seg_payload = 0  # bytes of packet data muxed into the open segment
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
        if container.streams.audio:
            a = container.streams.audio[0]
            try:
                templates["a"] = tmpl.add_stream_from_template(a)
                kinds[a.index] = "a"
            except Exception as e:  # e.g. a codec MP4 cannot carry: record video only
                log.warning("%s: audio %s not recorded: %s", self.camera_id, a.codec_context.name, e)
        self._stream_kinds = kinds
        self._push(StreamOpened(tmpl, templates))

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
            case StreamOpened(container, templates):
                self._group, self._grouping = [], True
                self._close_segment()
                self._ring.clear()
                self._template_container, self._templates = container, templates
                self._restamping, self._src_last_v, self._mono0, self._restamp_last = False, None, None, {}
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

    def _on_pkt(self, p: _Pkt) -> None:
        if "v" not in self._templates:
            return
        p = self._restamp(p)
        is_vkey = p.kind == "v" and p.key
        if self._out is not None:
            if is_vkey and (not self._want(p) or self._seg_elapsed(p) >= self.segment_seconds):
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
        if self._want(p) and time.monotonic() >= self._error_until and self._ring and self._ring[0].key:
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
        keys = [i for i, q in enumerate(ring) if q.kind == "v" and q.key and q.mono <= horizon]
        if len(keys) > 0 and keys[-1] > 0:
            for _ in range(keys[-1]):
                ring.popleft()

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
        self._out_streams = {k: out.add_stream_from_template(t) for k, t in self._templates.items()}
        self._out, self._part, self._seg_wall = out, part, wall
        self._seg_first_v = self._seg_last_v = None
        self._seg_payload = 0
        self._seg_frame_dur = self._nominal_frame_s  # refined from the pts steps as packets arrive
        self._last_ts = {}
        self._has_audio = False
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
        if p.kind == "v" and p.pts is not None:
            t = float(p.pts * p.time_base)
            if self._seg_first_v is None:
                self._seg_first_v = t
            elif self._seg_last_v is not None and t > self._seg_last_v:
                self._seg_frame_dur = t - self._seg_last_v
            self._seg_last_v = max(t, self._seg_last_v or t)
        else:
            self._has_audio = True
        self._out.mux(pkt)
        self._seg_payload += len(p.data)
        if p.kind == "v" and p.key:  # a fragment boundary (frag_keyframe): the disk may have filled meanwhile
            self._check_free(MIN_FREE_BYTES)

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
    """Keep what is readable of one ``*.mp4.part`` (fragments written before a crash or a full disk): rename
    it to its final name with the duration it really holds and index it; remove it if nothing plays."""
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
    except Exception as e:
        log.warning("recovering %s: unreadable (%s); removed", part, e)
        part.unlink(missing_ok=True)
        return None
    if first is None or last is None:
        part.unlink(missing_ok=True)
        return None
    from app.recording.segments import _NAME_RE, parse_segment

    if not _NAME_RE.match(part.name.removesuffix(".part")):
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

"""One camera stream: one connection, a demux thread, a decoder, and a latest-frame slot.

::

    source ──(1 connection)──> demux thread ──┬─> packet sinks (recorder, stats)      [demux thread]
                                              └─> decoder.put(msg), one of (chosen when the pipeline is built):
                                                  InlineDecode: decodes on the demux thread (wall tiles)
                                                  ThreadedDecode: bounded queue ─> decode thread (main view)
                                                    ├─> frame sinks (motion, picture health) [rate-limited]
                                                    └─> tile-size BGRA (swscale) ─> LatestFrameSlot

The demux thread hands the decoder messages in stream order: ``StreamOpened``, then ``PacketMsg`` per
video packet (``Resync`` where packets were dropped), then ``StreamClosed``; ``CameraPipeline._handle`` is
the decoder's side, whichever thread runs it.

Tiles decode inline: one Python thread per camera halves the GIL contention the GUI thread sees at
32-64 tiles (docs/pipeline.md has the figures). The focused main stream decodes on its own thread; there
the demux never waits on the decoder: when the queue is full, queued packets are dropped and decoding
resumes at the next keyframe (counted in ``frames_dropped_total``), so latency cannot grow. Scaling
happens inside FFmpeg (one persistent swscale context), never in Python loops.

Reconnects use exponential backoff with jitter; a connection that produced frames resets it, so a
camera that comes back is LIVE again without any user action, every time.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

import av
import av.stream
import numpy as np
from av.video.reformatter import VideoReformatter

from app.pipeline.bitstream import annexb_codecs
from app.pipeline.frames import DISPLAY_PIXEL_FORMAT, Frame, FrameRateMeter, LatestFrameSlot, RateMeter, fit_size
from app.pipeline.pacing import Pacer
from app.pipeline.playlist import read_playlist
from app.pipeline.source import (
    SourceError,
    SourceSpec,
    build_spec,
    classify_error,
    demo_outage_active,
    open_source,
)
from app.pipeline.state import HealthSnapshot, StreamState, transition
from app.priority import lower_current_thread_priority
from app.secrets import mask_url

log = logging.getLogger(__name__)

_PACKET_QUEUE_MAX = 60  # ~4 s of 15 fps video; beyond this the decoder is hopelessly behind


class PacketSink(Protocol):
    """Consumes the compressed packets of the pipeline's single connection (recorder, stats).

    All three methods are called on the demux thread and must return quickly (queue the work). A pipeline
    whose ``stop()`` gave up waiting for its thread (:meth:`CameraPipeline.abandon`) calls none of them again.
    A sink added while a connection is open gets ``on_open`` with that connection's container before its next
    packet; one removed then gets ``on_close`` at the next packet (the focused camera's live audio joins and
    leaves a running connection: there is only one per camera).
    """

    def on_open(self, container: av.container.InputContainer) -> None: ...

    def on_packet(self, packet: av.Packet) -> None: ...

    def on_close(self) -> None: ...


FrameSink = Callable[[av.VideoFrame, float], None]  # (frame, monotonic time); called on the decode thread
StateListener = Callable[["CameraPipeline", StreamState, StreamState, str], None]


# ---------------------------------------------------------------------- demux -> decoder messages
# Frozen: a message is never changed after the demux thread hands it over. Slots: PacketMsg is made once per
# video packet (it replaces the tuple the queue held before; nothing else is allocated per packet).


@dataclass(frozen=True, slots=True)
class PacketMsg:
    """One video packet, and when the demux thread received it (monotonic; for the latency figure)."""

    packet: av.Packet
    is_key: bool  # a keyframe, or any packet of an intra-only codec
    t: float


@dataclass(frozen=True, slots=True)
class StreamOpened:
    """A new connection: decode its packets with *codec_context*; the first frame is timed from *t_open*."""

    codec_context: av.CodecContext
    t_open: float


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The connection ends: the decoder drops its codec context, then sets *done* (the container may go)."""

    done: threading.Event


@dataclass(frozen=True, slots=True)
class Resync:
    """Packets were dropped before the next one: decode nothing until the next keyframe."""


DecodeMsg = PacketMsg | StreamOpened | StreamClosed | Resync


KEYFRAMES_ONLY_GOP_GUESS_S = 10.0  # keyframes-only stall allowance before the GOP has been measured
HLS_SEGMENT_GUESS_S = 10.0  # a live HLS playlist whose target duration could not be read: the longest usual
BACK_PICTURES = 3  # after an outage, pictures in a row that make a camera back (one or two can be a flush)
BACK_PICTURE_GAP_S = 12.0  # ... each within this of the one before (a GOP: keyframes-only tiles get one per GOP)


@dataclass(frozen=True)
class PipelineOptions:
    open_timeout_s: float = 8.0
    read_timeout_s: float = 8.0
    stall_after_s: float = 3.0
    backoff_initial_s: float = 0.5
    backoff_cap_s: float = 30.0
    decode_threads: int = 1
    low_latency: bool = True
    transport: str = "tcp"
    # Decode on the demux thread (one thread per camera) instead of a decode thread fed by a queue.
    threaded_decode: bool = False
    # The pipeline's threads run this much nicer than the GUI thread (app/priority.py; 0 = unchanged).
    worker_nice: int = 10


def backoff_delay(attempt: int, initial: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with ±20 % jitter (so many cameras do not reconnect in lock-step), capped."""
    base = min(cap, initial * (2 ** min(attempt, 30)))
    r = (rng or random).uniform(0.8, 1.2)
    return min(cap, base * r)


class Decoder(Protocol):
    """Where the demux thread hands its messages; one of the two below, chosen when the pipeline is built."""

    done: threading.Event  # set while no decode thread runs: the demux must not wait for an acknowledgement
    dropped: int  # packets dropped because the decoder was behind (frames_dropped_total)

    def put(self, msg: DecodeMsg) -> None: ...  # on the demux thread, in stream order

    def start(self, tag: str) -> list[threading.Thread]: ...  # returns the threads it started

    def stop(self) -> None: ...  # wakes its thread; called after the pipeline's stop event is set


class InlineDecode:
    """Decodes on the demux thread, as each message is handed over: no queue, no thread (wall tiles)."""

    __slots__ = ("done", "put")
    dropped = 0  # never drops: the demux simply waits for each decode

    def __init__(self, handle: Callable[[DecodeMsg], None]) -> None:
        self.put = handle  # the handler itself, no wrapper method: no Python call per packet beyond it
        self.done = threading.Event()  # there is never a decode thread to wait for
        self.done.set()

    def start(self, tag: str) -> list[threading.Thread]:
        return []

    def stop(self) -> None:
        pass


class ThreadedDecode:
    """A bounded queue drained by a decode thread (the focused main stream). The demux never waits on it for
    a packet: when the queue is full, the queued packets are dropped (counted in ``dropped``) and decoding
    resumes at the next keyframe. Control messages always get through (the demux waits for room)."""

    __slots__ = ("_handle", "_nice", "_on_crash", "_queue", "_stop", "done", "dropped")

    def __init__(self, handle: Callable[[DecodeMsg], None], stop: threading.Event,
                 on_crash: Callable[[Exception], None], nice: int) -> None:  # fmt: skip
        self._handle = handle
        self._stop = stop  # the pipeline's: set before stop() is called
        self._on_crash = on_crash
        self._nice = nice
        # None (from stop()) only wakes a decode thread blocked on an empty queue; _stop is what ends it.
        self._queue: queue.Queue[DecodeMsg | None] = queue.Queue(maxsize=_PACKET_QUEUE_MAX)
        self.done = threading.Event()  # set when the decode thread has ended: nothing waits for it any more
        self.dropped = 0  # written by the demux thread only, read by snapshot()

    def start(self, tag: str) -> list[threading.Thread]:
        self.done.clear()
        t = threading.Thread(target=self._run, name=f"{tag}:decode", daemon=True)
        t.start()
        return [t]

    def stop(self) -> None:
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # a full queue wakes the decode thread anyway; it sees _stop at its next message

    def put(self, msg: DecodeMsg) -> None:
        """Called on the demux thread."""
        match msg:
            case PacketMsg():
                self._put_packet(msg)
            case _:
                self._put_control(msg)

    def _put_packet(self, msg: PacketMsg) -> None:
        try:
            self._queue.put_nowait(msg)
        except queue.Full:
            # Decoder is behind: drop everything queued and restart at the next keyframe.
            dropped = 0
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                match item:
                    case PacketMsg():
                        dropped += 1
                    case None:
                        pass  # stop()'s wake-up, dropped too: the Resync below wakes the thread, _stop ends it
                    case _:
                        self._put_control(item)  # keep control messages
                        break
            self.dropped += dropped
            self._put_control(Resync())
            if msg.is_key:
                self._queue.put_nowait(msg)

    def _put_control(self, msg: DecodeMsg) -> None:
        """Control messages must get through even if the queue is full (it is drained by the decoder)."""
        while True:
            try:
                self._queue.put(msg, timeout=0.2)
                return
            except queue.Full:
                if self._stop.is_set():
                    return

    def _run(self) -> None:
        lower_current_thread_priority(self._nice)
        try:
            while True:
                msg = self._queue.get()
                if msg is None or self._stop.is_set():
                    return
                self._handle(msg)
        except Exception as e:
            self._on_crash(e)
        finally:
            self.done.set()


class _DecoderState:
    __slots__ = ("ctx", "first", "need_key", "size", "t_open")

    def __init__(self) -> None:
        self.ctx = None
        self.t_open = 0.0
        self.need_key = True
        self.first = False
        self.size: tuple[int, int] | None = None  # the connection's picture size (its first picture's)


class _Stop(Exception):
    """Internal: the pipeline was asked to stop."""


class _Reopen(Exception):
    """Internal: the connection must be opened again, seamlessly if pictures are flowing (a live playlist
    "ended", or the stream's codec or picture size changed and the recorder needs a new segment)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class CameraPipeline:
    """Owns the threads of one camera stream. Thread-safe public API; no Qt."""

    def __init__(
        self,
        camera_id: str,
        name: str,
        url: str,
        *,
        group: str = "",
        variant: str = "tile",
        options: PipelineOptions | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.name = name
        self.group = group
        self.variant = variant
        self.url = url
        self.options = options or PipelineOptions()
        self.slot = LatestFrameSlot()
        self._masked_url = mask_url(url)
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards the snapshot fields below and the sink lists
        self._threads: list[threading.Thread] = []
        self._packet_sinks: list[PacketSink] = []
        # Held by the demux thread around each call into the packet sinks; abandon() takes it to cut them off,
        # so once it returns no sink call is under way and none follows (see abandon()).
        self._sink_gate = threading.Lock()
        self._sinks_cut = False
        # set by add/remove_packet_sink: the demux thread brings its open connection's sinks in line at the next
        # packet (_sync_sinks); _open_container is that connection's container (None between connections)
        self._sinks_changed = False
        self._open_container: av.container.InputContainer | None = None
        # copy-on-write tuple: the decode thread reads it per frame without taking the lock
        self._frame_sinks: tuple[tuple[FrameSink, float, list[float]], ...] = ()
        self._state_listeners: list[StateListener] = []
        self._output_box: tuple[int, int] | None = None
        self._keyframes_only = False
        self._resume_at_key = False  # set when keyframe-only ends: the demux skips to the next keyframe
        # snapshot fields (written by the pipeline threads under _lock, read through snapshot())
        self._snap = HealthSnapshot(
            camera_id=camera_id, name=name, group=group, url=self._masked_url, variant=variant,
            state=StreamState.IDLE, state_since=time.time(), reason="not started",
        )  # fmt: skip
        # Hot counters: plain ints, each written by one pipeline thread, read by snapshot() (atomic
        # under the GIL). Rebuilding the frozen snapshot per packet cost more than decoding did.
        self._packets_rx = 0
        self._bytes_rx = 0
        self._frames_decoded = 0
        self._decode_errors = 0
        self._keyframe_interval = 0.0
        self._rx_video = FrameRateMeter()  # the stream's frame rate, by its timestamps
        self._rx_bytes = RateMeter()
        self._decoded = RateMeter()
        self._last_frame_at = 0.0  # monotonic; also reset at each connect (the stall timer starts there)
        self._last_picture_at = 0.0  # monotonic: the last decoded picture, ever (the start of an outage)
        self._last_packet_at = 0.0  # monotonic: the last video packet, or the connect (a hung read's silence)
        self._back_at: float | None = None  # UNIX time of the first picture after an outage, awaiting more
        self._back_count = 0  # pictures in a row since _back_at
        self._back_last = 0.0  # UNIX time of the last of them
        self._last_keyframe_at = 0.0
        self._connected = False
        self._latency_ema = 0.0
        self._intra_only = False
        self._dec = _DecoderState()
        self._segment_s = 0.0  # live HLS: the playlist's target duration (0 for other sources)
        self._reopening = False  # a seamless reopen is under way: the stall watchdog keeps watching
        self._stream_change = ""  # set by the decoder side: the picture size changed (a recorder needs to know)
        self._resume_after: float | None = None  # live HLS: the last video timestamp handed on (a reopen skips to it)
        self._hls_was_live = False  # the playlist was live once: an EXT-X-ENDLIST now means its packager stopped
        self._hls_vod = False  # the playlist is a recording (ended when first read): it loops like a file
        self._hls_sequence = (0, 0.0)  # (next media sequence, monotonic time it was first seen) at the last open
        # Chosen once: the rest of the pipeline only calls put/start/stop and reads done/dropped.
        self._decoder: Decoder = (
            ThreadedDecode(self._handle, self._stop, self._decoder_crashed, self.options.worker_nice)
            if self.options.threaded_decode
            else InlineDecode(self._handle)
        )
        # one scaler per pipeline: frame.reformat() builds a new SwsContext per call (2x the cost)
        self._reformatter = VideoReformatter()

    # ------------------------------------------------------------------ public API

    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        self._sinks_cut = False  # only ever set while threads are kept (abandoned): none are here
        tag = f"camera:{self.camera_id}" + ("" if self.variant == "tile" else f":{self.variant}")
        demux = threading.Thread(target=self._demux_loop, name=f"{tag}:demux", daemon=True)
        # a decode thread (if any) is started first, so it is waiting on its queue before the demux feeds it
        self._threads = [demux, *self._decoder.start(tag)]
        demux.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the threads to stop and join them. Returns True if every thread ended in time.

        A read blocked in FFmpeg ends at the latest after ``read_timeout_s`` (PyAV's interrupt
        callback), so the default join timeout covers that. A shorter *timeout* (the supervisor's bounded
        stop) may give up on a thread still blocked there: it is then abandoned (:meth:`abandon`).
        """
        self._stop.set()
        self._decoder.stop()
        deadline = time.monotonic() + (
            timeout if timeout is not None else max(self.options.open_timeout_s, self.options.read_timeout_s) + 3
        )
        ok = True
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            ok = ok and not t.is_alive()
        if ok:
            self._threads = []
        else:
            self.abandon()
        self._update(state=StreamState.IDLE, reason="stopped", next_attempt_at=None)
        return ok

    def abandon(self, timeout: float = 1.0) -> None:
        """Cut the packet sinks off a thread that ``stop()`` no longer waits for (blocked in FFmpeg; a daemon
        that ends by itself within its read time-out). When it wakes up, it delivers nothing: no packet, and
        no ``on_close``, which by then would reach a recorder that has stopped and closed its segments
        itself (and, were it started again, would take stale packets into a new segment). A call under way
        now is waited for (sinks return quickly; *timeout* bounds it). Called by ``stop()`` when its join
        timed out, and by ``Supervisor.stop`` for every pipeline still running before it returns, so that
        what stops after the supervisor (the recorders, the store) never hears from a late wake-up."""
        got = self._sink_gate.acquire(timeout=timeout)
        self._sinks_cut = True
        if got:
            self._sink_gate.release()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def rename(self, name: str, group: str) -> None:
        """The camera was renamed in the config: snapshots carry the new words at once, without a reconnect."""
        self.name, self.group = name, group
        self._update(name=name, group=group)

    def threads(self) -> list[threading.Thread]:
        return list(self._threads)

    def snapshot(self) -> HealthSnapshot:
        now = time.monotonic()
        with self._lock:
            snap = self._snap
        connected = self._connected
        return replace(
            snap,
            fps_received=round(self._rx_video.rate(now), 2) if connected else 0.0,
            fps_decoded=round(self._decoded.rate(now), 2) if connected else 0.0,
            bitrate_bps=round(self._rx_bytes.rate(now) * 8, 0) if connected else 0.0,
            packets_received_total=self._packets_rx,
            bytes_received_total=self._bytes_rx,
            frames_decoded_total=self._frames_decoded,
            frames_dropped_total=self._decoder.dropped + self.slot.stale,
            decode_errors_total=self._decode_errors,
            keyframe_interval_s=round(self._keyframe_interval, 2),
            latency_ms=round(self._latency_ema * 1000, 1),
            keyframes_only=self._keyframes_only,
        )

    def set_output_size(self, width: int, height: int) -> None:
        """The box the display wants frames in (tile size). 0x0 = no display frames (headless)."""
        self._output_box = (width, height) if width > 0 and height > 0 else None

    def set_keyframes_only(self, enabled: bool) -> None:
        """Decode only keyframes (about 7x cheaper): for tiles that fall behind on a crowded wall."""
        enabled = bool(enabled)
        if self._keyframes_only and not enabled:
            # The next P-frame refers to pictures that were never decoded: resume at the next keyframe, or
            # the tile shows a smeared picture for up to a GOP. The demux thread applies it in stream order
            # (a keyframe already queued for a threaded decoder is followed by the P-frames it skipped).
            # Set before clearing the mode, so the demux never sees "full rate" without "wait for a key".
            self._resume_at_key = True
        self._keyframes_only = enabled

    def add_packet_sink(self, sink: PacketSink) -> None:
        """From any thread; a connection already open brings the sink in at its next packet (``on_open`` first)."""
        with self._lock:
            self._packet_sinks.append(sink)
            self._sinks_changed = True

    def remove_packet_sink(self, sink: PacketSink) -> None:
        """From any thread; the open connection calls the sink's ``on_close`` at its next packet, then no more."""
        with self._lock:
            if sink in self._packet_sinks:
                self._packet_sinks.remove(sink)
                self._sinks_changed = True

    def add_frame_sink(self, sink: FrameSink, max_fps: float = 5.0) -> None:
        """*sink(frame, t)* gets decoded frames (source size, native format) at most *max_fps* a second."""
        with self._lock:
            self._frame_sinks = (*self._frame_sinks, (sink, 1.0 / max_fps if max_fps > 0 else 0.0, [0.0]))

    def remove_frame_sink(self, sink: FrameSink) -> None:
        with self._lock:
            self._frame_sinks = tuple(s for s in self._frame_sinks if s[0] is not sink)

    def add_state_listener(self, listener: StateListener) -> None:
        """*listener(pipeline, old, new, reason)* is called on a pipeline thread at each state change."""
        with self._lock:
            self._state_listeners.append(listener)

    def set_conditions(self, conditions: tuple[str, ...], **extra: float | str | None) -> None:
        """Analysers (picture health, audio, network) publish their findings into the snapshot."""
        fields = {k: v for k, v in extra.items() if k in ("audio_level_dbfs", "mean_luma")}
        self._update(conditions=tuple(sorted(set(conditions))), **fields)

    def poll(self, now: float | None = None) -> None:
        """Called by the supervisor's watchdog (about twice a second): detects STALLED and recovery."""
        t = time.monotonic() if now is None else now
        snap = self._snap
        if not (self._connected or self._reopening):
            return
        silent_for = t - self._last_frame_at if self._last_frame_at else 0.0
        # a live HLS source delivers a segment at a time and FFmpeg reloads its playlist up to a target
        # duration late: allow a segment on top (2 s segments: 5 s, 6 s: 9 s, 10 s: 13 s)
        limit = self.options.stall_after_s + self._segment_s
        if self._keyframes_only:
            # one picture per GOP: a camera with 4-10 s between keyframes is not stalled between two of them;
            # until two keyframes have told the interval, allow a long GOP (10 s) rather than cry STALLED
            limit += 2 * (self._keyframe_interval or KEYFRAMES_ONLY_GOP_GUESS_S)
        if snap.state is StreamState.LIVE and silent_for > limit:
            with self._lock:
                self._snap = replace(self._snap, stalls_total=self._snap.stalls_total + 1)
            self._set_state(StreamState.STALLED, f"connected, but no picture for {silent_for:.0f} s")

    # ------------------------------------------------------------------ internals: state

    def _update(self, **fields) -> None:
        with self._lock:
            self._snap = replace(self._snap, **fields)

    def _set_state(
        self, new: StreamState, reason: str, next_in_s: float | None = None, back_at: float | None = None
    ) -> None:
        """Change state with the outage facts in the same snapshot (``state.transition``: listeners see both).

        Decided under the lock: the watchdog (STALLED), the decoder (LIVE) and the demux thread (failures,
        *next_in_s* = the wait before its next attempt) may change state at the same moment.
        """
        with self._lock:
            old = self._snap.state
            snap = transition(self._snap, new, reason, time.time(), last_picture_at=self._last_picture_time(),
                              next_in_s=next_in_s, back_at=back_at)  # fmt: skip
            if snap is self._snap:
                return
            self._snap = snap
            listeners = list(self._state_listeners)
        if old is not new:
            log.info("%s [%s]: %s -> %s (%s)", self.camera_id, self.variant, old, new, reason)
            for cb in listeners:
                try:
                    cb(self, old, new, reason)
                except Exception:  # a faulty listener must not kill the pipeline
                    log.exception("state listener failed for %s", self.camera_id)

    def _last_picture_time(self) -> float | None:
        """UNIX time of the last decoded picture (None if there never was one)."""
        if not self._last_picture_at:
            return None
        return time.time() - max(0.0, time.monotonic() - self._last_picture_at)

    # ------------------------------------------------------------------ internals: demux thread

    def _wait(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stop

    def _demux_loop(self) -> None:
        opts = self.options
        lower_current_thread_priority(opts.worker_nice)
        try:
            spec = build_spec(self.url, transport=opts.transport, low_latency=opts.low_latency,
                              read_timeout_s=opts.read_timeout_s)  # fmt: skip
        except SourceError as e:
            self._set_state(e.state, e.reason)
            return
        attempt = 0  # failed connections in a row: the backoff's exponent
        first_connect = True
        reopen: _Reopen | None = None  # the last connection asked to be opened again at once
        try:
            while not self._stop.is_set():
                if reopen is None:
                    if first_connect:
                        self._set_state(StreamState.CONNECTING, "connecting")
                    else:
                        n = self._snap.reconnect_attempt  # written by this thread only (and reset on recovery)
                        self._set_state(StreamState.CONNECTING, f"reconnecting (attempt {n})" if n else "reconnecting")
                    self._back_at = None  # a lone picture flushed by the last connection does not carry over
                frames_before = self._frames_decoded
                ended = SourceError(StreamState.OFFLINE, "stream ended (server closed the connection)")
                try:
                    self._run_connection(spec, reopen)
                    reopen = None
                except _Reopen as r:
                    reopen = r
                    ended = SourceError(StreamState.OFFLINE, r.why)
                except SourceError as e:
                    reopen = None
                    ended = e
                    log.debug("%s: %s", self.camera_id, e.detail)
                finally:
                    self._connected = False
                    self._reopening = False
                if self._stop.is_set():
                    break
                # (only while pictures flow: a chain of reopens that plays nothing new is down once the stall
                # allowance has passed since the last picture, like any other connection)
                if reopen is not None and self._pictures_flowing():
                    # Seamless: the state stays what it is (LIVE), the stall watchdog keeps timing from the last
                    # picture, and the next connection skips what was already handed on.
                    log.info("%s [%s]: reopening the stream: %s", self.camera_id, self.variant, reopen.why)
                    with self._lock:
                        self._snap = replace(self._snap, reconnects_total=self._snap.reconnects_total + 1)
                    self._reopening = True
                    first_connect = False
                    attempt = 0
                    continue
                reopen = None
                # a connection that produced pictures resets the backoff (it nearly always ends in an error:
                # a live stream does not end by itself, so this cannot be _run_connection's return value)
                had_frames = self._frames_decoded > frames_before
                attempt = 0 if had_frames else attempt + 1
                if not first_connect or had_frames:
                    with self._lock:
                        self._snap = replace(self._snap, reconnects_total=self._snap.reconnects_total + 1)
                first_connect = False
                delay = backoff_delay(attempt, opts.backoff_initial_s, opts.backoff_cap_s)
                self._set_state(ended.state, ended.reason, next_in_s=delay)
                self._wait(delay)
        except _Stop:
            pass
        except Exception as e:  # last line of defence: the pipeline reports, never dies silently
            log.exception("%s: demux thread crashed", self.camera_id)
            self._set_state(StreamState.ERROR, f"internal error: {type(e).__name__}")

    def _pictures_flowing(self) -> bool:
        """A picture came within the stall allowance: a reopen now need not show the camera as down."""
        limit = self.options.stall_after_s + self._segment_s
        return bool(self._last_picture_at) and time.monotonic() - self._last_picture_at < limit

    def _check_playlist_moves(self, next_sequence: int) -> None:
        """A live playlist that lists no new segment for longer than a packager may take (it adds one every
        target duration, RFC 8216 4.3.3.1; allowed: one and a half, plus the stall allowance) belongs to a
        stopped packager: opening it would replay its last segments as if they were live."""
        seen, since = self._hls_sequence
        now = time.monotonic()
        if next_sequence != seen or not since:
            self._hls_sequence = (next_sequence, now)
            return
        unchanged = now - since
        if unchanged > 1.5 * self._segment_s + self.options.stall_after_s:
            raise SourceError(
                StreamState.OFFLINE, f"the playlist has had no new segment for {unchanged:.0f} s: the packager stopped"
            )

    def _run_connection(self, spec: SourceSpec, reopen: _Reopen | None = None) -> None:
        """One connection: open, demux until lost (raises SourceError), stopped (raises _Stop) or to be
        opened again at once (raises _Reopen). *reopen*: why the last connection asked for this one."""
        opts = self.options
        t_open = time.monotonic()
        read_timeout = opts.read_timeout_s
        if spec.hls:
            info = read_playlist(spec.target, min(3.0, opts.open_timeout_s))
            if info is not None and info.ended and self._hls_was_live:
                raise SourceError(StreamState.OFFLINE, "the playlist ended: the packager stopped publishing")
            # FFmpeg waits up to a target duration for a playlist reload: that wait must not read as a hang
            self._segment_s = (info.target_s if info is not None else None) or HLS_SEGMENT_GUESS_S
            if info is not None:
                self._hls_vod = info.ended
                self._hls_was_live = self._hls_was_live or not info.ended
                if not info.ended:  # a recording's playlist never moves, and need not
                    self._check_playlist_moves(info.next_sequence)
            read_timeout = max(read_timeout, 1.5 * self._segment_s + 2.0)
        container = open_source(spec, opts.open_timeout_s, read_timeout)
        sinks_opened: list[PacketSink] = []
        try:
            if not container.streams.video:
                raise SourceError(StreamState.ERROR, "no video in this stream")
            vstream = self._pick_video_stream(container)
            ctx = vstream.codec_context
            if ctx.codec is None or not ctx.name:
                raise SourceError(StreamState.ERROR, "unsupported codec: no decoder for this stream")
            # every packet of an intra-only codec (MJPEG, raw, lavfi's wrapped frames) starts a picture
            self._intra_only = bool(ctx.codec.intra_only) or ctx.name in ("wrapped_avframe", "rawvideo")
            ctx.thread_type = "AUTO" if opts.decode_threads != 1 else "SLICE"
            ctx.thread_count = opts.decode_threads
            astream = container.streams.audio[0] if container.streams.audio else None
            self._update(
                codec=_codec_label(ctx.name), width=ctx.width or 0, height=ctx.height or 0,
                audio_codec=astream.codec_context.name if astream is not None else "",
            )  # fmt: skip
            if reopen is None:
                for meter in (self._rx_video, self._rx_bytes, self._decoded):
                    meter.reset()
                self._last_frame_at = time.monotonic()  # stall timer starts at connect (a reopen keeps it)
            else:
                self._rx_video.new_run()  # the reopened stream's timestamps may start anywhere
            self._last_keyframe_at = 0.0
            self._stream_change = ""
            self._connected = True
            self._last_packet_at = time.monotonic()
            if self._stop.is_set():  # the open returned after stop(): no sink hears of this connection
                raise _Stop
            with self._lock:
                sinks = list(self._packet_sinks)
                self._sinks_changed = False  # this list is what the connection starts with
            self._open_container = container
            with self._sink_gate:
                for s in sinks if not self._sinks_cut else ():
                    try:
                        s.on_open(container)
                        sinks_opened.append(s)
                    except Exception:
                        log.exception("%s: packet sink %r failed to open", self.camera_id, s)
            # hand the decoder its new stream; it reports the first frame time against t_open
            self._decoder.put(StreamOpened(ctx, t_open))
            streams = [vstream] + ([astream] if astream is not None else [])
            self._demux(container, spec, vstream, sinks_opened, streams)
        except (SourceError, _Stop, _Reopen):
            raise
        except Exception as e:
            # a read that failed after this long without a packet was (most likely) PyAV's read time-out
            silent = time.monotonic() - self._last_packet_at
            raise classify_error(e, spec.secrets, waited_s=silent, timeout_s=opts.read_timeout_s) from None
        finally:
            # The decoder must be done with this stream's codec context before the container goes. Inline,
            # that is so when put() returns; a decode thread acknowledges it, unless it has ended (stop or
            # crash: done) or is stuck in a decode for over 2 s.
            closed = threading.Event()
            self._decoder.put(StreamClosed(closed))
            deadline = time.monotonic() + 2.0
            while not closed.wait(0.05) and not self._decoder.done.is_set() and time.monotonic() < deadline:
                pass
            self._open_container = None
            with self._sink_gate:
                for s in sinks_opened if not self._sinks_cut else ():  # abandoned: see abandon()
                    try:
                        s.on_close()
                    except Exception:
                        log.exception("%s: packet sink %r failed to close", self.camera_id, s)
            try:
                container.close()
            except Exception:
                pass

    def _pick_video_stream(self, container):
        """One rendition of a multi-rendition source (HLS master playlist): the smallest that still fills
        the tile (the largest for the focused main view); the others are discarded so FFmpeg does not
        download their segments at all."""
        videos = list(container.streams.video)
        if len(videos) == 1:
            return videos[0]
        by_height = sorted(videos, key=lambda st: (st.codec_context.height or 0, st.index))
        box = self._output_box
        chosen = by_height[-1]
        if self.variant != "main" and box is not None:
            chosen = next((st for st in by_height if (st.codec_context.height or 0) >= box[1]), by_height[-1])
        for st in videos:
            if st is not chosen:
                st.discard = av.stream.Discard.all
        log.info("%s: %d renditions, playing %dp", self.camera_id, len(videos), chosen.codec_context.height or 0)
        return chosen

    def _demux(self, container, spec: SourceSpec, vstream, sinks: list[PacketSink], streams: list) -> None:
        pacer = Pacer() if spec.paced else None
        vindex = vstream.index
        # seconds per timestamp tick, per stream (packet.time_base makes a Fraction per call)
        tick_s = {st.index: float(st.time_base) for st in streams if st.time_base is not None}
        timed = pacer is not None or spec.hls  # timestamps in seconds are needed (pacing, reopen continuity)
        # A live playlist opened again continues the last connection's timeline: what was handed on already is
        # skipped, so a packager that stopped is not replayed as live (an RTSP or RTMP reconnect starts its own
        # timestamps anew: skipping "old" ones there would drop good pictures, so only HLS). It restarts at most
        # a few segments back: a timestamp further back than that is another timeline (a new packager).
        resume_after = self._resume_after if spec.hls and not self._hls_vod else None
        replay_s = 3 * self._segment_s + 2.0
        # an MPEG-TS source can switch codec on the same PID: the demuxer keeps the codec it probed, so the
        # packets' own bytes are checked (H.264 and HEVC in Annex B; app/pipeline/bitstream.py)
        expect_codec = vstream.codec_context.name if vstream.codec_context.name in ("h264", "hevc") else None
        sniff = expect_codec is not None
        foreign = 0  # video packets in a row whose bytes say another codec
        # At an HEVC -> H.264 switch FFmpeg's HEVC parser loses the picture before the last one (seen with the
        # lab's switching playlist: 29 of 30 pictures): the last picture then refers to a missing one and the
        # recording warns at its end. Live HLS video reaches the sinks one packet late, so the last picture
        # before a switch can be dropped with the switch.
        hold_last = sniff and spec.hls
        vtick = float(vstream.time_base) if vstream.time_base is not None else 0.0
        last_key_ts: float | None = None
        # one picture may come as several packets of one timestamp (parameter sets before an IDR, slices):
        # the figures count pictures, so a packet that continues the previous one's picture is not counted.
        # Only once the timestamps have moved: a source that stamps every packet 0 has no pictures to join.
        last_vpts: int | None = None
        pts_moved = False
        decode = self._decoder.put
        held: list[av.Packet] = []  # the video packet the sinks get next (live HLS: see hold_last above)
        try:
            for packet in container.demux(streams):
                if self._stop.is_set():
                    raise _Stop
                if packet.size == 0 and packet.pts is None:
                    continue  # flush packet at EOF
                now = time.monotonic()
                if spec.outage and demo_outage_active(spec.outage):
                    raise SourceError(StreamState.OFFLINE, "connection lost (demo outage)")
                is_video = packet.stream_index == vindex
                ts = packet.dts if packet.dts is not None else packet.pts
                ts_s = ts * tick_s.get(packet.stream_index, 0.0) if timed and ts is not None else None
                if resume_after is not None and ts_s is not None:
                    # an opened-again playlist starts behind where the last connection stopped: skip what was handed on
                    if resume_after - replay_s < ts_s <= resume_after:
                        continue
                    if is_video:
                        resume_after = None  # past it (or another timeline): from here on everything is new
                if pacer is not None and ts_s is not None and is_video:
                    # paced on the video alone: ffmpeg's fMP4 HLS segments hold all their video, then all their
                    # audio, so pacing both held the pictures back through every audio run (7 fps for 15)
                    wait = pacer.delay(ts_s, now)
                    if wait > 0:
                        self._wait(wait)
                        now = time.monotonic()
                if not is_video:
                    self._to_sinks(sinks, packet)
                    continue
                if sniff:
                    codecs = annexb_codecs(memoryview(packet))
                    other = codecs - {expect_codec}
                    if other:
                        # Held back from the decoder and the recorder (it would go into a track of the old codec).
                        # Two in a row: the stream changed (one alone may be a damaged packet). A packet with units of
                        # both is the switch itself (the old codec's parser glued the new one's first units onto its
                        # last picture): what follows is the new codec, so reopen now (a picture after it would
                        # refer to the one held back).
                        foreign += 2 if expect_codec in codecs else 1
                        if foreign >= 2:
                            held.clear()
                            raise _Reopen(f"the stream changed codec ({_codec_label(expect_codec)} to "
                                          f"{_codec_label(next(iter(other)))})")  # fmt: skip
                        continue
                    foreign = 0
                self._last_packet_at = now
                self._rx_bytes.add(packet.size, now)
                is_key = packet.is_keyframe or self._intra_only
                same_picture = pts_moved and packet.pts is not None and packet.pts == last_vpts
                pts_moved = pts_moved or (last_vpts is not None and packet.pts is not None and packet.pts != last_vpts)
                last_vpts = packet.pts
                if not same_picture:
                    self._rx_video.add(packet.pts * vtick if packet.pts is not None and vtick else None, now)
                if is_key and not same_picture:
                    # the interval the stream says (its timestamps), else the one the clock saw (arrival jitter:
                    # a 10 fps MJPEG camera read 0.08-0.11 s under load)
                    key_ts = packet.pts * vtick if packet.pts is not None and pts_moved else None
                    if key_ts is not None and last_key_ts is not None and 0 < key_ts - last_key_ts < 60:
                        self._keyframe_interval = key_ts - last_key_ts
                    elif self._last_keyframe_at:
                        self._keyframe_interval = now - self._last_keyframe_at
                    last_key_ts = key_ts
                    self._last_keyframe_at = now
                self._packets_rx += 1
                self._bytes_rx += packet.size
                if ts_s is not None:
                    self._resume_after = ts_s
                if (self._keyframes_only or self._resume_at_key) and not is_key:
                    self._video_to_sinks(sinks, packet, held if hold_last else None)
                    continue
                if is_key and not self._keyframes_only:
                    self._resume_at_key = False
                # decoded before the sinks see it: a packet that changes the picture size goes to the new segment
                decode(PacketMsg(packet, is_key, now))
                if self._stream_change:
                    raise _Reopen(self._stream_change)
                self._video_to_sinks(sinks, packet, held if hold_last else None)
        finally:
            if held:  # the connection ends: the held packet is good (a codec switch discarded it)
                self._to_sinks(sinks, held.pop())

        # demux() ended: the source closed (EOF). Files and lavfi loop; a live HLS playlist that "ended" is
        # opened again (its next reload usually continues it: a packager restart, a CDN hiccup, a read of a
        # playlist written without its newest segment); live servers do not end.
        if spec.loops or (spec.hls and self._hls_vod):
            raise SourceError(StreamState.CONNECTING, "end of file, restarting")
        if spec.hls:
            raise _Reopen("the playlist ended")
        raise SourceError(StreamState.OFFLINE, "stream ended (server closed the connection)")

    def _video_to_sinks(self, sinks: list[PacketSink], packet: av.Packet, held: list[av.Packet] | None) -> None:
        """Hand a video packet on; with *held*, one packet late (the held one goes, this one is held)."""
        if held is None:
            self._to_sinks(sinks, packet)
            return
        if held:
            self._to_sinks(sinks, held.pop())
        held.append(packet)

    def _to_sinks(self, sinks: list[PacketSink], packet: av.Packet) -> None:
        with self._sink_gate:  # uncontended but for abandon(): well under a microsecond per packet
            if self._sinks_cut:
                return
            if self._sinks_changed:
                self._sync_sinks(sinks)
            for s in sinks:
                try:
                    s.on_packet(packet)
                except Exception:
                    log.exception("%s: packet sink %r failed", self.camera_id, s)

    def _sync_sinks(self, sinks: list[PacketSink]) -> None:
        """On the demux thread, under the sink gate: the open connection's *sinks* (its own list, changed in
        place) follow ``add/remove_packet_sink``: a removed sink gets ``on_close``, an added one ``on_open``
        with this connection's container. The flag is cleared under the lock with the copy, so a change made
        meanwhile sets it again and is seen at the next packet."""
        with self._lock:
            wanted = list(self._packet_sinks)
            self._sinks_changed = False
        for s in [s for s in sinks if s not in wanted]:
            sinks.remove(s)
            try:
                s.on_close()
            except Exception:
                log.exception("%s: packet sink %r failed to close", self.camera_id, s)
        container = self._open_container
        for s in wanted:
            if s not in sinks and container is not None:
                try:
                    s.on_open(container)
                    sinks.append(s)
                except Exception:
                    log.exception("%s: packet sink %r failed to open", self.camera_id, s)

    # ------------------------------------------------------------------ internals: decoder side

    def _decoder_crashed(self, e: Exception) -> None:
        """Called on the decode thread, inside its ``except`` (so the log has the traceback)."""
        log.exception("%s: decode thread crashed", self.camera_id)
        self._set_state(StreamState.ERROR, f"decoder failed: {type(e).__name__}")

    def _handle(self, msg: DecodeMsg) -> None:
        """Decoder side of the demux's messages (on the decode thread, or inline on the demux thread)."""
        d = self._dec
        match msg:
            case PacketMsg(packet, is_key, t):
                if d.ctx is None:
                    return
                if d.need_key:
                    if not is_key:
                        return
                    d.need_key = False
                d.ctx.skip_frame = "NONKEY" if self._keyframes_only else "DEFAULT"
                try:
                    frames = d.ctx.decode(packet)
                except av.error.FFmpegError as e:
                    self._decode_errors += 1
                    log.debug("%s: decode error %s", self.camera_id, e)
                    return
                for frame in frames:
                    size = (frame.width, frame.height)
                    if d.size is None:
                        d.size = size
                    elif size != d.size and not self._stream_change and self._packet_sinks:
                        # a recorder writes the new size into a new segment: the connection is opened again
                        was, now = "x".join(map(str, d.size)), "x".join(map(str, size))
                        self._stream_change = f"the picture size changed ({was} to {now})"
                    self._on_frame(frame, t, d.t_open, d.first)
                    d.first = False
            case StreamOpened(ctx, t_open):
                d.ctx, d.t_open, d.need_key, d.first, d.size = ctx, t_open, True, True, None
            case StreamClosed(done):
                d.ctx = None
                done.set()
            case Resync():
                d.need_key = True

    def _on_frame(self, frame: av.VideoFrame, arrived: float, t_open: float, first: bool) -> None:
        now = time.monotonic()
        self._last_frame_at = self._last_picture_at = now
        self._decoded.add(1.0, now)
        self._frames_decoded += 1
        snap = self._snap
        if first or frame.width != snap.width or frame.height != snap.height:
            fields: dict = {"width": frame.width, "height": frame.height}
            if first:
                fields["time_to_first_frame_s"] = round(now - t_open, 3)
            self._update(**fields)
        for sink, min_interval, last in self._frame_sinks:
            if now - last[0] >= min_interval:
                last[0] = now
                try:
                    sink(frame, now)
                except Exception:
                    log.exception("%s: frame sink failed", self.camera_id)
        box = self._output_box
        done = now
        if box is not None:
            w, h = fit_size(frame.width, frame.height, *box)
            if w and h:
                # scale + convert inside FFmpeg (swscale); the GIL is released while it runs. Tiles scale on
                # this thread: FFmpeg 8's swscale otherwise starts a thread per core for every scaler (2 x 64
                # threads on a wall) and a small picture costs more that way (220 vs 135 us at 640x360 ->
                # 320x180, measured); the focused main view keeps FFmpeg's choice for its big pictures.
                out = self._reformatter.reformat(
                    frame, width=w, height=h, format=DISPLAY_PIXEL_FORMAT, interpolation="BILINEAR",
                    threads=None if self.variant == "main" else 1,
                )  # fmt: skip
                image = out.to_ndarray()
                if not image.flags["C_CONTIGUOUS"]:
                    image = np.ascontiguousarray(image)  # swscale pads rows; the UI wants tight rows
                pts_s = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
                done = time.monotonic()
                self.slot.put(Frame(self.slot.next_seq(), image, frame.width, frame.height, done, pts_s))
        latency = done - arrived
        self._latency_ema = 0.9 * self._latency_ema + 0.1 * latency if self._latency_ema else latency
        if snap.state is not StreamState.LIVE:
            wall = time.time()
            if self._back_at is not None and wall - self._back_last > BACK_PICTURE_GAP_S:
                self._back_at = None  # a stray picture long ago: this one starts the count afresh
            if snap.down_since is not None and (self._back_at is None or self._back_count + 1 < BACK_PICTURES):
                # After an outage it takes three pictures in a row to be back: a read that times out makes
                # FFmpeg flush what its demuxer held, pictures from before the hang that would otherwise flash
                # the tile LIVE: one from a hung RTSP server's depacketiser (2 s after SIGSTOP, lab server), the
                # last two of a live HLS segment when its packager died (when the read time-out ends FFmpeg's
                # playlist reload). A camera that is really back sends the next ones a frame interval later.
                if self._back_at is None:
                    self._back_at, self._back_count = wall, 0
                self._back_count += 1
                self._back_last = wall
            else:
                self._set_state(StreamState.LIVE, "receiving pictures", back_at=self._back_at)
                self._back_at = None


def _codec_label(name: str) -> str:
    return {
        "h264": "H.264",
        "hevc": "H.265",
        "mpeg4": "MPEG-4",
        "mjpeg": "MJPEG",
        "wrapped_avframe": "raw",
    }.get(name, name)

"""Instant replay: the last seconds of a camera's tile stream, kept in memory and played again in place.

::

    tile pipeline demux thread ──on_packet──> PacketRing (per camera: whole GOPs, <= N s, <= a byte cap)
                                                  │ since(N): the packets from the keyframe at or before now - N
                                                  v
                     ReplayPlayer thread "replay:<camera>": decode ─> swscale to the tile's box ─> LatestFrameSlot
                                                  (paced in real time, ends at the live edge of the request)

Where the pictures come from (decided): **always the in-memory ring of the tile stream**, for recording and
non-recording cameras alike, never the recorder's segments. Reasons: the ring holds exactly the range a
replay offers (10-60 s) for every camera, whether or not it records or its recorder is healthy; the tile
stream is already the size a tile shows (a recorded 4K main stream would cost ten times the decode for
the same tile); the open ``.part`` segment is readable only up to its last complete fragment, so the last
seconds (the ones an operator most often wants) are not there yet; and one code path is one set of
faults. Looking further back is the recordings player's job (``app/recording/playback.py``).

Cost on the demux thread: one ``bytes(packet)`` copy and a small frozen record per video packet, under
an uncontended lock (a GOP list append). Packets of codecs that cannot be copied out of the packet
(``wrapped_avframe``: lavfi and ``demo://`` sources hand over pointers to decoded pictures, not bytes) are
not kept; the ring says why (:attr:`PacketRing.unavailable`).

Eviction is by whole GOPs from the front, so the ring always starts at a keyframe: the front GOP goes
once the next one still covers the last N seconds, or whenever the ring holds more than its byte cap
(a single GOP larger than the cap empties the ring until the next keyframe). A player works on a list of
references taken at its start (the ring may evict meanwhile): while one plays, a camera holds at most
twice its cap.

Races: ``on_open``/``on_packet``/``on_close`` run on the demux thread, ``since`` on the GUI thread; the
lock covers the GOP deque and its byte count. A reconnect starts a new :class:`StreamParams` (the packets
keep the parameters they were received with) and waits for a keyframe; the player makes a new decoder
when the parameters change and re-anchors its pacing when the timeline breaks (:class:`~app.pipeline.
pacing.Pacer`), so an outage inside the replayed range is skipped, not waited through.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import av
import av.stream
import numpy as np
from av.video.reformatter import VideoReformatter

from app.pipeline.frames import DISPLAY_PIXEL_FORMAT, Frame, LatestFrameSlot, fit_size
from app.pipeline.pacing import Pacer

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 24 * 2**20
STOP_BOUND_S = 2.0  # ReplayPlayer.stop() returns within this
# packets that carry a pointer to a decoded picture, not the coded bytes: nothing to keep
UNCOPYABLE_CODECS = frozenset({"wrapped_avframe"})


@dataclass(frozen=True, slots=True)
class StreamParams:
    """What a decoder needs to decode the packets of one connection (copied at ``on_open``)."""

    codec: str
    extradata: bytes | None
    width: int
    height: int
    time_base: Fraction | None


@dataclass(frozen=True, slots=True)
class RingPacket:
    """One video packet, copied: immutable, safe to hand to another thread."""

    data: bytes
    pts: int | None
    dts: int | None
    key: bool
    received_at: float  # UNIX time the demux thread handed it on (a replayed picture's "when it was live")
    received_mono: float  # time.monotonic() of the same moment (eviction, pacing without timestamps)
    params: StreamParams


class _Gop:
    __slots__ = ("nbytes", "packets", "start")

    def __init__(self, first: RingPacket) -> None:
        self.packets = [first]
        self.nbytes = len(first.data)
        self.start = first.received_mono


class PacketRing:
    """A :class:`~app.pipeline.pipeline.PacketSink` keeping the last *seconds* of video packets, whole GOPs,
    at most *max_bytes* (the packets' bytes). Methods other than the sink's are thread-safe."""

    def __init__(
        self,
        camera_id: str,
        seconds: float,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.camera_id = camera_id
        self.seconds = float(seconds)
        self.max_bytes = int(max_bytes)
        self._clock, self._wall = clock, wall
        self._lock = threading.Lock()
        self._gops: deque[_Gop] = deque()
        self._nbytes = 0
        self._vindex: int | None = None  # the connection's video stream index (None: keep nothing)
        self._params: StreamParams | None = None
        self._need_key = True
        self.unavailable = ""  # words, when this stream cannot be replayed (e.g. synthetic pictures)
        self.peak_bytes = 0  # the most it ever held (tests: never above the cap)
        self.gops_dropped_for_bytes = 0

    # ------------------------------------------------------------------ PacketSink (demux thread)
    def on_open(self, container) -> None:
        video = [s for s in container.streams.video if s.discard != av.stream.Discard.all]
        if not video:
            self._vindex = None
            return
        v = video[0]
        ctx = v.codec_context
        if ctx.name in UNCOPYABLE_CODECS or not ctx.name:
            self._vindex = None
            self.unavailable = "its pictures are generated, not received, so none are kept"
            return
        extradata = ctx.extradata
        self._params = StreamParams(ctx.name, bytes(extradata) if extradata else None, ctx.width or 0,
                                    ctx.height or 0, v.time_base)  # fmt: skip
        self._vindex = v.index
        self._need_key = True  # the first packet of a connection may refer to pictures of the last one
        self.unavailable = ""

    def on_packet(self, packet: av.Packet) -> None:
        if packet.stream_index != self._vindex or self._params is None or packet.size == 0:
            return
        key = bool(packet.is_keyframe)
        if self._need_key and not key:
            return
        self._need_key = False
        rp = RingPacket(bytes(packet), packet.pts, packet.dts, key, self._wall(), self._clock(), self._params)
        with self._lock:
            self._add(rp)

    def on_close(self) -> None:
        self._vindex = None

    # ------------------------------------------------------------------ internals
    def _add(self, rp: RingPacket) -> None:
        gops = self._gops
        if rp.key or not gops:
            gops.append(_Gop(rp))
        else:
            g = gops[-1]
            g.packets.append(rp)
            g.nbytes += len(rp.data)
        self._nbytes += len(rp.data)
        horizon = rp.received_mono - self.seconds
        # the front GOP goes once the next one still reaches back N seconds; any GOP goes while over the cap
        while len(gops) > 1 and (gops[1].start <= horizon or self._nbytes > self.max_bytes):
            if self._nbytes > self.max_bytes:
                self.gops_dropped_for_bytes += 1
            self._nbytes -= gops.popleft().nbytes
        if self._nbytes > self.max_bytes:  # one GOP larger than the cap: start again at the next keyframe
            gops.clear()
            self._nbytes = 0
            self.gops_dropped_for_bytes += 1
            self._need_key = True
        self.peak_bytes = max(self.peak_bytes, self._nbytes)

    # ------------------------------------------------------------------ readers (any thread)
    @property
    def nbytes(self) -> int:
        return self._nbytes

    def held_s(self) -> float:
        """Seconds of pictures held now (from the first keyframe to the newest packet)."""
        with self._lock:
            if not self._gops:
                return 0.0
            return self._gops[-1].packets[-1].received_mono - self._gops[0].start

    def since(self, seconds: float) -> list[RingPacket]:
        """The packets from the keyframe at or before ``now - seconds`` to the newest (all of them when the
        ring holds less); [] when it holds nothing. A list of references: the ring may go on evicting."""
        with self._lock:
            gops = list(self._gops)
        if not gops:
            return []
        start = gops[-1].packets[-1].received_mono - seconds
        first = 0
        for i, g in enumerate(gops):
            if g.start <= start:
                first = i
        return [p for g in gops[first:] for p in g.packets]


class ReplayBuffers:
    """One :class:`PacketRing` per camera, attached to each tile pipeline (``Supervisor.add_pipeline_hook``).

    *settings* returns the wall settings in force (``replay_buffer_s``, ``replay_max_mb``); they are read
    when a pipeline is made, so a change applies to the next (re)started camera. 0 seconds = no rings."""

    def __init__(self, settings: Callable[[], object]) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._rings: dict[str, PacketRing] = {}

    def attach(self, pipeline, camera) -> None:
        s = self._settings()
        seconds = float(getattr(s, "replay_buffer_s", 0.0))
        if seconds <= 0:
            return
        ring = PacketRing(camera.id, seconds, int(getattr(s, "replay_max_mb", 24) * 2**20))
        pipeline.add_packet_sink(ring)
        with self._lock:
            self._rings[camera.id] = ring  # a restarted pipeline's ring replaces the old one

    def prune(self, camera_ids: set[str]) -> None:
        """Forget the rings of cameras not in *camera_ids* (removed or disabled): their pictures are freed."""
        with self._lock:
            for cid in [c for c in self._rings if c not in camera_ids]:
                del self._rings[cid]

    def ring(self, camera_id: str) -> PacketRing | None:
        with self._lock:
            return self._rings.get(camera_id)

    def rings(self) -> dict[str, PacketRing]:
        with self._lock:
            return dict(self._rings)


def _codec_context(params: StreamParams) -> av.CodecContext:
    ctx = av.CodecContext.create(params.codec, "r")
    if params.extradata:
        ctx.extradata = params.extradata
    if params.width and params.height:
        ctx.width, ctx.height = params.width, params.height
    ctx.thread_type = "SLICE"
    ctx.thread_count = 1  # one tile's picture: a replay must not take the cores the live wall decodes on
    return ctx


class ReplayPlayer:
    """Decodes *packets* (from :meth:`PacketRing.since`) on its own thread ``replay:<camera>``, paced in real
    time by their timestamps, scaled to the box given (``set_output_size``) into :attr:`slot`; each frame's
    ``wall_time`` is when its packet was received live. It ends after the last packet (the live edge when
    the replay was asked for) or at :meth:`stop` (within :data:`STOP_BOUND_S`); :attr:`ended` is set then."""

    def __init__(self, camera_id: str, packets: list[RingPacket], box: tuple[int, int] = (0, 0),
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.camera_id = camera_id
        self.packets = packets
        self.slot = LatestFrameSlot()
        self.ended = threading.Event()
        self.frames_out = 0
        self.decode_errors = 0
        self.start_wall = packets[0].received_at if packets else None  # when the first replayed picture was live
        self._box: tuple[int, int] | None = None
        self.set_output_size(*box)
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"replay:{camera_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def set_output_size(self, width: int, height: int) -> None:
        self._box = (width, height) if width > 0 and height > 0 else None

    def cancel(self) -> None:
        """Ask the thread to end without waiting (the GUI thread): it ends after the packet it decodes."""
        self._stop.set()

    def stop(self, timeout: float = STOP_BOUND_S) -> bool:
        """Ask the thread to end and wait for it (a decode in progress finishes first: milliseconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._play()
        except Exception:
            log.exception("%s: replay failed", self.camera_id)
        finally:
            self.ended.set()

    def _play(self) -> None:
        pacer = Pacer()
        reformatter = VideoReformatter()  # one scaler for the whole replay
        ctx = None
        params: StreamParams | None = None
        need_key = True
        last: RingPacket | None = None
        for rp in self.packets:
            if self._stop.is_set():
                return
            if rp.params is not params:
                if ctx is not None:
                    self._drain(ctx, None, reformatter, last)
                params, ctx, need_key = rp.params, _codec_context(rp.params), True
            if need_key and not rp.key:
                continue
            need_key = False
            tb = params.time_base
            ts = rp.dts if rp.dts is not None else rp.pts
            ts_s = float(ts * tb) if ts is not None and tb else rp.received_mono
            wait = pacer.delay(ts_s, self._clock())
            if wait > 0 and self._stop.wait(wait):
                return
            pkt = av.Packet(rp.data)
            pkt.pts, pkt.dts = rp.pts, rp.dts
            if tb:
                pkt.time_base = tb
            if rp.key:
                pkt.is_keyframe = True
            self._drain(ctx, pkt, reformatter, rp)
            last = rp
        if ctx is not None and not self._stop.is_set():
            self._drain(ctx, None, reformatter, last)  # the pictures a B-frame decoder still holds

    def _drain(self, ctx, pkt: av.Packet | None, reformatter: VideoReformatter, rp: RingPacket | None) -> None:
        try:
            frames = ctx.decode(pkt)
        except (av.error.FFmpegError, ValueError) as e:
            self.decode_errors += 1
            log.debug("%s: replay decode error %s", self.camera_id, e)
            return
        for frame in frames:
            box = self._box
            if box is None or rp is None:
                continue
            w, h = fit_size(frame.width, frame.height, *box)
            if not (w and h):
                continue
            out = reformatter.reformat(frame, width=w, height=h, format=DISPLAY_PIXEL_FORMAT,
                                       interpolation="BILINEAR", threads=1)  # fmt: skip
            image = out.to_ndarray()
            if not image.flags["C_CONTIGUOUS"]:
                image = np.ascontiguousarray(image)
            pts_s = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
            self.slot.put(Frame(self.slot.next_seq(), image, frame.width, frame.height, time.monotonic(), pts_s,
                                wall_time=rp.received_at))  # fmt: skip
            self.frames_out += 1


def replay_label(wall_time: float, now: float | None = None) -> str:
    """The badge of a replayed picture: how long ago it was live, in seconds: "REPLAY -27 s" (a minus sign)."""
    ago = (time.time() if now is None else now) - wall_time
    return f"REPLAY \u2212{max(1, round(ago))} s"

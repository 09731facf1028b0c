"""Live audio from a camera's own connection: a packet sink that decodes its audio into a short PCM ring.

::

    demux thread ── on_packet ──> bounded queue (drop oldest, counted) ──> audio:<camera> thread
                                                                             decode (own codec context)
                                                                             resample: 48 kHz s16 stereo
                                                                             └─> PcmRing (1 s) <── reader
                                                                                  (PortAudio's callback)

:class:`AudioTap` is attached to the pipeline that already carries the camera's pictures
(``pipeline.add_packet_sink``): there is one connection per camera stream and live audio never opens a
second one. The demux thread only copies the packet's bytes into the queue (the recorder does the same:
the packet object is shared by every sink and a muxer may reset it) and returns; the tap's own thread
decodes. It decodes with a codec context of its own, built from the stream's parameters: the picture-health
sink already decodes the same stream with the stream's context on the demux thread, and one FFmpeg codec
context must never be used by two threads.

Resampling: FFmpeg's swresample turns mono into stereo at -3 dB per side (its centre mix level), so a mono
source is resampled to mono and the channel duplicated: a tone's level stays its level (measured on the lab's
0.3 AAC tone: -13.4 dBFS through swresample's upmix, -10.5 dBFS duplicated; 20·log10(0.3) = -10.46).

The ring holds ``ring_s`` (1 s) of 48 kHz stereo int16. The reader (:meth:`PcmRing.read`) keeps its own
position: it starts ``prebuffer_s`` (0.15 s) behind the newest sample, plays silence while it is not that far
ahead (network jitter), and jumps forward when it falls more than ``max_lag_s`` (0.5 s) behind, so what is
heard is never more than half a second late and the ring never grows. Reader and writer share one lock held
for a copy of at most one callback's samples (about 10 µs for 1024 frames).

``close()`` ends the thread within 1 s (its queue wait is 0.2 s; one packet decodes in well under 1 ms).
Words (:attr:`AudioTap.words`) say what the operator needs: ``"this camera sends no audio"``, ``"audio
codec X cannot be decoded: …"``, or '' while audio is decoded.
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from dataclasses import dataclass

import av
import numpy as np

log = logging.getLogger(__name__)

RATE = 48_000
CHANNELS = 2
RING_S = 1.0
PREBUFFER_S = 0.15
MAX_LAG_S = 0.5
LEVEL_WINDOW_S = 0.2  # the meter's peak window (100-300 ms: a peak programme meter's integration is 10 ms, but
# a 2 Hz meter that shows only the last 10 ms would flicker between tone and gap)
QUEUE_MAX = 100  # packets: about 2 s of AAC (1024 samples at 48 kHz = 21 ms per packet)
SILENCE_DBFS = -120.0
DECODE_FAILS_SAY = 10  # packets in a row that failed to decode, none ever decoded: the codec is said to fail

NO_AUDIO = "this camera sends no audio"
WAITING = "waiting for the camera's connection"


class PcmRing:
    """A bounded ring of interleaved int16 frames: one writer (the tap's thread), one reader (the player).

    Positions are counted in frames since the start (never wrap); ``written`` is the writer's. Thread-safe.
    """

    def __init__(self, rate: int = RATE, channels: int = CHANNELS, seconds: float = RING_S,
                 prebuffer_s: float = PREBUFFER_S, max_lag_s: float = MAX_LAG_S) -> None:  # fmt: skip
        self.rate, self.channels = rate, channels
        self.size = max(1, int(rate * seconds))
        self._buf = np.zeros((self.size, channels), np.int16)
        self._lock = threading.Lock()
        self.written = 0  # frames written since the start
        self.last_write = 0.0  # monotonic time of the last write
        self._read: int | None = None  # the reader's position; None: start at the next read
        self.prebuffer = int(rate * prebuffer_s)
        self.max_lag = min(self.size, int(rate * max_lag_s))
        self.underruns = 0  # reads that found less than they asked for (silence filled in)
        self.skipped = 0  # frames the reader jumped over because it had fallen behind

    def write(self, frames: np.ndarray) -> None:
        """*frames*: (n, channels) int16. Only the last ``size`` frames are kept."""
        n = len(frames)
        if n == 0:
            return
        if n > self.size:
            frames, n = frames[-self.size :], self.size
        with self._lock:
            start = self.written % self.size
            first = min(n, self.size - start)
            self._buf[start : start + first] = frames[:first]
            if first < n:
                self._buf[: n - first] = frames[first:]
            self.written += n
            self.last_write = time.monotonic()

    def read(self, n: int) -> np.ndarray:
        """The next *n* frames for the player, silence where there are none yet (never blocks long)."""
        out = np.zeros((n, self.channels), np.int16)
        with self._lock:
            w = self.written
            if self._read is None or w - self._read > self.max_lag:
                if self._read is not None:
                    self.skipped += w - self._read - self.prebuffer
                self._read = max(0, w - self.prebuffer)
            r = self._read
            avail = w - r
            if avail < n:
                self.underruns += 1
                if avail <= 0:
                    return out  # nothing new: wait for the prebuffer to fill again (read stays here)
            take = min(n, avail)
            start = r % self.size
            first = min(take, self.size - start)
            out[:first] = self._buf[start : start + first]
            if first < take:
                out[first:take] = self._buf[: take - first]
            self._read = r + take
        return out

    def reset_reader(self) -> None:
        """The next read starts ``prebuffer`` behind the newest frame (a player that starts or resumes)."""
        with self._lock:
            self._read = None

    def peak_dbfs(self, window_s: float = LEVEL_WINDOW_S) -> float | None:
        """The peak of the last *window_s* written, in dBFS; None when nothing was written in that window."""
        n = min(self.size, int(self.rate * window_s))
        with self._lock:
            if not self.written or time.monotonic() - self.last_write > window_s:
                return None
            end = self.written % self.size
            n = min(n, self.written)
            if end >= n:
                peak = int(np.abs(self._buf[end - n : end].astype(np.int32)).max())
            else:
                a = np.abs(self._buf[:end].astype(np.int32)).max() if end else 0
                b = np.abs(self._buf[self.size - (n - end) :].astype(np.int32)).max()
                peak = int(max(a, b))
        return 20 * math.log10(peak / 32768) if peak > 0 else SILENCE_DBFS


# ----------------------------------------------------------------------- demux -> audio thread messages


@dataclass(frozen=True, slots=True)
class _Opened:
    """A connection opened: its audio stream's parameters (codec '' = no audio stream)."""

    codec: str
    extradata: bytes | None
    sample_rate: int
    layout: str
    channels: int


@dataclass(frozen=True, slots=True)
class _Closed:
    """The connection ended."""


class AudioTap:
    """Packet sink: the connection's first audio stream, decoded to 48 kHz s16 stereo in a :class:`PcmRing`.

    ``start()`` starts the ``audio:<camera>`` thread; ``close()`` ends it (within 1 s) and makes the sink
    methods no-ops, whether or not the pipeline has let go of it yet.
    """

    def __init__(self, camera_id: str, queue_max: int = QUEUE_MAX, ring_s: float = RING_S) -> None:
        self.camera_id = camera_id
        self.ring = PcmRing(seconds=ring_s)
        self.queue_max = queue_max
        self._queue: collections.deque = collections.deque()
        self._queued = 0  # packets (not control messages) in the queue
        self._cv = threading.Condition()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._index = -1  # demux thread: the audio stream's index in the open connection (-1: none / not open)
        self.opened = False  # a connection was seen (on_open), with or without audio
        self.has_audio = False  # the last connection opened has an audio stream
        self.codec = ""
        self.samples_decoded = 0  # frames (per channel) put in the ring
        self.packets_dropped = 0  # packets dropped because the queue was full (the decoder was behind)
        self.decode_errors = 0
        self._words = WAITING

    # ------------------------------------------------------------------ sink side (demux thread)
    def on_open(self, container: av.container.InputContainer) -> None:
        if self._closed.is_set():
            return
        audio = container.streams.audio
        if not audio:
            self._index = -1
            self._push(_Opened("", None, 0, "", 0), control=True)
            return
        st = audio[0]  # the pipeline demuxes the first audio stream only
        cc = st.codec_context
        self._index = st.index
        layout = cc.layout.name if cc.layout is not None else ""
        self._push(_Opened(cc.name or "", bytes(cc.extradata) if cc.extradata else None, cc.sample_rate or 0,
                           layout, cc.channels or 0), control=True)  # fmt: skip

    def on_packet(self, packet: av.Packet) -> None:
        if packet.stream_index != self._index or self._index < 0 or packet.size == 0 or self._closed.is_set():
            return
        self._push(bytes(packet))

    def on_close(self) -> None:
        self._index = -1
        if not self._closed.is_set():
            self._push(_Closed(), control=True)

    def _push(self, item: object, control: bool = False) -> None:
        """Never waits: a full queue drops its oldest packet (counted); control messages are always kept."""
        with self._cv:
            if not control:
                if self._queued >= self.queue_max:
                    for i, old in enumerate(self._queue):
                        if isinstance(old, bytes):
                            del self._queue[i]
                            self._queued -= 1
                            self.packets_dropped += 1
                            break
                self._queued += 1
            self._queue.append(item)
            self._cv.notify()

    # ------------------------------------------------------------------ public
    @property
    def words(self) -> str:
        """'' while audio is decoded; else why not, in words."""
        return self._words

    def level_dbfs(self, window_s: float = LEVEL_WINDOW_S) -> float | None:
        """Peak of the last *window_s* (0.2 s) of decoded audio in dBFS, None when none arrived in that time."""
        return self.ring.peak_dbfs(window_s)

    def start(self) -> AudioTap:
        if self._thread is None and not self._closed.is_set():
            self._thread = threading.Thread(target=self._run, name=f"audio:{self.camera_id}", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout: float = 1.0) -> bool:
        """Stop decoding; True when the thread ended within *timeout*."""
        self._closed.set()
        with self._cv:
            self._queue.clear()
            self._queued = 0
            self._cv.notify()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            return not t.is_alive()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ audio thread
    def _run(self) -> None:
        ctx = resampler = None
        mono = False
        while not self._closed.is_set():
            with self._cv:
                if not self._queue:
                    self._cv.wait(0.2)
                if not self._queue:
                    continue
                item = self._queue.popleft()
                if isinstance(item, bytes):
                    self._queued -= 1
            match item:
                case bytes():
                    if ctx is None:
                        continue
                    self._decode(ctx, resampler, mono, item)
                case _Opened(codec=""):
                    ctx = resampler = None
                    self.opened, self.has_audio, self.codec = True, False, ""
                    self._words = NO_AUDIO
                case _Opened() as o:
                    self.opened, self.has_audio, self.codec = True, True, o.codec
                    ctx, resampler, mono = self._open_decoder(o)
                case _Closed():
                    ctx = resampler = None

    def _open_decoder(self, o: _Opened):
        try:
            ctx = av.CodecContext.create(o.codec, "r")
            if o.extradata:
                ctx.extradata = o.extradata
            if o.sample_rate:
                ctx.sample_rate = o.sample_rate
            if o.layout:
                ctx.layout = o.layout
            ctx.open()
        except Exception as e:  # no decoder in this FFmpeg, or parameters it refuses
            self._words = f"audio codec {o.codec or 'unknown'} cannot be decoded: {e}"
            log.info("%s: live audio: %s", self.camera_id, self._words)
            return None, None, False
        mono = o.channels == 1
        resampler = av.AudioResampler(format="s16", layout="mono" if mono else "stereo", rate=self.ring.rate)
        self._words = ""
        return ctx, resampler, mono

    def _decode(self, ctx, resampler, mono: bool, data: bytes) -> None:
        try:
            frames = ctx.decode(av.Packet(data))
            for frame in frames:
                for out in resampler.resample(frame):
                    pcm = out.to_ndarray().reshape(-1, 1 if mono else 2)  # packed s16: (1, n*channels)
                    if mono:
                        pcm = np.repeat(pcm, 2, axis=1)
                    self.ring.write(pcm)
                    self.samples_decoded += len(pcm)
        except (av.error.FFmpegError, ValueError) as e:
            self.decode_errors += 1
            if not self.samples_decoded and self.decode_errors >= DECODE_FAILS_SAY:
                self._words = f"audio codec {self.codec} cannot be decoded: {e}"
            if self.decode_errors in (1, 100) or self.decode_errors % 1000 == 0:
                log.debug("%s: audio decode error %s (%d so far)", self.camera_id, e, self.decode_errors)

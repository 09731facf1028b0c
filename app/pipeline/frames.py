"""Hand-over of decoded pictures and rate measurement, both lock-light and bounded.

:class:`LatestFrameSlot` is the only path from a decoder thread to the display: the decoder *puts*,
the wall *peeks* on its paint timer. A newer frame replaces an unread one (counted as stale), so a
slow reader can never build up latency: it always sees the newest picture.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

# Display frames are 32-bit BGRA bytes (= Qt's QImage.Format_RGB32 / ARGB32 on little-endian): swscale
# converts to it about 2x faster than to packed RGB24, and Qt paints it without another conversion.
DISPLAY_PIXEL_FORMAT = "bgra"


@dataclass(frozen=True, slots=True)
class Frame:
    """One display-ready picture. ``image`` is H x W x 4 uint8 BGRA (alpha 255), C-contiguous, at tile size:
    wrap it as ``QImage(image.data, w, h, 4 * w, QImage.Format_RGB32)`` (keep a reference to the array)."""

    seq: int
    image: np.ndarray
    source_width: int
    source_height: int
    ready_at: float  # time.monotonic() when decoded and scaled
    pts_s: float | None = None
    wall_time: float | None = None  # UNIX time the picture was live (set by instant replay; None = live now)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


class LatestFrameSlot:
    """Single-slot mailbox: newest frame wins; unread frames that get replaced are counted as stale."""

    __slots__ = ("_frame", "_lock", "_read_seq", "_seq", "stale")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: Frame | None = None
        self._seq = 0
        self._read_seq = 0
        self.stale = 0

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def put(self, frame: Frame) -> None:
        with self._lock:
            if self._frame is not None and self._frame.seq > self._read_seq:
                self.stale += 1
            self._frame = frame

    def peek(self, after_seq: int = 0) -> Frame | None:
        """The newest frame if its seq is greater than *after_seq*, else None. Marks it read."""
        with self._lock:
            f = self._frame
            if f is None or f.seq <= after_seq:
                return None
            self._read_seq = max(self._read_seq, f.seq)
            return f

    def latest(self) -> Frame | None:
        """The newest frame, read or not (for snapshots and the focus hand-over)."""
        with self._lock:
            return self._frame

    def clear(self) -> None:
        with self._lock:
            self._frame = None


class RateMeter:
    """Events (or amounts) per second over a sliding window, default 5 s.

    One writer thread calls :meth:`add`; readers call :meth:`rate`. The deque is only appended and
    popped at the ends (atomic under the GIL) and readers work on a copy.
    """

    __slots__ = ("_events", "_start", "_window")

    def __init__(self, window_s: float = 5.0) -> None:
        self._window = window_s
        self._events: deque[tuple[float, float]] = deque()
        self._start: float | None = None

    def add(self, amount: float = 1.0, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        if self._start is None:
            self._start = t
        self._events.append((t, amount))
        cutoff = t - self._window
        ev = self._events
        while ev and ev[0][0] < cutoff:
            ev.popleft()

    def rate(self, now: float | None = None) -> float:
        t = time.monotonic() if now is None else now
        if self._start is None:
            return 0.0
        cutoff = t - self._window
        total = sum(a for ts, a in list(self._events) if ts >= cutoff)
        # a stream that started 1 s ago is measured over 1 s, not under-reported over 5 s
        span = min(self._window, max(t - self._start, 1.0))
        return total / span

    def reset(self) -> None:
        self._events.clear()
        self._start = None


class FrameRateMeter:
    """The frame rate a stream carries: pictures received in the last ``window_s`` seconds (by the clock),
    measured over the stream time their timestamps span.

    A count by the clock alone reads the delivery, not the stream: a TCP source that stalls 2 s and then
    delivers the backlog read 18 then 39 fps for a 30 fps camera, and a reopen (a codec switch) read 10 for
    a 15 fps one, while the camera never changed. With timestamps, a backlog counts at its own rate and a
    gap between two connections is not stream time; a picture that never came (UDP loss, an encoder
    dropping frames) still lowers the figure, because the timestamps around it span its time. A stall is
    told apart by the clock: nothing received in the window reads 0.

    Timestamps are split into *runs* at every (re)open (:meth:`new_run`) and at a jump (backwards, or
    forward more than the window: a discontinuity, a camera's clock reset); a picture without a timestamp,
    or a window whose timestamps span no time, falls back to the count by the clock (:class:`RateMeter`).
    One writer thread calls :meth:`add`; readers call :meth:`rate` on a copy.
    """

    __slots__ = ("_clock", "_events", "_last_pts", "_run", "_window")

    BACK_JUMP_S = 1.0  # a timestamp this far behind the last one starts a new run (B-frames reorder less)

    def __init__(self, window_s: float = 5.0) -> None:
        self._window = window_s
        self._events: deque[tuple[float, float | None, int]] = deque()
        self._clock = RateMeter(window_s)
        self._run = 0
        self._last_pts: float | None = None

    def new_run(self) -> None:
        """The next picture's timestamp is not continuous with the last one (a new connection)."""
        self._run += 1
        self._last_pts = None

    def add(self, pts_s: float | None, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        self._clock.add(1.0, t)
        if pts_s is not None and self._last_pts is not None:
            step = pts_s - self._last_pts
            if step < -self.BACK_JUMP_S or step > self._window:
                self._run += 1
        if pts_s is not None:
            self._last_pts = pts_s
        self._events.append((t, pts_s, self._run))
        cutoff = t - self._window
        ev = self._events
        while ev and ev[0][0] < cutoff:
            ev.popleft()

    def rate(self, now: float | None = None) -> float:
        t = time.monotonic() if now is None else now
        cutoff = t - self._window
        runs: dict[int, list[float]] = {}
        frames = 0
        for ts, pts, run in list(self._events):
            if ts < cutoff:
                continue
            frames += 1
            if pts is None:
                return self._clock.rate(t)
            runs.setdefault(run, []).append(pts)
        if frames == 0:
            return 0.0
        intervals, span = 0, 0.0
        for stamps in runs.values():
            if len(stamps) >= 2:
                intervals += len(stamps) - 1
                span += max(stamps) - min(stamps)
        if intervals == 0 or span <= 0.0 or intervals / span > 1000.0:
            return self._clock.rate(t)
        return intervals / span

    def reset(self) -> None:
        self._events.clear()
        self._clock.reset()
        self.new_run()


def fit_size(src_w: int, src_h: int, box_w: int, box_h: int) -> tuple[int, int]:
    """Largest even size with the source's aspect ratio inside the box (never upscales past source x2)."""
    if src_w <= 0 or src_h <= 0 or box_w <= 0 or box_h <= 0:
        return (0, 0)
    scale = min(box_w / src_w, box_h / src_h, 2.0)
    w = max(2, int(src_w * scale) & ~1)
    h = max(2, int(src_h * scale) & ~1)
    return (w, h)

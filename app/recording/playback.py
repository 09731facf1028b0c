"""Playback core (no Qt): a per-camera timeline, a PyAV decoder on a worker thread, clip export, snapshots.

The widget (``widgets/player.py``) pulls frames from ``PyAvPlayback.slot`` on its paint timer, the
same latest-frame idea as the wall. The timeline maps a UNIX time to (segment, offset in the file);
segment files keep their source timestamps, so offsets are measured from each file's first pts.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from app.pipeline.frames import Frame, LatestFrameSlot
from app.recording.segments import Segment, StoredMotionEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timeline:
    """Segments and motion events of one camera, oldest first."""

    camera_id: str
    segments: tuple[Segment, ...]
    events: tuple[StoredMotionEvent, ...] = ()

    @property
    def start(self) -> float | None:
        return self.segments[0].start if self.segments else None

    @property
    def end(self) -> float | None:
        return self.segments[-1].end if self.segments else None

    def locate(self, t: float) -> tuple[int, float] | None:
        """(segment index, offset s) playing at *t*; a time in a gap snaps to the next segment's start."""
        if not self.segments:
            return None
        starts = [s.start for s in self.segments]
        i = bisect.bisect_right(starts, t) - 1
        if i >= 0 and t < self.segments[i].end:
            return i, t - self.segments[i].start
        if i + 1 < len(self.segments):
            return i + 1, 0.0
        return None

    def next_event(self, t: float) -> StoredMotionEvent | None:
        return next((e for e in sorted(self.events, key=lambda e: e.start) if e.start > t + 0.01), None)

    def previous_event(self, t: float) -> StoredMotionEvent | None:
        return next((e for e in sorted(self.events, key=lambda e: -e.start) if e.start < t - 0.5), None)


def _first_pts_s(container) -> float:
    v = container.streams.video[0]
    for pkt in container.demux(v):
        if pkt.pts is not None:
            return float(pkt.pts * pkt.time_base)
    return 0.0


def decode_at(path: str, offset_s: float) -> av.VideoFrame | None:
    """The picture at *offset_s* seconds into a segment file (seek to the keyframe before, decode forward)."""
    with av.open(path) as c:
        v = c.streams.video[0]
        base = _first_pts_s(c)
        target = base + max(0.0, offset_s)
        c.seek(int(target / v.time_base), stream=v, backward=True, any_frame=False)
        last = None
        for f in c.decode(v):
            if f.pts is None:
                continue
            if float(f.pts * f.time_base) > target + 1e-3 and last is not None:
                return last
            last = f
        return last


def save_snapshot(path: str, offset_s: float, png: Path) -> Path:
    """The picture at *offset_s* of segment *path* as a PNG."""
    f = decode_at(path, offset_s)
    if f is None:
        raise ValueError(f"no picture at {offset_s:.2f} s in {Path(path).name}")
    png.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", f.to_ndarray(format="bgr24"))
    if not ok:
        raise ValueError("PNG encoding failed")
    tmp = png.with_name(png.name + ".part")
    tmp.write_bytes(data.tobytes())
    tmp.replace(png)
    return png


def export_clip(timeline: Timeline, start: float, end: float, out: Path) -> Path:
    """Stream-copy [start, end] (UNIX times) of a camera into one MP4 (from the keyframe before *start*).

    Timestamps are laid out on the wall clock of each segment so gaps between segments stay gaps and a
    reconnect's timestamp reset does not break the file. Written to ``out.part`` then renamed.
    """
    segs = [s for s in timeline.segments if s.end > start and s.start < end]
    if not segs:
        raise ValueError("no recording in that time range")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    origin = max(start, segs[0].start)
    written = 0
    with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as dst:
        streams: dict[str, av.stream.Stream] = {}
        last_dts: dict[str, int] = {}
        for seg in segs:
            with av.open(seg.path) as src:
                sv = src.streams.video[0]
                sa = src.streams.audio[0] if src.streams.audio else None
                if "v" not in streams:
                    streams["v"] = dst.add_stream_from_template(sv)
                    if sa is not None:
                        streams["a"] = dst.add_stream_from_template(sa)
                base = _first_pts_s(src)
                src.seek(0)
                lo = max(0.0, start - seg.start)
                hi = end - seg.start
                started = False
                for pkt in src.demux([s for s in (sv, sa) if s is not None]):
                    if pkt.size == 0 or pkt.pts is None:
                        continue
                    kind = "v" if pkt.stream.index == sv.index else "a"
                    if kind not in streams:
                        continue
                    rel = float(pkt.pts * pkt.time_base) - base
                    if rel > hi:
                        break
                    if not started:
                        # start at the last keyframe at or before `lo`
                        if kind != "v" or not pkt.is_keyframe:
                            continue
                        if rel < lo:
                            nxt = _next_key_rel(seg.path, base, rel)
                            if nxt is not None and nxt <= lo:
                                continue
                        started = True
                    shift = (seg.start - origin) - base  # seconds
                    tb = pkt.time_base
                    off = round(shift / tb)
                    pkt.pts += off
                    pkt.dts = (pkt.dts if pkt.dts is not None else pkt.pts - off) + off
                    if pkt.dts < 0 or (kind in last_dts and pkt.dts <= last_dts[kind]):
                        continue
                    last_dts[kind] = pkt.dts
                    pkt.stream = streams[kind]
                    dst.mux(pkt)
                    written += 1
    if not written:
        tmp.unlink(missing_ok=True)
        raise ValueError("nothing to export in that time range")
    tmp.replace(out)
    return out


_key_cache: dict[str, list[float]] = {}


def _next_key_rel(path: str, base: float, rel: float) -> float | None:
    keys = _key_cache.get(path)
    if keys is None:
        with av.open(path) as c:
            v = c.streams.video[0]
            keys = [float(p.pts * p.time_base) - base for p in c.demux(v) if p.pts is not None and p.is_keyframe]
        _key_cache.clear()
        _key_cache[path] = keys
    i = bisect.bisect_right(keys, rel + 1e-6)
    return keys[i] if i < len(keys) else None


class PyAvPlayback:
    """Plays a Timeline on a worker thread (``playback:<camera>``) into a LatestFrameSlot.

    Commands (any thread): play(), pause(), seek(t), set_speed(x), stop(). ``position`` is the UNIX
    time of the last picture shown. Frames are converted to RGB at most ``max_width`` wide.
    """

    def __init__(self, timeline: Timeline, max_width: int = 1280) -> None:
        self.timeline = timeline
        self.slot = LatestFrameSlot()
        self.max_width = max_width
        self._cv = threading.Condition()
        self._seek_to: float | None = timeline.start
        self._playing = False
        self._speed = 1.0
        self._stop = False
        self.position: float | None = timeline.start
        self._thread = threading.Thread(target=self._run, name=f"playback:{timeline.camera_id}", daemon=True)
        self._thread.start()

    def play(self) -> None:
        with self._cv:
            self._playing = True
            self._cv.notify()

    def pause(self) -> None:
        with self._cv:
            self._playing = False
            self._cv.notify()

    @property
    def playing(self) -> bool:
        return self._playing

    def set_speed(self, speed: float) -> None:
        with self._cv:
            self._speed = min(max(speed, 0.1), 16.0)

    def seek(self, t: float) -> None:
        with self._cv:
            self._seek_to = t
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify()
        self._thread.join(5.0)

    # ------------------------------------------------------------------ worker

    def _emit(self, frame: av.VideoFrame, seg: Segment, base: float) -> None:
        w = min(self.max_width, frame.width) & ~1
        h = max(2, round(frame.height * w / frame.width) & ~1)
        img = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
        t = seg.start + float(frame.pts * frame.time_base) - base
        self.position = t
        self.slot.put(Frame(self.slot.next_seq(), np.ascontiguousarray(img), frame.width, frame.height,
                            time.monotonic(), t))  # fmt: skip

    def _run(self) -> None:
        segs = self.timeline.segments
        i = -1
        container = None
        frames = None
        base = 0.0
        clock: tuple[float, float] | None = None  # (monotonic, media UNIX time) while playing
        try:
            while True:
                with self._cv:
                    if self._stop:
                        return
                    seek, self._seek_to = self._seek_to, None
                    if seek is None and not self._playing:
                        self._cv.wait(0.5)
                        clock = None
                        continue
                    speed = self._speed
                if seek is not None:
                    loc = self.timeline.locate(seek)
                    if loc is None:
                        continue
                    i, offset = loc
                    if container is not None:
                        container.close()
                    container = av.open(segs[i].path)
                    v = container.streams.video[0]
                    base = _first_pts_s(container)
                    target = base + offset
                    container.seek(int(target / v.time_base), stream=v, backward=True)
                    frames = container.decode(v)
                    shown = None
                    for f in frames:  # decode forward to the exact picture
                        if f.pts is None:
                            continue
                        shown = f
                        if float(f.pts * f.time_base) >= target - 1e-3:
                            break
                    if shown is not None:
                        self._emit(shown, segs[i], base)
                    clock = None
                    continue
                # playing
                if frames is None:
                    self._seek_to = self.timeline.start
                    continue
                f = next(frames, None)
                if f is None:  # next segment
                    if i + 1 >= len(segs):
                        self._playing = False
                        continue
                    i += 1
                    container.close()
                    container = av.open(segs[i].path)
                    base = _first_pts_s(container)
                    container.seek(0)
                    frames = container.decode(container.streams.video[0])
                    clock = None
                    continue
                if f.pts is None:
                    continue
                t = segs[i].start + float(f.pts * f.time_base) - base
                now = time.monotonic()
                if clock is None:
                    clock = (now, t)
                due = clock[0] + (t - clock[1]) / speed
                if due - now > 1.0:
                    clock = (now, t)  # a gap between segments: do not wait it out
                elif due > now:
                    with self._cv:
                        self._cv.wait(due - now)
                self._emit(f, segs[i], base)
        except Exception:
            log.exception("playback of %s failed", self.timeline.camera_id)
        finally:
            if container is not None:
                container.close()

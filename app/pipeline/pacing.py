"""Releasing packets at the pace of their timestamps: for sources that deliver faster than real time.

A live HLS stream arrives a segment at a time: FFmpeg downloads 2-10 s of media in a fraction of a second
and then nothing until the next segment. Handed on as it arrives, that reads as 36 fps for a 30 fps stream,
a keyframe interval of 0.01 s, a tile that repaints in bursts and drops most of what it decoded, and a
STALLED between every two segments. Files and synthetic sources read as fast as they decode. The
:class:`Pacer` maps each packet's timestamp onto the monotonic clock (an *origin*: this timestamp is due
at that moment) and says how long to wait before handing the packet on.

It re-anchors instead of waiting when the timeline breaks:

* a timestamp jumps back by more than ``jump_s`` (a file looped, an HLS discontinuity, a reconnect);
* a timestamp is due more than ``jump_s`` ahead (a forward discontinuity: waiting would freeze the tile);
* a packet comes more than ``late_s`` after it was due (the source really paused: a late segment, a
  network stall). Catching up would play the backlog in a burst, the very fault pacing removes.

Small backward steps are normal (audio and video are interleaved by decode time, and B-frames reorder
presentation time): such a packet is simply due at once. Pure: the caller passes the clock.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Pacer:
    jump_s: float = 3.0  # a timeline break, backwards or forwards, larger than this re-anchors
    late_s: float = 1.0  # a packet this much past due re-anchors (the source paused) instead of bursting
    _origin_wall: float | None = None
    _origin_ts: float = 0.0
    _last_ts: float = 0.0
    reanchors: int = 0  # times the timeline broke (after the first packet): for tests and the debug log

    def reset(self) -> None:
        """A new connection: the next packet sets the origin."""
        self._origin_wall = None

    def delay(self, ts_s: float, now: float) -> float:
        """Seconds to wait before handing on the packet stamped *ts_s* (seconds) at monotonic time *now*."""
        if self._origin_wall is None:
            return self._anchor(ts_s, now, first=True)
        if ts_s < self._last_ts - self.jump_s:
            return self._anchor(ts_s, now)
        self._last_ts = max(self._last_ts, ts_s)
        ahead = self._origin_wall + (ts_s - self._origin_ts) - now
        if ahead > self.jump_s or ahead < -self.late_s:
            return self._anchor(ts_s, now)
        return max(0.0, ahead)

    def _anchor(self, ts_s: float, now: float, first: bool = False) -> float:
        self._origin_wall, self._origin_ts, self._last_ts = now, ts_s, ts_s
        if not first:
            self.reanchors += 1
        return 0.0

"""When to switch a tile to keyframe-only decoding, and when to give it back full frame rate (no Qt).

A crowded wall on a small machine must degrade, not freeze. Two signals say a tile is too expensive:
its decoder keeps fewer frames than arrive (``fps_decoded < ratio * fps_received``, twice in a row),
or the wall's paint timer itself falls behind (then the busiest full-rate tile is degraded, one per
update, until the timer keeps up). A degraded tile is held for ``hold_s``; then, while the wall keeps
up, tiles are restored one per update. A tile that falls behind again soon after its restore is held
twice as long (capped), so the wall does not flap.

Four inputs decide whether a tile decodes keyframes only, and :func:`keyframes_only_plan` is the one
place that weighs them: the operator's switch, then focus, then the two automatic reasons (over the
decode budget, falling behind). ``FrameService`` applies the plan's difference to the pipelines.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Set
from dataclasses import dataclass

# Full-rate decode + scale + paint that one core sustains next to the GUI (bench/wall.py, bench/gil.py:
# 32 tiles of 640x360@15 = 480 frames/s on 2 cores keeps the event loop responsive; 64 does not).
FULL_RATE_FPS_PER_CORE = 240.0
ASSUMED_FPS = 15.0  # for a tile whose rate is not measured yet


def default_budget_fps() -> float:
    return FULL_RATE_FPS_PER_CORE * (os.cpu_count() or 2)


def over_budget(tiles: Iterable[tuple[str, float]], budget_fps: float) -> set[str]:
    """Tiles (camera id, received fps) in priority order; those past the budget decode keyframes only.

    The wall degrades *before* it starves: Python threads share one interpreter lock with the GUI
    thread, so once the decoders' demand exceeds what the machine sustains, the event loop freezes
    first (measured: 64 full-rate tiles on 2 cores, event-loop p50 2.9 s). Tiles first in line
    (selected, then wall order) keep full rate; the rest show a keyframe a second, marked "K".
    """
    used = 0.0
    out: set[str] = set()
    for cid, fps in tiles:
        fps = fps if fps > 0 else ASSUMED_FPS
        if used + fps <= budget_fps:
            used += fps
        else:
            out.add(cid)
    return out


def keyframes_only_plan(
    cameras: Iterable[str],
    *,
    forced: Set[str],
    focused: Set[str],
    over_budget: Set[str],
    falling_behind: Set[str],
) -> dict[str, bool]:
    """camera id -> decode keyframes only? For *cameras* and every camera named in an input.

    * *forced*: the operator's "Keyframes only" switch. Always wins, also over focus.
    * *focused*: a focused camera always decodes every frame (unless forced): the operator looks at it.
    * *over_budget*: past the wall's decode budget (:func:`over_budget`).
    * *falling_behind*: degraded by the :class:`DegradationPolicy` (its ``degraded`` set).

    Every other camera decodes at full rate (False).
    """
    every = set(cameras) | forced | focused | over_budget | falling_behind
    return {cid: cid in forced or (cid not in focused and (cid in over_budget or cid in falling_behind))
            for cid in every}  # fmt: skip


@dataclass(frozen=True)
class TileLoad:
    fps_received: float
    fps_decoded: float
    keyframes_only: bool


class DegradationPolicy:
    def __init__(self, hold_s: float = 20.0, ratio: float = 0.8, max_hold_s: float = 300.0) -> None:
        self.hold_s = hold_s
        self.ratio = ratio
        self.max_hold_s = max_hold_s
        self._strikes: dict[str, int] = {}
        self._since: dict[str, float] = {}  # camera -> when degraded
        self._hold: dict[str, float] = {}  # camera -> current hold
        self._restored_at: dict[str, float] = {}

    @property
    def degraded(self) -> set[str]:
        return set(self._since)

    def forget(self, camera_id: str) -> None:
        self._since.pop(camera_id, None)
        self._strikes.pop(camera_id, None)

    def update(self, now: float, loads: dict[str, TileLoad], wall_behind: bool) -> tuple[set[str], set[str]]:
        """Returns (cameras to switch to keyframes-only, cameras to restore to full decoding)."""
        degrade: set[str] = set()
        restore: set[str] = set()
        for cid in list(self._since):
            if cid not in loads:  # no longer visible: forget, the caller restores it
                restore.add(cid)
                self._since.pop(cid, None)
        for cid, load in loads.items():
            if cid in self._since:
                continue
            if load.fps_received >= 2 and load.fps_decoded < self.ratio * load.fps_received:
                self._strikes[cid] = self._strikes.get(cid, 0) + 1
            else:
                self._strikes[cid] = 0
            if self._strikes[cid] >= 2:
                degrade.add(cid)
        if wall_behind:
            full = [(load.fps_received, cid) for cid, load in loads.items() if cid not in self._since]
            full = [x for x in full if x[1] not in degrade and x[0] > 0]
            if full:
                degrade.add(max(full)[1])
        elif not degrade:
            due = [(self._since[c], c) for c in self._since if now - self._since[c] >= self._hold.get(c, self.hold_s)]
            if due:
                cid = min(due)[1]
                restore.add(cid)
                del self._since[cid]
                self._restored_at[cid] = now
                self._strikes[cid] = 0
        for cid in degrade:
            again = now - self._restored_at.get(cid, -1e9) < 60.0
            prev = self._hold.get(cid, self.hold_s)
            self._hold[cid] = min(self.max_hold_s, prev * 2) if again else self.hold_s
            self._since[cid] = now
            self._strikes[cid] = 0
        return degrade, restore

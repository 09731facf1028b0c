"""The wall's one paint timer and one health timer, shared by every wall view (main window and page windows).

Frames are pulled, never pushed: at ``wall.paint_fps`` the paint timer asks each visible tile's
pipeline slot for a frame newer than the one the tile shows (``slot.peek(last_seq)``, a lock and a
compare) and repaints only those tiles. Twice a second the health timer reads
``supervisor.snapshots()`` (cheap, thread-safe), refreshes overlays, re-resolves pipelines (a camera
edited in the dialog gets a new pipeline) and runs the degradation policy.

Output sizes: every view *demands* a size per (camera, variant); the pipeline is told the largest
demand (two windows showing one camera share one scaled stream; 0x0 when no view shows it, so hidden
tiles and pages stop converting frames).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal

from app.pipeline.pipeline import CameraPipeline
from app.pipeline.state import HealthSnapshot
from app.pipeline.supervisor import Supervisor
from widgets.degrade import DegradationPolicy, TileLoad, default_budget_fps, over_budget
from widgets.tile import TileWidget

log = logging.getLogger(__name__)

WARMUP_S = 6.0
Key = tuple[str, str]  # (camera id, "tile" | "main")


class FrameService(QObject):
    health_updated = Signal()  # after each health tick (status bar, overlays)
    _state_changed = Signal(str)  # from pipeline threads -> GUI thread (queued): refresh health now

    def __init__(self, supervisor: Supervisor, paint_fps: float = 30.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.supervisor = supervisor
        self._views: list = []
        self._demand: dict[Key, dict[int, tuple[int, int]]] = {}
        self._applied: dict[Key, tuple[CameraPipeline | None, tuple[int, int]]] = {}
        self._pipes: dict[Key, CameraPipeline] = {}
        self.snapshots: dict[str, HealthSnapshot] = {}
        self.policy = DegradationPolicy()
        self.degradation_enabled = True
        self._forced_kf: set[str] = set()
        self._exempt: dict[str, int] = {}  # focused cameras: never degraded automatically
        self.budget_fps = default_budget_fps()  # full-rate frames/s the wall decodes (see degrade.py)
        self._budget_kf: set[str] = set()
        # measurements
        self._tick_times: deque[float] = deque(maxlen=64)
        self._painted: deque[tuple[float, int]] = deque()
        self.painted_fps = 0.0
        self.paint_interval_ms = 1000.0 / paint_fps
        self.paint_timer = QTimer(self)
        self.paint_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.paint_timer.setInterval(max(1, round(self.paint_interval_ms)))
        self.paint_timer.timeout.connect(self.tick)
        self.health_timer = QTimer(self)
        self.health_timer.setInterval(500)
        self.health_timer.timeout.connect(self.health_tick)
        self._state_changed.connect(self._on_state_changed, Qt.ConnectionType.QueuedConnection)
        supervisor.subscribe(lambda change: self._state_changed.emit(change.camera_id))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.health_tick()
        self.paint_timer.start()
        self.health_timer.start()

    def stop(self) -> None:
        self.paint_timer.stop()
        self.health_timer.stop()

    def add_view(self, view) -> None:
        self._views.append(view)

    def remove_view(self, view) -> None:
        if view in self._views:
            self._views.remove(view)
        for key in list(self._demand):
            if self._demand[key].pop(id(view), None) is not None:
                self._apply(key)

    # ------------------------------------------------------------------ sizes
    def set_demand(self, view, camera_id: str, variant: str, width: int, height: int) -> None:
        if not camera_id:
            return
        key = (camera_id, variant)
        d = self._demand.setdefault(key, {})
        if width > 0 and height > 0:
            d[id(view)] = (width, height)
        else:
            d.pop(id(view), None)
        self._apply(key)

    def clear_view_demands(self, view) -> None:
        for key in list(self._demand):
            if self._demand[key].pop(id(view), None) is not None:
                self._apply(key)

    def demanded_size(self, camera_id: str, variant: str = "tile") -> tuple[int, int]:
        d = self._demand.get((camera_id, variant), {})
        if not d:
            return (0, 0)
        return (max(w for w, _ in d.values()), max(h for _, h in d.values()))

    def _apply(self, key: Key) -> None:
        size = self.demanded_size(*key)
        p = self.supervisor.pipeline(*key)
        if size == (0, 0):
            self._pipes.pop(key, None)
        elif p is not None:
            self._pipes[key] = p
        if p is not None and self._applied.get(key) != (p, size):
            p.set_output_size(*size)
            self._applied[key] = (p, size)

    def pipeline(self, camera_id: str, variant: str = "tile") -> CameraPipeline | None:
        return self._pipes.get((camera_id, variant))

    # ------------------------------------------------------------------ paint timer
    def pull(self, tile: TileWidget, camera_id: str, variant: str = "tile") -> bool:
        """Give *tile* the newest frame of (camera, variant) if it changed. True if it did."""
        p = self._pipes.get((camera_id, variant))
        if p is None:
            return False
        if tile.source is not p:  # a new pipeline restarts its sequence numbers
            tile.source, tile.last_seq = p, 0
        f = p.slot.peek(tile.last_seq)
        if f is None:
            return False
        tile.set_frame(f)
        return True

    def tick(self) -> None:
        now = time.monotonic()
        self._tick_times.append(now)
        n = 0
        for view in list(self._views):
            n += view.pull_frames(self)
        self._painted.append((now, n))
        while self._painted and self._painted[0][0] < now - 2.0:
            self._painted.popleft()

    def wall_behind(self) -> bool:
        """The paint timer fires much later than asked (the GUI thread is saturated)."""
        ts = self._tick_times
        if len(ts) < 16:
            return False
        gaps = sorted(b - a for a, b in zip(list(ts)[:-1], list(ts)[1:], strict=False))
        median = gaps[len(gaps) // 2]
        return median * 1000 > 1.6 * self.paint_interval_ms

    def paint_rate(self) -> float:
        """Frames painted per second over the last 2 s (all views)."""
        if len(self._painted) < 2:
            return 0.0
        span = self._painted[-1][0] - self._painted[0][0]
        return sum(n for _, n in self._painted) / span if span > 0 else 0.0

    # ------------------------------------------------------------------ health timer
    def _on_state_changed(self, camera_id: str) -> None:
        p = self.supervisor.pipeline(camera_id)
        if p is not None:
            self.snapshots[camera_id] = p.snapshot()
            for view in self._views:
                view.apply_snapshots(self.snapshots, only=camera_id)

    def health_tick(self) -> None:
        self.snapshots = self.supervisor.snapshots()
        for key in list(self._demand):  # adopt replaced pipelines (config edits, reconnects of main)
            self._apply(key)
        for view in list(self._views):
            view.apply_snapshots(self.snapshots)
        self.painted_fps = self.paint_rate()
        if self.degradation_enabled:
            self._degrade()
        self.health_updated.emit()

    def visible_cameras(self) -> set[str]:
        return {cid for (cid, variant), d in self._demand.items() if d and variant == "tile"}

    def exempt(self, camera_id: str, on: bool) -> None:
        """A focused camera always decodes every frame (unless the operator forced keyframes-only)."""
        n = self._exempt.get(camera_id, 0) + (1 if on else -1)
        if n > 0:
            self._exempt[camera_id] = n
            if camera_id in self.policy.degraded:
                self.policy.forget(camera_id)
            p = self.supervisor.pipeline(camera_id)
            if p is not None and camera_id not in self._forced_kf:
                p.set_keyframes_only(False)
        else:
            self._exempt.pop(camera_id, None)

    def _priority_order(self) -> list[str]:
        """Visible cameras, most important first: focused, selected, then each view's tile order."""
        first = list(self._exempt)
        rest: list[str] = []
        for view in self._views:
            tiles = getattr(view, "tiles", [])
            sel = getattr(view, "selected", -1)
            if 0 <= sel < len(tiles) and tiles[sel].camera_id:
                first.append(tiles[sel].camera_id)
            rest += [t.camera_id for t in tiles if t.camera_id]
        visible = self.visible_cameras()
        return [c for c in dict.fromkeys(first + rest) if c in visible]

    def _apply_budget(self) -> set[str]:
        order = [c for c in self._priority_order() if c not in self._forced_kf]
        rates = {cid: s.fps_received for cid, s in self.snapshots.items()}
        new = over_budget(((c, rates.get(c, 0.0)) for c in order), self.budget_fps) - set(self._exempt)
        for cid in new - self._budget_kf:
            p = self.supervisor.pipeline(cid)
            if p is not None:
                p.set_keyframes_only(True)
        for cid in self._budget_kf - new:
            p = self.supervisor.pipeline(cid)
            if p is not None and cid not in self._forced_kf and cid not in self.policy.degraded:
                p.set_keyframes_only(False)
        if new != self._budget_kf:
            log.info("wall: %d tiles over the decode budget (%.0f frames/s) show keyframes only",
                     len(new), self.budget_fps)  # fmt: skip
        self._budget_kf = new
        return new

    def _degrade(self) -> None:
        budget_kf = self._apply_budget()
        visible = self.visible_cameras() - budget_kf
        now = time.time()
        loads = {
            cid: TileLoad(s.fps_received, s.fps_decoded, s.keyframes_only)
            for cid, s in self.snapshots.items()
            if cid in visible
            and s.is_live
            and cid not in self._forced_kf
            and cid not in self._exempt
            # rates need a few seconds of LIVE to mean anything (the decoder waits for a keyframe first)
            and now - s.state_since >= WARMUP_S
        }
        degrade, restore = self.policy.update(time.monotonic(), loads, self.wall_behind())
        for cid in degrade:
            p = self.supervisor.pipeline(cid)
            if p is not None:
                log.info("wall: %s falls behind, decoding keyframes only", cid)
                p.set_keyframes_only(True)
        for cid in restore:
            p = self.supervisor.pipeline(cid)
            if p is not None and cid not in self._forced_kf and cid not in self._budget_kf:
                log.info("wall: %s back to full frame rate", cid)
                p.set_keyframes_only(False)

    def set_forced_keyframes(self, camera_id: str, on: bool) -> None:
        """Operator's manual keyframes-only switch (context menu); the policy leaves it alone."""
        (self._forced_kf.add if on else self._forced_kf.discard)(camera_id)
        p = self.supervisor.pipeline(camera_id)
        if p is not None:
            p.set_keyframes_only(on)

    def on_each_health(self, fn: Callable[[], None]) -> None:
        self.health_updated.connect(fn)

"""The wall's one paint timer and one health timer, shared by every wall view (main window and page windows).

Frames are pulled, never pushed: at ``wall.paint_fps`` the paint timer asks each visible tile's
pipeline slot for a frame newer than the one the tile shows (``slot.peek(last_seq)``, a lock and a
compare) and repaints only those tiles. Twice a second the health timer reads
``supervisor.snapshots()`` (cheap, thread-safe), refreshes overlays, re-resolves pipelines (a camera
edited in the dialog gets a new pipeline) and runs the degradation policy.

Output sizes: every view *demands* a size per (camera, variant); the pipeline is told the largest
demand (two windows showing one camera share one scaled stream; 0x0 when no view shows it, so hidden
tiles and pages stop converting frames).

Keyframes only: one owner. Four inputs say a tile should decode keyframes only: the operator's switch
(``set_forced_keyframes``), focus (``exempt``: a focused camera keeps full rate), the decode budget and
the falling-behind policy (both refreshed on the health tick). Each input only updates its own set;
:meth:`FrameService._apply_keyframes_only` weighs them all in :func:`widgets.degrade.keyframes_only_plan`
and tells a pipeline only when its answer changed (or the camera's pipeline was replaced: a new one
starts at full rate). The tick leaves forced and focused cameras out of the automatic reasons, so
forcing or focusing a camera also drops an automatic reason it had, at once, instead of acting on that
stale reason until the next tick (when the switch or the focus is gone again before it).

State changes come from pipeline threads (``Supervisor.subscribe``) and reach the GUI thread through
the service's :class:`~widgets.tasks.TaskRunner` (``call_on_gui``), dropped once the service is gone.
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
from app.recording.replay import ReplayPlayer, replay_label
from widgets.degrade import DegradationPolicy, TileLoad, default_budget_fps, keyframes_only_plan, over_budget
from widgets.tasks import TaskRunner
from widgets.tile import TileWidget

log = logging.getLogger(__name__)

WARMUP_S = 6.0
Key = tuple[str, str]  # (camera id, "tile" | "main")


class FrameService(QObject):
    health_updated = Signal()  # after each health tick (status bar, overlays)

    def __init__(self, supervisor: Supervisor, paint_fps: float = 30.0, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.supervisor = supervisor
        self._views: list = []
        self._demand: dict[Key, dict[int, tuple[int, int]]] = {}
        self._applied: dict[Key, tuple[CameraPipeline | None, tuple[int, int]]] = {}
        self._pipes: dict[Key, CameraPipeline] = {}
        # camera id -> its instant replay (widgets/replay.py): pull takes that camera's frames from it instead
        self.replays: dict[str, ReplayPlayer] = {}
        self.snapshots: dict[str, HealthSnapshot] = {}
        # the inputs of the keyframes-only plan (see the module docstring), and what was applied
        self.policy = DegradationPolicy()  # its degraded set: tiles that fall behind
        self.degradation_enabled = True
        self._forced_kf: set[str] = set()  # the operator's switch
        self._exempt: dict[str, int] = {}  # focused cameras (a count: two views may focus one): full rate
        self.budget_fps = default_budget_fps()  # full-rate frames/s the wall decodes (see degrade.py)
        self._budget_kf: set[str] = set()  # over the decode budget at the last health tick
        self._kf_applied: dict[str, CameraPipeline] = {}  # camera -> its pipeline, told keyframes only
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
        self._tasks = TaskRunner(parent=self, name="ui:frames")  # pipeline threads -> GUI thread; no threads
        tasks, on_state_changed = self._tasks, self._on_state_changed
        supervisor.subscribe(lambda change: tasks.call_on_gui(on_state_changed, change.camera_id))

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
        """Give *tile* the newest frame of (camera, variant) if it changed. True if it did.

        While the camera replays, its frames come from the replay, whichever stream the view asked for (the
        view's demand stays, so the live pipeline keeps scaling and live resumes with its newest frame). The
        REPLAY badge is set with each replayed frame and cleared with the first live one: a tile never shows
        a replayed picture without it. A replay that ended before live has a picture clears the tile."""
        replay = self.replays.get(camera_id)
        p = replay if replay is not None else self._pipes.get((camera_id, variant))
        if p is None or tile.source is not p:
            if tile.replay_text and replay is None:  # back to live: the last replayed picture is not live
                tile.set_replay("")
                tile.clear_picture()
            if p is None:
                return False
            tile.source, tile.last_seq = p, 0  # a new source restarts its sequence numbers
        f = p.slot.peek(tile.last_seq)
        if f is None:
            return False
        tile.set_frame(f)
        tile.set_replay(replay_label(f.wall_time) if f.wall_time is not None else "")
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

    # ------------------------------------------------------------------ keyframes only
    def exempt(self, camera_id: str, on: bool) -> None:
        """A focused camera always decodes every frame (unless the operator forced keyframes-only)."""
        n = self._exempt.get(camera_id, 0) + (1 if on else -1)
        if n > 0:
            self._exempt[camera_id] = n
            self._drop_automatic_reasons(camera_id)
        else:
            self._exempt.pop(camera_id, None)
        self._apply_keyframes_only()

    def set_forced_keyframes(self, camera_id: str, on: bool) -> None:
        """Operator's manual keyframes-only switch (context menu); the policy leaves it alone."""
        if on:
            self._forced_kf.add(camera_id)
        else:
            self._forced_kf.discard(camera_id)
        self._drop_automatic_reasons(camera_id)
        self._apply_keyframes_only()

    def forced_keyframes(self, camera_id: str) -> bool:
        """The operator switched this camera to keyframes only."""
        return camera_id in self._forced_kf

    def _drop_automatic_reasons(self, camera_id: str) -> None:
        """Budget and policy leave forced and focused cameras out; drop a reason from before the switch."""
        self._budget_kf.discard(camera_id)
        if camera_id in self.policy.degraded:
            self.policy.forget(camera_id)

    def _apply_keyframes_only(self) -> None:
        """The one place that switches pipelines between full rate and keyframes only.

        The plan covers every camera told keyframes-only before and every camera an input names; a
        pipeline is told only when its answer differs from what it was told (a replaced pipeline was
        told nothing: it starts at full rate).
        """
        plan = keyframes_only_plan(self._kf_applied, forced=self._forced_kf, focused=set(self._exempt),
                                   over_budget=self._budget_kf, falling_behind=self.policy.degraded)  # fmt: skip
        for cid, keyframes_only in plan.items():
            p = self.supervisor.pipeline(cid)
            if p is None:  # removed or disabled: nothing to tell
                self._kf_applied.pop(cid, None)
                continue
            if keyframes_only != (self._kf_applied.get(cid) is p):
                p.set_keyframes_only(keyframes_only)
            if keyframes_only:
                self._kf_applied[cid] = p
            else:
                self._kf_applied.pop(cid, None)

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

    def _update_budget(self) -> None:
        """Which tiles are past the decode budget now (forced tiles cost nothing, focused ones always fit)."""
        order = [c for c in self._priority_order() if c not in self._forced_kf]
        rates = {cid: s.fps_received for cid, s in self.snapshots.items()}
        new = over_budget(((c, rates.get(c, 0.0)) for c in order), self.budget_fps) - set(self._exempt)
        if new != self._budget_kf:
            log.info("wall: %d tiles over the decode budget (%.0f frames/s) show keyframes only",
                     len(new), self.budget_fps)  # fmt: skip
        self._budget_kf = new

    def _degrade(self) -> None:
        """Health tick: refresh the two automatic reasons (budget, falling behind), then apply the plan."""
        self._update_budget()
        visible = self.visible_cameras() - self._budget_kf
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
            if self.supervisor.pipeline(cid) is not None:
                log.info("wall: %s falls behind, decoding keyframes only", cid)
        for cid in restore:
            if cid not in self._forced_kf and cid not in self._budget_kf and self.supervisor.pipeline(cid) is not None:
                log.info("wall: %s back to full frame rate", cid)
        self._apply_keyframes_only()

    def on_each_health(self, fn: Callable[[], None]) -> None:
        self.health_updated.connect(fn)

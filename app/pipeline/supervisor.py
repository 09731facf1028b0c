"""The supervisor owns every camera pipeline: builds them from config, watches them, stops them.

Pipelines per camera, one network connection each: the **tile** pipeline (the sub-stream when there is one)
feeds the wall, motion and picture health; a camera that records its main stream (``recording.stream``,
default "main", when it has a sub-stream) also has a persistent **main** pipeline that feeds the recorder.
That one decodes keyframes only (about 1 picture a second: health and LIVE state at a fraction of the
cost) until the operator focuses the camera, when the focused view decodes from that same connection
instead of opening a second one; unfocused, it goes back to keyframes. Without a recorded main stream,
focusing opens a main pipeline for the view and closes it afterwards.

One watchdog thread polls all pipelines (stall detection) instead of one timer per camera. State
changes are fanned out to subscribers (store, alerts, the Qt adapter) on the pipeline threads;
subscribers queue their work and return.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from app.config import AppConfig, CameraConfig, PipelineSettings
from app.pipeline.pipeline import CameraPipeline, PipelineOptions
from app.pipeline.state import HealthSnapshot, StreamState

log = logging.getLogger(__name__)

# Supervisor.stop returns within this many seconds whatever the cameras do (a thread blocked in FFmpeg ends
# by itself within its read timeout); with the probes' 3 s bound the whole stop fits in 5 s of a SIGTERM.
STOP_BOUND_S = 3.0

TILE = "tile"
MAIN = "main"


@dataclass(frozen=True, slots=True)
class StateChange:
    camera_id: str
    variant: str
    old: StreamState
    new: StreamState
    reason: str
    at: float  # UNIX time
    snapshot: HealthSnapshot


StateSubscriber = Callable[[StateChange], None]
PipelineHook = Callable[[CameraPipeline, CameraConfig], None]


def records_main(cam: CameraConfig) -> bool:
    """The camera records its main stream on a pipeline of its own (it has a sub-stream for the tile)."""
    return bool(cam.sub_url) and cam.recording.mode != "off" and cam.recording.stream == "main"


def recording_variant(cam: CameraConfig) -> str:
    """Which of the camera's pipelines feeds its recorder."""
    return MAIN if records_main(cam) else TILE


def pipeline_options(settings: PipelineSettings, cam: CameraConfig, variant: str = TILE) -> PipelineOptions:
    return PipelineOptions(
        # The focused main stream (often 1080p+) decodes on its own thread so the demux never waits on
        # it; wall tiles decode inline: half the threads, and far less GIL contention at 32-64 tiles.
        threaded_decode=variant == MAIN,
        open_timeout_s=settings.open_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        stall_after_s=settings.stall_after_s,
        backoff_initial_s=settings.backoff_initial_s,
        backoff_cap_s=settings.backoff_cap_s,
        # Tiles: one decoder thread each (dozens of cameras already fill the cores; extra threads only add
        # switching). The focused main stream (1080p+, one at a time): FFmpeg frame+slice threads.
        decode_threads=settings.main_decode_threads if variant == MAIN else settings.decode_threads,
        worker_nice=settings.worker_nice,
        low_latency=settings.low_latency,
        transport=cam.transport,
    )


class Supervisor:
    """Thread-safe registry of pipelines keyed by (camera id, variant)."""

    def __init__(self, config: AppConfig, poll_interval_s: float = 0.5) -> None:
        self._config = config
        self._lock = threading.RLock()
        self._pipelines: dict[tuple[str, str], CameraPipeline] = {}
        self._subscribers: list[StateSubscriber] = []
        self._hooks: list[PipelineHook] = []
        self._record_hooks: list[PipelineHook] = []
        # cameras whose recorder is fed by a persistent main pipeline, decided when the camera's pipelines
        # start (a later config edit of its recording settings applies at the next start, never halfway)
        self._recording_main: set[str] = set()
        self._main_views: dict[str, int] = {}  # camera id -> focused views decoding its main stream now
        self._stop = threading.Event()
        self._poll_interval = poll_interval_s
        self._watchdog: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    @property
    def config(self) -> AppConfig:
        return self._config

    def start(self) -> None:
        self._stop.clear()
        for cam in self._config.cameras:
            if cam.enabled:
                self._start_camera(cam)
        self._watchdog = threading.Thread(target=self._watch, name="supervisor:watchdog", daemon=True)
        self._watchdog.start()

    def stop(self, timeout: float = STOP_BOUND_S) -> bool:
        """Stop every pipeline, in parallel, within *timeout* seconds whatever the cameras do. True if all ended.

        A pipeline whose thread is blocked inside FFmpeg (a camera that accepted the connection and went
        silent) ends only when FFmpeg's own open/read timeout fires; stop does not wait for that: after
        *timeout* it logs which cameras are still closing and returns. Their threads are daemons that end
        by themselves within the read timeout and deliver nothing more: their packet sinks are cut off before this
        returns (``CameraPipeline.abandon``), so a recorder stopped next never gets a late packet or close."""
        self._stop.set()
        with self._lock:
            pipelines = list(self._pipelines.values())
            self._pipelines.clear()
        deadline = time.monotonic() + timeout
        results: list[bool] = []
        stoppers = [threading.Thread(target=lambda p=p: results.append(p.stop(timeout)), name=f"stop:{p.camera_id}",
                                     daemon=True) for p in pipelines]  # fmt: skip
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join(max(0.0, deadline - time.monotonic()))
        if self._watchdog is not None:
            self._watchdog.join(max(0.1, min(2.0, deadline - time.monotonic())))
        still = [p for p in pipelines if p.running]
        for p in still:  # before returning: what stops next (recorders, store) must never hear from them
            p.abandon()
        closing = sorted({p.camera_id for p in still})
        if closing:
            more = f" and {len(closing) - 10} more" if len(closing) > 10 else ""
            log.warning("%d camera connection(s) still closing after %.0f s (FFmpeg is waiting on the network: %s%s); "
                        "their threads end by themselves within the read timeout", len(closing), timeout,
                        ", ".join(closing[:10]), more)  # fmt: skip
        return not closing and len(results) == len(pipelines) and all(results)

    def apply_config(self, config: AppConfig) -> None:
        """Adopt a new config: start added/enabled cameras, stop removed/disabled ones, restart changed."""
        old = {c.id: c for c in self._config.cameras}
        self._config = config
        new = {c.id: c for c in config.cameras}
        for cid, cam in old.items():
            if cid not in new or not new[cid].enabled or stream_changed(cam, new[cid]):
                self._stop_camera(cid)
            elif (cam.name, cam.group) != (new[cid].name, new[cid].group):
                # a rename needs no reconnect: the snapshots carry the new words from now on
                for p in self._camera_pipelines(cid):
                    p.rename(new[cid].name, new[cid].group)
        for cid, cam in new.items():
            if cam.enabled and (cid, TILE) not in self._pipelines:
                self._start_camera(cam)

    # -------------------------------------------------------------- pipelines

    def add_pipeline_hook(self, hook: PipelineHook) -> None:
        """*hook(pipeline, camera)* runs for each tile pipeline created (now and later): attach sinks."""
        with self._lock:
            self._hooks.append(hook)
            existing = [(p, self._config.camera(cid)) for (cid, v), p in self._pipelines.items() if v == TILE]
        for p, cam in existing:
            hook(p, cam)

    def add_record_hook(self, hook: PipelineHook) -> None:
        """*hook(pipeline, camera)* runs for the pipeline that feeds each camera's recorder (the persistent
        main pipeline of a camera that records its main stream, else the tile pipeline), now and later."""
        with self._lock:
            self._record_hooks.append(hook)
            existing = [(p, self._config.camera(cid)) for (cid, v), p in self._pipelines.items()
                        if v == self._recorded_variant(cid)]  # fmt: skip
        for p, cam in existing:
            hook(p, cam)

    def _recorded_variant(self, camera_id: str) -> str:
        return MAIN if camera_id in self._recording_main else TILE

    def subscribe(self, subscriber: StateSubscriber) -> None:
        with self._lock:
            self._subscribers.append(subscriber)

    def pipeline(self, camera_id: str, variant: str = TILE) -> CameraPipeline | None:
        with self._lock:
            return self._pipelines.get((camera_id, variant))

    def pipelines(self) -> list[CameraPipeline]:
        with self._lock:
            return list(self._pipelines.values())

    def open_main(self, camera_id: str) -> CameraPipeline | None:
        """The camera's main stream for the focused view. None if the tile already shows the main stream.
        A camera recording its main stream already has that connection: the view decodes from it (every
        frame from the next keyframe on) instead of opening a second one."""
        cam = self._config.camera(camera_id)
        if not cam.sub_url or not cam.enabled:
            return None
        with self._lock:
            self._main_views[camera_id] = self._main_views.get(camera_id, 0) + 1
            p = self._pipelines.get((camera_id, MAIN))
        if p is not None:
            p.set_keyframes_only(False)
            return p
        return self._start_pipeline(cam, MAIN)

    def close_main(self, camera_id: str) -> None:
        """A focused view is gone. When it was the last one, a recording main pipeline goes back to keyframes
        only (its last picture dropped: the next focus must not show it as live), another one stops."""
        with self._lock:
            left = self._main_views.get(camera_id, 0) - 1
            if left > 0:
                self._main_views[camera_id] = left
                return  # another view (a page window) still shows this camera's main stream
            self._main_views.pop(camera_id, None)
            keep = camera_id in self._recording_main
            p = self._pipelines.get((camera_id, MAIN)) if keep else self._pipelines.pop((camera_id, MAIN), None)
        if p is None:
            return
        if keep:
            p.set_keyframes_only(True)
            p.set_output_size(0, 0)
            p.slot.clear()
        else:
            threading.Thread(target=p.stop, name=f"stop:{camera_id}:main", daemon=True).start()

    def recording_source_errors(self) -> dict[str, str]:
        """camera id -> words, for cameras whose recorded main stream is down while recording is on: the
        recorder gets no packets then, and the wall (showing the sub-stream) may look fine."""
        out: dict[str, str] = {}
        with self._lock:
            recording_main = set(self._recording_main)
        for cam in self._config.cameras:
            if cam.enabled and cam.id in recording_main:
                p = self.pipeline(cam.id, MAIN)
                snap = p.snapshot() if p is not None else None
                if snap is not None and snap.is_down:
                    out[cam.id] = f"main stream {str(snap.state).lower()}: {snap.reason or 'no pictures'}"
        return out

    def snapshots(self) -> dict[str, HealthSnapshot]:
        """Tile-stream health per camera id, for every configured camera (disabled ones as IDLE)."""
        out: dict[str, HealthSnapshot] = {}
        for cam in self._config.cameras:
            p = self.pipeline(cam.id)
            if p is not None:
                out[cam.id] = p.snapshot()
            else:
                out[cam.id] = HealthSnapshot(camera_id=cam.id, name=cam.name, group=cam.group,
                                             reason="disabled" if not cam.enabled else "not started")  # fmt: skip
        return out

    # -------------------------------------------------------------- internals

    def _start_camera(self, cam: CameraConfig) -> None:
        with self._lock:
            if records_main(cam):
                self._recording_main.add(cam.id)
            else:
                self._recording_main.discard(cam.id)
        self._start_pipeline(cam, TILE)
        if cam.id in self._recording_main:
            self._start_pipeline(cam, MAIN)

    def _start_pipeline(self, cam: CameraConfig, variant: str) -> CameraPipeline:
        url = cam.url if variant == MAIN else cam.tile_url
        p = CameraPipeline(cam.id, cam.name, url, group=cam.group, variant=variant,
                           options=pipeline_options(self._config.pipeline, cam, variant))  # fmt: skip
        p.add_state_listener(self._on_state_changed)
        with self._lock:
            existing = self._pipelines.get((cam.id, variant))
            if existing is not None:  # started meanwhile by another thread (a focus and a config change)
                return existing
            if variant == MAIN and cam.id in self._recording_main and not self._main_views.get(cam.id):
                p.set_keyframes_only(True)  # recording only: health from keyframes, no full decode
            self._pipelines[(cam.id, variant)] = p
            hooks = list(self._hooks) if variant == TILE else []
            if variant == self._recorded_variant(cam.id):
                hooks += self._record_hooks
        for hook in hooks:
            try:
                hook(p, cam)
            except Exception:
                log.exception("pipeline hook failed for %s", cam.id)
        p.start()
        return p

    def _camera_pipelines(self, camera_id: str) -> list[CameraPipeline]:
        with self._lock:
            return [p for (cid, _v), p in self._pipelines.items() if cid == camera_id]

    def _stop_camera(self, camera_id: str) -> None:
        with self._lock:
            victims = [self._pipelines.pop(k) for k in list(self._pipelines) if k[0] == camera_id]
            self._recording_main.discard(camera_id)
        for p in victims:
            threading.Thread(target=p.stop, name=f"stop:{camera_id}", daemon=True).start()

    def _on_state_changed(self, p: CameraPipeline, old: StreamState, new: StreamState, reason: str) -> None:
        snap = p.snapshot()
        change = StateChange(p.camera_id, p.variant, old, new, reason, snap.state_since, snap)
        with self._lock:
            subs = list(self._subscribers)
        for s in subs:
            try:
                s(change)
            except Exception:
                log.exception("state subscriber failed")

    def _watch(self) -> None:
        while not self._stop.wait(self._poll_interval):
            for p in self.pipelines():
                try:
                    p.poll()
                except Exception:
                    log.exception("watchdog poll failed for %s", p.camera_id)


def stream_changed(a: CameraConfig, b: CameraConfig) -> bool:
    """True when the camera's pipelines must reconnect (what they connect to changed)."""
    return (a.url, a.sub_url, a.transport) != (b.url, b.sub_url, b.transport)

"""Feeds every tile pipeline's decoded frames to a per-camera :class:`MotionDetector`.

Threads: the frame sink runs on the camera's decode thread at ``analysis_fps``; it only asks FFmpeg
for a small grey picture (``frame.reformat(width, height, format="gray")``, a few hundred µs) and
drops it into a one-slot mailbox per camera. One worker thread (``motion:worker``) analyses the
newest picture of each camera; if it falls behind, older pictures are replaced and counted as
dropped, so the decode thread never waits on motion analysis.

Results are published as a frozen :class:`MotionState` per camera (read by the wall on its paint
timer: :meth:`MotionService.state`) and as :class:`MotionEvent` start/end callbacks (recorder
triggers, the store). Callbacks run on the worker thread and must return quickly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from av.video.reformatter import VideoReformatter

from app.motion.detector import MotionDetector, MotionParams, MotionUpdate, Region, analysis_size
from app.priority import BACKGROUND_NICE, lower_current_thread_priority

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MotionState:
    """What the wall shows for one camera: a marker while ``active``, optionally the boxes."""

    camera_id: str
    active: bool = False
    since: float | None = None  # UNIX time the current event started
    score: float = 0.0
    regions: tuple[Region, ...] = ()
    labels: tuple[str, ...] = ()
    updated_at: float = 0.0  # UNIX time of the last analysed frame
    events_total: int = 0
    frames_analysed: int = 0
    frames_dropped: int = 0
    show_boxes: bool = False


@dataclass(frozen=True, slots=True)
class MotionEvent:
    """One motion event. ``end`` is None while it is in progress (the start callback)."""

    camera_id: str
    start: float  # UNIX time
    end: float | None
    peak_score: float
    regions: tuple[Region, ...]  # regions of the frame with the highest score
    labels: tuple[str, ...] = ()  # object classes (when a classifier is configured)
    monotonic_start: float = 0.0  # for the recorder (packet arrival times are monotonic)


MotionListener = Callable[[MotionEvent], None]


@dataclass
class _Camera:
    camera_id: str
    detector: MotionDetector
    analysis_width: int
    want_colour: bool
    show_boxes: bool
    mailbox: tuple | None = None  # (grey, bgr|None, monotonic t, unix t)
    state: MotionState = field(default=None)  # type: ignore[assignment]
    event: MotionEvent | None = None
    dropped: int = 0


class MotionService:
    """Runtime service: attach with ``supervisor.add_pipeline_hook(service.attach)``."""

    def __init__(self, classifier=None, classifier_factory=None) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._cams: dict[str, _Camera] = {}
        self._listeners: list[MotionListener] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.classifier = classifier  # default ObjectClassifier for every camera, or None
        self._classifier_factory = classifier_factory  # MotionSettings -> ObjectClassifier | None
        self._classifiers: dict[str, object] = {}

    # -------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._work, name="motion:worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    # -------------------------------------------------------------- wiring

    def subscribe(self, listener: MotionListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def attach(self, pipeline, camera) -> None:
        """Supervisor pipeline hook: analyse this camera if motion (or motion recording) is on."""
        ms = camera.motion
        if not (ms.enabled or camera.recording.mode == "motion"):
            return
        clf = self._classifier_factory(ms) if self._classifier_factory else self.classifier
        if clf is not None:
            self._classifiers[camera.id] = clf
        colour = bool(ms.classify and clf is not None)
        cam = self.register(
            camera.id, MotionParams.from_settings(ms), ms.analysis_width, want_colour=colour, show_boxes=ms.show_boxes
        )
        pipeline.add_frame_sink(self._make_sink(cam), max_fps=ms.analysis_fps)

    def register(self, camera_id: str, params: MotionParams, analysis_width: int = 320, *,
                 want_colour: bool = False, show_boxes: bool = False) -> _Camera:  # fmt: skip
        with self._lock:
            cam = self._cams.get(camera_id)
            if cam is None:
                cam = _Camera(camera_id, MotionDetector(params), analysis_width, want_colour, show_boxes)
                cam.state = MotionState(camera_id, show_boxes=show_boxes)
                self._cams[camera_id] = cam
            else:  # pipeline restarted (config change): keep counters, adopt the new settings
                self._adopt(cam, params, analysis_width, want_colour, show_boxes)
            return cam

    def update_settings(self, camera_id: str, settings) -> bool:
        """Adopt edited MotionSettings (masks, zones, sensitivity, analysis width, boxes...) for a camera
        already analysed, without waiting for a pipeline restart. False when the camera is not analysed
        (motion off). Colour pictures follow ``classify`` only if a classifier is already loaded for the
        camera: loading a model file is left to the pipeline restart (``attach``)."""
        with self._lock:
            cam = self._cams.get(camera_id)
            if cam is None:
                return False
            clf = self._classifiers.get(camera_id, self.classifier)
            self._adopt(cam, MotionParams.from_settings(settings), settings.analysis_width,
                        bool(settings.classify and clf is not None), settings.show_boxes)  # fmt: skip
            return True

    def apply_config(self, config) -> None:
        """A new ``AppConfig``: every camera already analysed adopts its (possibly edited) MotionSettings.
        Turning motion on or off, or loading a classifier, waits for the pipeline's next start (``attach``)."""
        with self._lock:
            analysed = set(self._cams)
        for cam in config.cameras:
            if cam.id in analysed:
                self.update_settings(cam.id, cam.motion)

    @staticmethod
    def _adopt(cam: _Camera, params: MotionParams, analysis_width: int, want_colour: bool, show_boxes: bool) -> None:
        """New settings for a camera already analysed (caller holds ``_lock``); counters and the current
        event are kept."""
        cam.detector.set_params(params)
        cam.analysis_width, cam.want_colour, cam.show_boxes = analysis_width, want_colour, show_boxes
        cam.state = replace(cam.state, show_boxes=show_boxes)

    # -------------------------------------------------------------- reading

    def state(self, camera_id: str) -> MotionState | None:
        with self._lock:
            cam = self._cams.get(camera_id)
            return cam.state if cam else None

    def states(self) -> dict[str, MotionState]:
        with self._lock:
            return {cid: c.state for cid, c in self._cams.items()}

    # -------------------------------------------------------------- decode thread

    def _make_sink(self, cam: _Camera):
        # persistent scalers: frame.reformat() would build a new swscale context for every call
        to_grey, to_bgr = VideoReformatter(), VideoReformatter()

        def sink(frame, t: float) -> None:
            w, h = analysis_size(frame.width, frame.height, cam.analysis_width)
            if not w:
                return
            grey = to_grey.reformat(frame, width=w, height=h, format="gray").to_ndarray()
            bgr = None
            if cam.want_colour:
                bgr = to_bgr.reformat(frame, width=300, height=300, format="bgr24").to_ndarray()
            self.submit(cam.camera_id, grey, t, bgr)

        return sink

    def submit(self, camera_id: str, grey: np.ndarray, t: float, bgr: np.ndarray | None = None) -> None:
        """Hand one analysis picture over (any thread). Replaces an unanalysed older one."""
        with self._wake:
            cam = self._cams.get(camera_id)
            if cam is None:
                return
            if cam.mailbox is not None:
                cam.dropped += 1
            cam.mailbox = (grey, bgr, t, time.time())
            self._wake.notify()

    # -------------------------------------------------------------- worker thread

    def _work(self) -> None:
        lower_current_thread_priority(BACKGROUND_NICE)  # analysis may fall behind; the GUI thread may not
        while not self._stop.is_set():
            with self._wake:
                ready = [c for c in self._cams.values() if c.mailbox is not None]
                if not ready:
                    self._wake.wait(0.5)
                    continue
                jobs = []
                for c in ready:
                    jobs.append((c, c.mailbox))
                    c.mailbox = None
            for cam, (grey, bgr, t, wall) in jobs:
                try:
                    self.analyse(cam, grey, t, wall, bgr)
                except Exception:
                    log.exception("motion analysis failed for %s", cam.camera_id)

    def analyse(self, cam: _Camera, grey: np.ndarray, t: float, wall: float, bgr: np.ndarray | None = None) -> None:
        """Run the detector on one picture and publish the result (worker thread; tests call it directly)."""
        up: MotionUpdate = cam.detector.process(grey, t)
        labels = cam.state.labels if up.active and not up.started else ()
        clf = self._classifiers.get(cam.camera_id, self.classifier)
        if up.started and bgr is not None and clf is not None:
            try:
                labels = tuple(sorted({d.label for d in clf.classify(bgr, up.regions)}))
            except Exception:
                log.exception("object classification failed for %s", cam.camera_id)
        fire: list[MotionEvent] = []
        ev = cam.event
        if up.started:
            ev = MotionEvent(cam.camera_id, wall, None, up.score, up.regions, labels, monotonic_start=t)
            fire.append(ev)
        elif ev is not None and up.active and up.score > ev.peak_score:
            ev = replace(ev, peak_score=up.score, regions=up.regions)
        if ev is not None and labels and not ev.labels:
            ev = replace(ev, labels=labels)
        if up.ended and ev is not None:
            fire.append(replace(ev, end=wall))
            ev = None
        with self._lock:
            cam.event = ev
            s = cam.state
            cam.state = replace(
                s,
                active=up.active,
                since=(wall if up.started else s.since) if up.active else None,
                score=up.score,
                # during the end hold a still frame has no regions: keep showing the last boxes
                regions=(up.regions or s.regions) if up.active else (),
                labels=labels if up.active else (),
                updated_at=wall,
                events_total=s.events_total + (1 if up.started else 0),
                frames_analysed=s.frames_analysed + 1,
                frames_dropped=cam.dropped,
            )
            listeners = list(self._listeners)
        for e in fire:
            log.info("motion %s on %s (score %.3f)", "ended" if e.end else "started", e.camera_id, e.peak_score)
            for fn in listeners:
                try:
                    fn(e)
                except Exception:
                    log.exception("motion listener failed")

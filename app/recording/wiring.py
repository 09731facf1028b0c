"""Adds motion detection, recording and retention to a Runtime (called once by ``main.build_runtime``).

Services, in start order: ``motion`` (worker thread), ``recording`` (per-camera recorder threads,
recovers ``.part`` files first), ``retention`` (cleanup job). Pipeline hooks attach the motion frame
sink and the recorder packet sink to every tile pipeline, so both share the camera's one connection.
The UI finds them with :func:`find_service` (``runtime.services`` holds (name, service) pairs).

:func:`recording_alert_inputs` is what the alert engine watches of recording (``install_alerts`` calls it):
the recorders' errors (disk full, I/O error -> ``RecordingStopped``) and the free space of the recordings
disk, which may be another disk than Vigil's data folder (``recording.root``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from app.motion.service import MotionService
from app.recording.recorder import MIN_FREE_BYTES
from app.recording.retention import RetentionService
from app.recording.segments import DirectoryIndex
from app.recording.service import RecorderService

log = logging.getLogger(__name__)


def recordings_root(runtime) -> Path:
    root = runtime.config.recording.root
    return Path(root).expanduser() if root else Path(runtime.paths.recordings_dir)


def install(runtime) -> tuple[MotionService, RecorderService, RetentionService]:
    root = recordings_root(runtime)
    index = _StoreAndDirectoryIndex(runtime, DirectoryIndex(root))
    motion = MotionService(classifier_factory=_classifier_factory)
    recorder = RecorderService(runtime.config.recording, root, index)
    retention = RetentionService(runtime.config.recording, root, index, open_paths=lambda: [
        s.current_path for s in recorder.statuses().values() if s.current_path])  # fmt: skip
    motion.subscribe(recorder.on_motion)
    runtime.add_service("motion", motion)
    runtime.add_service("recording", recorder)
    runtime.add_service("retention", retention)
    runtime.supervisor.add_pipeline_hook(motion.attach)
    runtime.supervisor.add_pipeline_hook(recorder.attach)
    return motion, recorder, retention


def recording_alert_inputs(runtime):
    """(recorder errors callable or None, [DiskWatch]) for ``AlertEngine``; nothing if recording is not installed.

    The recordings disk alerts below ``alerts.disk_min_free_gb`` or the recorder's reserve, whichever is
    larger, so the operator hears of it before (or at the latest when) recording stops.
    """
    from app.alerts.service import DiskWatch

    recorder = find_service(runtime, "recording")
    if recorder is None:
        return None, []
    # reserve_mb is in MiB; the recorder never writes below MIN_FREE_BYTES, whatever the reserve (even 0)
    stops_below_mb = max(runtime.config.recording.reserve_mb, MIN_FREE_BYTES / 2**20)
    floor = runtime.config.alerts.disk_min_free_gb * 1e9
    watch = DiskWatch(Path(recorder.root), f"recordings disk {recorder.root}", max(floor, stops_below_mb * 2**20),
                      f"recording stops below {stops_below_mb:g} MiB")  # fmt: skip
    return recorder.errors, [watch]


def find_service(runtime, name: str):
    for n, svc in getattr(runtime, "services", ()):
        if n == name:
            return svc
    return None


def _classifier_factory(settings):
    """The camera's object classifier, or None (and a log line saying why) when none is usable."""
    if not settings.classify:
        return None
    from app.motion.classifier import ClassifierError, ObjectClassifier

    if not settings.classifier_model:
        log.warning("object classification is on but no model file is configured: motion is not classified")
        return None
    try:
        return ObjectClassifier.load(settings.classifier_model, settings.classifier_config,
                                     confidence=settings.classifier_confidence)  # fmt: skip
    except ClassifierError as e:
        log.error("%s: motion is not classified", e)
        return None


class _StoreAndDirectoryIndex:
    """Indexes into the folder (file names, motion.jsonl: what the player reads without a query) and,
    when a "store" service is installed, into the store's recording_segments and motion_events tables
    too. The store is looked up per call. The folder always gets the entry first; the store is a mirror,
    so a store that refuses (stopped, queue full, not started) or raises is logged once per kind of call
    and never stops recording or start-up recovery."""

    def __init__(self, runtime, directory: DirectoryIndex) -> None:
        self._runtime = runtime
        self.directory = directory
        self._refused: set[str] = set()  # calls already logged as refused by the store

    def _mirror(self, what: str, call) -> None:
        store = find_service(self._runtime, "store")
        if store is None:
            return
        why = ""
        try:
            ok = call(store)
        except Exception as e:
            ok, why = False, f"{type(e).__name__}: {e}"
        if ok is False and what not in self._refused:
            self._refused.add(what)
            why = why or (store.status().message if hasattr(store, "status") else "refused")
            log.warning("history store did not take a %s (%s); the recordings folder has it", what, why)

    def add_segment(self, segment) -> None:
        self.directory.add_segment(segment)
        self._mirror("segment", lambda store: store.add_segment(segment))

    def remove_segment(self, path: str) -> None:
        self.directory.remove_segment(path)
        self._mirror("segment removal", lambda store: store.remove_segment(path))

    def lock_segment(self, path: str, locked: bool) -> None:
        """Mirror the operator's lock into the store. The marker next to the file is the lock itself (what
        retention reads): ``segments.lock_segment`` writes it before calling this; the folder needs no copy."""
        self._mirror("segment lock", lambda store: store.lock_segment(path, locked))

    def add_motion_event(self, event) -> None:
        self.directory.add_motion_event(event)
        self._mirror("motion event", lambda store: store.add_motion_event(event))

    def segments(self, camera_id: str, start: float = 0.0, end: float = float("inf")):
        return self.directory.segments(camera_id, start, end)

    def motion_events(self, camera_id: str, start: float = 0.0, end: float = float("inf")):
        return self.directory.motion_events(camera_id, start, end)

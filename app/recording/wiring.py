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
    reserve = runtime.config.recording.reserve_mb * 1024 * 1024
    floor = runtime.config.alerts.disk_min_free_gb * 1e9
    watches = []
    if floor > 0 or reserve > 0:
        note = f"recording stops below {reserve / 1e6:.0f} MB" if reserve > 0 else ""
        watches.append(DiskWatch(Path(recorder.root), f"recordings disk {recorder.root}", max(floor, reserve), note))
    return recorder.errors, watches


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
    when a "store" service is installed (in any order), into the store's recording_segments and
    motion_events tables too. The store is looked up per call, so install order does not matter."""

    def __init__(self, runtime, directory: DirectoryIndex) -> None:
        self._runtime = runtime
        self.directory = directory

    def _store(self):
        return find_service(self._runtime, "store")

    def add_segment(self, segment) -> None:
        self.directory.add_segment(segment)
        if (store := self._store()) is not None:
            store.add_segment(segment)

    def remove_segment(self, path: str) -> None:
        self.directory.remove_segment(path)
        if (store := self._store()) is not None:
            store.remove_segment(path)

    def lock_segment(self, path: str, locked: bool) -> None:
        """The operator's lock: the folder's marker is the truth (retention reads it); the store mirrors it."""
        self.directory.lock_segment(path, locked)
        if (store := self._store()) is not None:
            store.lock_segment(path, locked)

    def add_motion_event(self, event) -> None:
        self.directory.add_motion_event(event)
        if (store := self._store()) is not None:
            store.add_motion_event(event)

    def segments(self, camera_id: str, start: float = 0.0, end: float = float("inf")):
        return self.directory.segments(camera_id, start, end)

    def motion_events(self, camera_id: str, start: float = 0.0, end: float = float("inf")):
        return self.directory.motion_events(camera_id, start, end)

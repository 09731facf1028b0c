"""Runtime service: one CameraRecorder per camera with recording on, fed by the camera's recording pipeline
(its persistent main-stream pipeline when it has a sub-stream, else its tile pipeline: see the supervisor)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from app.recording.index import IndexReconciler, mount_point
from app.recording.recorder import CameraRecorder, RecorderStatus, recover_parts, stored_event
from app.recording.segments import DirectoryIndex, SegmentIndex

log = logging.getLogger(__name__)


class RecorderService:
    """Attach with ``supervisor.add_record_hook(service.attach)``; motion: ``motion.subscribe(service.on_motion)``.
    A camera's recorder is made once per run (its settings change at the next start of Vigil)."""

    def __init__(self, settings, root: Path, index: SegmentIndex | None = None) -> None:
        self.settings = settings  # app.config.RecordingSettings
        self.root = Path(root)
        self.index: SegmentIndex = index or DirectoryIndex(self.root)
        self._lock = threading.Lock()
        self._recorders: dict[str, CameraRecorder] = {}
        self._started = False
        self.reconciler: IndexReconciler | None = None  # the start-up reconciliation of the index (status, tests)

    def start(self) -> None:
        """Before any recorder starts: finalise the ``.part`` files a crash left, then start the
        reconciliation of the index with the files on disk (``app.recording.index.IndexReconciler``, on its
        own thread: a large archive or a store slow to open never delays start-up or recording). Neither
        ever stops start-up."""
        try:
            self._make_root()
            recovered = recover_parts(self.root, self.index)
            if recovered:
                log.info("recovered %d segment(s) left open by an unclean stop", len(recovered))
        except OSError as e:
            log.error("recordings folder %s is not usable: %s", self.root, e)
        self.reconciler = IndexReconciler(self.index, self.root)
        self.reconciler.start()  # returns at once; says what it found itself
        with self._lock:
            self._started = True
            recs = list(self._recorders.values())
        for r in recs:
            r.start()

    def _make_root(self) -> None:
        """Create the recordings folder if it is missing, and say so. Created inside an empty folder, it is
        most likely on an unmounted disk's mountpoint (a NAS or USB disk late at boot): recording goes on
        (nothing is lost by writing), but onto the disk that holds the mountpoint, which the warning names.
        The index is never pruned for it: see ``app.recording.index.missing_disk``."""
        if self.root.is_dir():
            return
        above = self.root.absolute().parent
        while not above.exists() and above.parent != above:
            above = above.parent
        try:
            empty = above.is_dir() and not any(above.iterdir())
        except OSError:  # cannot be listed: say nothing about it; the mkdir below tells whether it is usable
            empty = False
        self.root.mkdir(parents=True, exist_ok=True)
        if empty:
            log.warning("recordings folder %s did not exist: created it inside the empty folder %s, on the "
                        "filesystem mounted at %s. If a recordings disk belongs there, it is not mounted: "
                        "recordings are written to that filesystem until it is", self.root, above,
                        mount_point(self.root))  # fmt: skip
        else:
            log.info("recordings folder %s did not exist: created it (on the filesystem mounted at %s)",
                     self.root, mount_point(self.root))  # fmt: skip

    def stop(self) -> None:
        with self._lock:
            self._started = False
            recs = list(self._recorders.values())
        if self.reconciler is not None:
            self.reconciler.stop()  # before the store stops (Runtime stops services in reverse order)
        for r in recs:
            r.stop()

    def attach(self, pipeline, camera) -> None:
        rs = camera.recording
        if rs.mode == "off":
            return
        with self._lock:
            rec = self._recorders.get(camera.id)
            if rec is None:
                rec = CameraRecorder(camera.id, self.root, mode=rs.mode, segment_seconds=self.settings.segment_seconds,
                                     pre_roll_s=rs.pre_roll_s, post_roll_s=rs.post_roll_s,
                                     reserve_mb=self.settings.reserve_mb, index=self.index)  # fmt: skip
                self._recorders[camera.id] = rec
                if self._started:
                    rec.start()
        pipeline.add_packet_sink(rec)

    def on_motion(self, event) -> None:
        """MotionService listener: trigger motion recording; store finished events."""
        rec = self._recorders.get(event.camera_id)
        if rec is not None:
            rec.motion(event.end is None)
        if event.end is not None:
            try:
                self.index.add_motion_event(stored_event(event))
            except Exception:
                log.exception("storing the motion event of %s failed", event.camera_id)

    def recorder(self, camera_id: str) -> CameraRecorder | None:
        with self._lock:
            return self._recorders.get(camera_id)

    def statuses(self) -> dict[str, RecorderStatus]:
        with self._lock:
            return {cid: r.status() for cid, r in self._recorders.items()}

    def errors(self) -> dict[str, str]:
        """Cameras whose recording stopped (disk full, I/O error) -> the reason in words.

        The alert engine turns each into a ``RecordingStopped`` alert (``app.compose.add_alerts``); the
        recorder retries by itself every few seconds, so an entry disappears once writing works again."""
        return {cid: s.reason for cid, s in self.statuses().items() if s.state == "error"}

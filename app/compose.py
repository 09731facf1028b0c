"""The composition of Vigil's core: every service is built and wired here, and nowhere else.

``build_runtime(config, paths, demo)`` is what the window and ``--headless`` run (through
``main.build_runtime``). The ``add_*`` steps are public so a test or a benchmark can compose only the
parts it needs, in the same way; each sets typed fields of the :class:`~app.runtime.Runtime` and wires
them to what is already there::

    Runtime(config, paths)      supervisor (pipelines, watchdog)
      add_store                 store             <- supervisor state changes + health samples
      add_recording             motion, recording, retention   (tile frame sink, recording packet sink)
      add_monitoring            health (pipeline hook), probes (bounded pool), metrics (/metrics)
      add_alerts                alerts            <- snapshots, probe results, recorder errors, disks

Order matters once, here: the recorders' index mirrors into the store, so the store comes first; the
alert engine watches the recorders and the probes, so it comes last. ``Runtime`` starts the services in
its own fixed order (``app.runtime.START_ORDER``), whatever order they were added in.
"""

from __future__ import annotations

from pathlib import Path

from app.alerts.service import AlertEngine, DiskWatch
from app.config import AppConfig
from app.health.picture import HealthMonitor
from app.metrics.exporter import MetricsExporter
from app.motion.classifier import classifier_for
from app.motion.service import MotionService
from app.paths import Paths
from app.recording.index import MirroredIndex
from app.recording.recorder import MIN_FREE_BYTES
from app.recording.retention import RetentionService
from app.recording.segments import DirectoryIndex
from app.recording.service import RecorderService
from app.runtime import Runtime
from app.store import db, journal
from app.store.service import Store
from probes.registry import build_probes
from probes.scheduler import ProbeScheduler


def build_runtime(config: AppConfig, paths: Paths, demo: bool = False) -> Runtime:
    """The whole core (everything but the window), wired and not started."""
    runtime = Runtime(config=config, paths=paths, demo=demo)
    add_store(runtime)
    add_recording(runtime)
    add_monitoring(runtime)
    add_alerts(runtime)
    return runtime


def add_store(runtime: Runtime) -> Store:
    """The history store (SQLite in the data folder unless ``store.url`` names another database), fed by
    the supervisor's state changes and health samples. ``start()`` returns at once (the writer opens it)."""
    s = runtime.config.store
    # what the database does not take at stop is kept for the next start: next to a SQLite file (Store's
    # default), in the data folder for any other database (PostgreSQL)
    journal_path = None if not s.url or db.is_sqlite_url(s.url) else runtime.paths.data_dir / journal.DEFAULT_NAME
    runtime.store = Store(s.url or db.sqlite_url(runtime.paths.database_file), s, runtime.supervisor,
                          journal_path=journal_path)  # fmt: skip
    return runtime.store


def recordings_root(config: AppConfig, paths: Paths) -> Path:
    """Where recordings go: ``recording.root`` if set (often another disk), else the data folder's."""
    root = config.recording.root
    return Path(root).expanduser() if root else Path(paths.recordings_dir)


def add_recording(runtime: Runtime) -> RecorderService:
    """Motion analysis (frame sink on the tile pipeline), recording (packet sink on the camera's recording
    pipeline: main stream by default) and retention. The index mirrors into ``runtime.store`` when there is
    one."""
    root = recordings_root(runtime.config, runtime.paths)
    index = MirroredIndex(DirectoryIndex(root), lambda: runtime.store)
    motion = MotionService(classifier_factory=classifier_for)
    recorder = RecorderService(runtime.config.recording, root, index)
    retention = RetentionService(runtime.config.recording, root, index, open_paths=lambda: [
        s.current_path for s in recorder.statuses().values() if s.current_path])  # fmt: skip
    motion.subscribe(recorder.on_motion)
    runtime.supervisor.add_pipeline_hook(motion.attach)  # motion on the tile (sub) stream: cheap to analyse
    runtime.supervisor.add_record_hook(recorder.attach)  # recording from the main stream: evidence
    runtime.motion, runtime.recording, runtime.retention = motion, recorder, retention
    return recorder


def add_monitoring(runtime: Runtime) -> ProbeScheduler:
    """Picture/audio health on every tile pipeline, the probe scheduler (camera-scoped findings routed into
    the cameras' conditions) and the Prometheus exporter (reads snapshots and results at scrape time)."""
    config = runtime.config
    health = HealthMonitor(runtime.supervisor).install()
    scheduler = ProbeScheduler(workers=config.probes.workers)
    for probe in build_probes(config):
        scheduler.add(probe)
    scheduler.add_listener(health.on_probe_results)

    def probe_stats() -> dict[str, tuple[int, int]]:
        return {n: (c, scheduler.failures_total.get(n, 0)) for n, c in dict(scheduler.runs_total).items()}

    def disk_status():
        return runtime.retention.status() if runtime.retention is not None else None  # read at scrape time

    def store_status():
        return runtime.store.status() if runtime.store is not None else None  # never blocks

    runtime.health, runtime.probes, runtime.build_probes = health, scheduler, build_probes
    runtime.metrics = MetricsExporter(config.metrics, runtime.supervisor.snapshots, scheduler.results, probe_stats,
                                      disk_status, store_status)  # fmt: skip
    return scheduler


def recording_disk_watch(config: AppConfig, recorder: RecorderService) -> DiskWatch:
    """The recordings disk alerts below ``alerts.disk_min_free_gb`` or the recorder's reserve, whichever
    is larger, so the operator hears of it before (or at the latest when) recording stops."""
    # reserve_mb is in MiB; the recorder never writes below MIN_FREE_BYTES, whatever the reserve (even 0)
    stops_below_mb = max(config.recording.reserve_mb, MIN_FREE_BYTES / 2**20)
    floor = config.alerts.disk_min_free_gb * 1e9
    return DiskWatch(recorder.root, f"recordings disk {recorder.root}", max(floor, stops_below_mb * 2**20),
                     f"recording stops below {stops_below_mb:g} MiB")  # fmt: skip


def _recording_errors(runtime: Runtime):
    """The recorders' errors, and the cameras whose recorded main stream is down (no packets reach the
    recorder then, while the sub-stream on the wall may look fine): both raise RecordingStopped."""
    recorder = runtime.recording
    assert recorder is not None

    def errors() -> dict[str, str]:
        return {**runtime.supervisor.recording_source_errors(), **recorder.errors()}

    return errors


def add_alerts(runtime: Runtime) -> AlertEngine:
    """The alert engine over everything built before it: camera snapshots, probe results, the recorders'
    errors and the free space of Vigil's data disk and the recordings disk; persisted through the store."""
    recorder = runtime.recording
    engine = AlertEngine(
        runtime.config.alerts,
        runtime.supervisor.snapshots,
        runtime.store,
        probe_results=runtime.probes.results.all if runtime.probes is not None else None,
        disk_paths=[runtime.paths.data_dir],
        disk_watches=[recording_disk_watch(runtime.config, recorder)] if recorder is not None else [],
        recording_errors=_recording_errors(runtime) if recorder is not None else None,
        backlog_dir=runtime.paths.data_dir,  # undelivered webhook notifications wait here across a restart
    )
    runtime.alerts = engine
    return engine

"""The core of a running Vigil, with no Qt: config -> supervisor -> (store, probes, alerts, metrics, recorder).

``Runtime`` holds every service as a typed field. It is built and wired in one place, ``app.compose``, for
both the desktop window and ``--headless``; nothing looks a service up by name. A field is ``None`` where
that part is not built (a test or benchmark that composes only what it needs); readers check for ``None``
and nothing else.

Lifecycle: services start in :data:`START_ORDER` and the supervisor last (pipelines feed the services, so
every consumer is listening before the first packet); stop freezes the alert engine first (pipelines
stopping is not cameras recovering: no alert resolves because Vigil stops), then runs in reverse,
supervisor first, store last (the recorders' final segments and motion events must still reach it).

Live configuration: :meth:`Runtime.apply_config` is the one entry point for a changed config, called by
the window's dialogs (and by any other front end): it validates, adopts, fans out to every service that
takes a live change and saves atomically on one background thread. docs/architecture.md has the table of
which settings apply at once and which need a restart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from app.config import AppConfig, ConfigError, parse_config, save_config
from app.paths import Paths
from app.pipeline.supervisor import Supervisor, stream_changed
from app.recording.replay import ReplayBuffers

if TYPE_CHECKING:
    from app.alerts.service import AlertEngine
    from app.health.picture import HealthMonitor
    from app.metrics.exporter import MetricsExporter
    from app.motion.service import MotionService
    from app.recording.retention import RetentionService
    from app.recording.service import RecorderService
    from app.store.service import Store
    from probes.scheduler import ProbeScheduler

log = logging.getLogger(__name__)


class Service(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


# Start order (stop is the reverse). The store first: the recorder's start-up recovery of ``.part`` files
# indexes into it and its last segments at stop must still be written. Alerts last: they watch the others.
START_ORDER = ("store", "motion", "recording", "retention", "probes", "metrics", "alerts")

# Config sections that take effect only when Vigil starts again (the services read them once). Everything
# else is applied live by apply_config; see docs/architecture.md for the per-setting table.
RESTART_SECTIONS = ("pipeline", "templates", "metrics", "store", "recording")
# Alert settings read once at start (the sinks, the disk watches, the alarm sound); the rest are live.
RESTART_ALERT_FIELDS = ("webhook_urls", "webhook_timeout_s", "webhook_max_attempts", "disk_min_free_gb", "sound")
# How long stop waits for the config saves asked for before it gives up on them (they are atomic)
SAVE_WAIT_AT_STOP_S = 5.0


@dataclass(frozen=True, slots=True)
class ConfigApplied:
    """What :meth:`Runtime.apply_config` did: the config now in force, the settings that wait for a restart
    (dotted paths, e.g. ``"metrics"`` or ``"cameras.gate.recording"``) and the pending save (``None`` in
    demo mode, which never writes the user's file). ``saved.result()`` raises the OSError of a failed save."""

    config: AppConfig
    restart_needed: tuple[str, ...]
    saved: Future | None

    def restart_sentence(self) -> str:
        """Words for the operator, '' when everything applied at once."""
        if not self.restart_needed:
            return ""
        return "These settings apply after Vigil restarts: " + ", ".join(self.restart_needed)


@dataclass
class Runtime:
    config: AppConfig
    paths: Paths
    demo: bool = False
    supervisor: Supervisor = field(init=False)
    store: Store | None = None
    motion: MotionService | None = None
    recording: RecorderService | None = None
    retention: RetentionService | None = None
    health: HealthMonitor | None = None
    probes: ProbeScheduler | None = None
    metrics: MetricsExporter | None = None
    alerts: AlertEngine | None = None
    # instant replay's in-memory rings, on every tile pipeline whatever else is composed (app/recording/replay.py)
    replay: ReplayBuffers = field(init=False)
    stop_event: threading.Event = field(default_factory=threading.Event)
    # probe list for a config (probes.registry.build_probes): set by app.compose with the scheduler
    build_probes: Callable[[AppConfig], list] | None = None
    _saver: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _config_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.config)
        self.replay = ReplayBuffers(lambda: self.config.wall)  # read per pipeline made: a change applies at restart
        self.supervisor.add_pipeline_hook(self.replay.attach)

    def services(self) -> list[tuple[str, Service]]:
        """The built services in start order, as (name, service) for logging; names are not for lookup."""
        return [(name, svc) for name in START_ORDER if (svc := getattr(self, name)) is not None]

    def start(self) -> None:
        log.info("starting Vigil core: %d cameras%s", len(self.config.cameras), " (demo)" if self.demo else "")
        for name, svc in self.services():
            log.debug("starting %s", name)
            svc.start()
        self.supervisor.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self.alerts is not None:
            # first: the pipelines going down is Vigil stopping, not the cameras coming back (no false resolves)
            self.alerts.freeze()
        self.supervisor.stop()
        for name, svc in reversed(self.services()):
            try:
                svc.stop()
            except Exception:
                log.exception("stopping %s failed", name)
        if self._saver is not None:
            self._stop_saver(self._saver)
            self._saver = None
        log.info("Vigil core stopped")

    def _stop_saver(self, saver: ThreadPoolExecutor) -> None:
        """Let the saves asked for finish, for at most :data:`SAVE_WAIT_AT_STOP_S`: a save stuck (a keyring
        waiting on a prompt, a hung disk) must not make stop (SIGTERM) wait forever. Giving up is safe: a
        save is atomic (secrets first, then the config renamed into place), so the file on disk is the
        previous config, whole, whose secret references still resolve."""
        done = threading.Event()
        saver.submit(done.set)  # behind every save already queued
        if done.wait(SAVE_WAIT_AT_STOP_S):
            saver.shutdown(wait=True)
            return
        log.error("the config save did not finish within %g s; Vigil stops without it: the previous config "
                  "file %s is intact (saves are atomic)", SAVE_WAIT_AT_STOP_S, self.paths.config_file)  # fmt: skip
        saver.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ live configuration
    def apply_config(self, new: AppConfig) -> ConfigApplied:
        """Adopt *new* everywhere at once and save it (background thread; demo mode saves nothing).

        Validation runs first (the model is validated again from its data, so an object edited in place
        cannot smuggle in what the schema refuses): an invalid config raises :class:`ConfigError` and
        changes nothing. Safe from any thread; calls are serialised. Returns what applied and what waits
        for a restart."""
        config = parse_config(new.model_dump(mode="json"), "the new configuration")
        with self._config_lock:
            old = self.config
            if self.alerts is not None:
                try:  # first: the engine refuses unknown rules or severities before anything has changed
                    self.alerts.apply_settings(config.alerts)
                except ValueError as e:
                    raise ConfigError(str(e)) from None
            self.config = config
            self.supervisor.apply_config(config)  # cameras: start added, stop removed, restart changed streams
            self.replay.prune({c.id for c in config.cameras if c.enabled})  # removed cameras' pictures go
            if self.motion is not None:
                self.motion.apply_config(config)  # masks, zones, sensitivity of cameras already analysed
            if (
                self.probes is not None
                and self.build_probes is not None
                and (old.probes != config.probes or old.cameras != config.cameras)
            ):
                self.probes.replace_all(self.build_probes(config))  # probes added or removed with cameras
            restart = restart_needed(old, config)
            saved = self._save(config)
        if restart:
            log.info("config applied; after a restart: %s", ", ".join(restart))
        return ConfigApplied(config, restart, saved)

    def save_now(self) -> Future | None:
        """Save the config in force on the saving thread (in order with apply_config's saves); None in demo
        mode. "Save this wall as my configuration" sets ``demo = False`` first."""
        with self._config_lock:
            return self._save(self.config)

    def _save(self, config: AppConfig) -> Future | None:
        if self.demo:
            log.debug("demo wall: the configuration is kept in memory, the user's config file is not written")
            return None
        if self._saver is None:
            self._saver = ThreadPoolExecutor(max_workers=1, thread_name_prefix="config:save")
        snapshot = config.model_copy(deep=True)  # the caller may go on editing its object
        path = self.paths.config_file

        def work() -> None:
            try:
                save_config(snapshot, path)
            except OSError as e:
                log.error("cannot save config to %s: %s", path, e)
                raise

        return self._saver.submit(work)

    def flush_saves(self, timeout: float = 30.0) -> bool:
        """Wait until every save asked for so far is on disk (tests, shutdown). Not for the GUI thread."""
        if self._saver is None:
            return True
        done = threading.Event()
        self._saver.submit(done.set)
        return done.wait(timeout)


def restart_needed(old: AppConfig, new: AppConfig) -> tuple[str, ...]:
    """Dotted names of the changed settings that apply only after a restart (see :data:`RESTART_SECTIONS`;
    per camera: its recording settings, always, because a camera's recorder is made once per run; its
    threshold template and motion switch, read when the health monitor and the motion analysis attach to a
    pipeline, unless a stream change restarts the pipeline anyway)."""
    out = [name for name in RESTART_SECTIONS if getattr(old, name) != getattr(new, name)]
    out += [f"alerts.{f}" for f in RESTART_ALERT_FIELDS if getattr(old.alerts, f) != getattr(new.alerts, f)]
    before = {c.id: c for c in old.cameras}
    for cam in new.cameras:
        was = before.get(cam.id)
        if was is None:
            continue  # a new camera starts with its settings
        if was.recording != cam.recording:
            out.append(f"cameras.{cam.id}.recording")
        if stream_changed(was, cam):
            continue  # its restarted pipelines attach health and motion with the new settings
        if (was.template, was.thresholds) != (cam.template, cam.thresholds):
            out.append(f"cameras.{cam.id}.template")
        if (was.motion.enabled, was.motion.classify, was.motion.classifier_model) != (
            cam.motion.enabled,
            cam.motion.classify,
            cam.motion.classifier_model,
        ):
            out.append(f"cameras.{cam.id}.motion")
    return tuple(out)

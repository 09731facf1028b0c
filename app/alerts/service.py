"""``AlertEngine``: evaluates the rules about once a second on its own thread (Runtime service ``alerts``).

Inputs: ``supervisor.snapshots()`` (states + conditions, incl. NETWORK_DOWN/HLS_* merged by the health
monitor), optional probe results that belong to no camera (analytics API errors, device DISK_FULL), and
the free space of Vigil's data disk. Outputs: every lifecycle change is persisted through the store
(``record_alert``), handed to the sinks (log, webhooks) and to subscribers (the alarm panel), and the open
alerts are available as an immutable snapshot (``active()``). Operator actions (``acknowledge``,
``resolve``) take the engine lock for microseconds and never wait on the database.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from app.alerts.evaluator import Alert, AlertError, AlertEvaluator, AlertEvent, AlertStatus
from app.alerts.rules import AlertRule, Observation, Severity, observe_probe_result, observe_snapshot
from app.alerts.rules import rules_with_overrides as _rules_with_overrides
from app.alerts.sinks import LogSink, WebhookSink
from app.config import AlertSettings
from app.store.records import AlertRecord

log = logging.getLogger(__name__)

Subscriber = Callable[[AlertEvent], None]
DISK_CHECK_INTERVAL_S = 30.0


def to_record(a: Alert) -> AlertRecord:
    labels = (("group", a.group), ("name", a.name), ("subject", a.subject), ("key", a.key))
    return AlertRecord(a.id, a.alertname, a.camera_id, a.severity.value, a.status.value, a.summary, a.started_at,
                       a.updated_at, a.acknowledged_at, a.acknowledged_by, a.ack_note, a.resolved_at, a.resolved_by,
                       a.resolve_note, labels)  # fmt: skip


def from_record(r: AlertRecord) -> Alert:
    labels = dict(r.labels)
    subject = labels.get("subject") or r.camera_id
    return Alert(r.id, labels.get("key") or f"{r.alertname}:{subject}", r.alertname, Severity(r.severity),
                 AlertStatus(r.status), r.summary, subject, r.camera_id, labels.get("name", r.camera_id),
                 labels.get("group", ""), r.started_at, r.updated_at, r.acknowledged_at, r.acknowledged_by,
                 r.ack_note, r.resolved_at, r.resolved_by, r.resolve_note)  # fmt: skip


class AlertEngine:
    def __init__(
        self,
        settings: AlertSettings,
        snapshots: Callable[[], dict],
        store=None,
        *,
        probe_results: Callable[[], Iterable] | None = None,
        disk_paths: Iterable[Path] = (),
        sinks: Iterable | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.rules: tuple[AlertRule, ...] = _rules_with_overrides(settings.rules)
        self._snapshots = snapshots
        self._store = store
        self._probe_results = probe_results
        self._disk_paths = [Path(p) for p in disk_paths]
        self._clock = clock
        self.sinks = list(sinks) if sinks is not None else default_sinks(settings)
        self._eval = AlertEvaluator(settings.debounce_s, settings.clear_s)
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._active: tuple[Alert, ...] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._disk_obs: list[Observation] = []
        self._disk_checked = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._adopt_from_store()
        for s in self.sinks:
            s.start()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alerts:engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for s in self.sinks:
            try:
                s.stop()
            except Exception:
                log.exception("stopping alert sink failed")

    def _adopt_from_store(self) -> None:
        if self._store is None or getattr(self._store, "engine", None) is None:
            return
        from app.store import repository

        try:
            rows = self._store.query(repository.open_alerts).result(15)
        except Exception as e:
            log.warning("could not load open alerts from the previous run: %s", e)
            return
        with self._lock:
            self._eval.adopt((from_record(r) for r in rows), self.rules)
            self._active = self._eval.open_alerts()
        if rows:
            log.info("%d open alerts carried over from the previous run", len(rows))

    def _run(self) -> None:
        while not self._stop.wait(self.settings.eval_interval_s):
            try:
                self.evaluate_once()
            except Exception:
                log.exception("alert evaluation failed")

    # ------------------------------------------------------------------ evaluation
    def observations(self, now: float) -> list[Observation]:
        obs: list[Observation] = []
        for snap in self._snapshots().values():
            obs.extend(observe_snapshot(snap, self.rules))
        if self._probe_results is not None:
            try:
                for r in self._probe_results():
                    obs.extend(observe_probe_result(r, self.rules))
            except Exception:
                log.exception("reading probe results for alerts failed")
        obs.extend(self._disk_observations(now))
        return obs

    def _disk_observations(self, now: float) -> list[Observation]:
        limit = self.settings.disk_min_free_gb * 1e9
        if not self._disk_paths or limit <= 0:
            return []
        if now - self._disk_checked >= DISK_CHECK_INTERVAL_S:
            self._disk_checked = now
            out = []
            rule = next((r for r in self.rules if r.alertname == "DiskFull" and r.enabled), None)
            for p in self._disk_paths:
                try:
                    free = shutil.disk_usage(p if p.exists() else p.parent).free
                except OSError:
                    continue
                if rule is not None and free < limit:
                    out.append(Observation(rule, f"disk:{p}", f"Vigil data disk {p}",
                                           f"{free / 1e9:.1f} GB free", "", ""))  # fmt: skip
            self._disk_obs = out
        return self._disk_obs

    def evaluate_once(self, now: float | None = None) -> list[AlertEvent]:
        now = self._clock() if now is None else now
        obs = self.observations(now)
        with self._lock:
            events = self._eval.evaluate(now, obs)
            if events:
                self._active = self._eval.open_alerts()
        self._publish(events)
        return events

    # ------------------------------------------------------------------ operator actions (any thread)
    def acknowledge(self, alert_id: str, who: str, note: str = "") -> Alert:
        with self._lock:
            ev = self._eval.acknowledge(alert_id, who, note, self._clock())
            self._active = self._eval.open_alerts()
        self._publish([ev])
        return ev.alert

    def resolve(self, alert_id: str, who: str, note: str = "") -> Alert:
        with self._lock:
            ev = self._eval.resolve(alert_id, who, note, self._clock())
            self._active = self._eval.open_alerts()
        self._publish([ev])
        return ev.alert

    def acknowledge_camera(self, camera_id: str, who: str, note: str = "") -> list[Alert]:
        """Acknowledge every unacknowledged alert of one camera (tile context menu)."""
        done = []
        for a in self.active():
            if a.camera_id == camera_id and a.needs_attention:
                try:
                    done.append(self.acknowledge(a.id, who, note))
                except AlertError:
                    pass
        return done

    # ------------------------------------------------------------------ outputs
    def active(self) -> tuple[Alert, ...]:
        """Open alerts, most severe first (an immutable snapshot)."""
        return self._active

    def subscribe(self, fn: Subscriber) -> None:
        """*fn(event)* runs on the engine thread (or the caller's, for operator actions): queue and return."""
        with self._lock:
            self._subscribers.append(fn)

    def _publish(self, events: list[AlertEvent]) -> None:
        if not events:
            return
        with self._lock:
            subs = list(self._subscribers)
        for ev in events:
            if self._store is not None:
                try:
                    self._store.record_alert(to_record(ev.alert))
                except Exception:
                    log.exception("persisting alert failed")
            for s in self.sinks:
                try:
                    s.notify(ev)
                except Exception:
                    log.exception("alert sink failed")
            for fn in subs:
                try:
                    fn(ev)
                except Exception:
                    log.exception("alert subscriber failed")


def default_sinks(settings: AlertSettings) -> list:
    sinks: list = [LogSink()]
    for url in settings.webhook_urls:
        sinks.append(WebhookSink(url, settings.webhook_timeout_s, settings.webhook_max_attempts))
    return sinks


def install_alerts(runtime, store=None) -> AlertEngine:
    """Create the engine for *runtime* and register it as the ``alerts`` service (after ``store``)."""
    probes = next((svc for n, svc in runtime.services if n == "probes"), None)
    results = getattr(probes, "results", None)
    probe_results = results.all if results is not None and hasattr(results, "all") else None
    engine = AlertEngine(runtime.config.alerts, runtime.supervisor.snapshots, store, probe_results=probe_results,
                         disk_paths=[runtime.paths.data_dir])  # fmt: skip
    runtime.add_service("alerts", engine)
    return engine

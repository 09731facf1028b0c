"""``AlertEngine``: evaluates the rules about once a second on its own thread (``Runtime.alerts``, built by
``app.compose.add_alerts``).

Inputs: ``supervisor.snapshots()`` (states + conditions, incl. NETWORK_DOWN/HLS_* merged by the health
monitor; states go through the :class:`~app.alerts.outage.OutageTracker`, which turns reconnect cycles into
one outage and counts drops for flapping), the probe results (those that belong to no camera become their
own alerts - analytics API errors, device DISK_FULL / NOT_STREAMING / UNREACHABLE; camera-scoped ones lend
their error words to the camera's conditions), the recorder's errors (``RecordingStopped``: disk full, I/O
error) and the free space of the watched disks (Vigil's data disk; the recordings disk, wherever
``recording.root`` puts it). Outputs: every lifecycle change is persisted through the store
(``record_alert``), handed to the sinks (log, webhooks) and to subscribers (the alarm panel), and the open
alerts are available as an immutable snapshot (``active()``). Operator actions (``acknowledge``,
``resolve``) take the engine lock for microseconds and never wait on the database.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from app.alerts.evaluator import Alert, AlertError, AlertEvaluator, AlertEvent, AlertStatus
from app.alerts.outage import OutageTracker
from app.alerts.rules import AlertRule, Observation, Severity, observe_probe_result, observe_snapshot, rule_for_signal
from app.alerts.rules import rules_with_overrides as _rules_with_overrides
from app.alerts.sinks import STOP_S, LogSink, WebhookSink, backlog_file, begin_stop, finish_stop
from app.config import AlertSettings
from app.secrets import mask_url
from app.store.records import AlertRecord
from app.textsafe import one_line

log = logging.getLogger(__name__)

Subscriber = Callable[[AlertEvent], None]
DISK_CHECK_INTERVAL_S = 30.0


@dataclass(frozen=True, slots=True)
class DiskWatch:
    """A folder whose disk must keep *min_free_bytes* free; *label* names it in the alert."""

    path: Path
    label: str
    min_free_bytes: float
    note: str = ""  # appended to the detail, e.g. "recording stops below 500 MB"


def _existing(p: Path) -> Path:
    """*p*, or its nearest existing parent (a recordings folder not created yet still has a disk)."""
    for q in (p, *p.parents):
        if q.exists():
            return q
    return p


def merge_watches(watches: Iterable[DiskWatch]) -> list[DiskWatch]:
    """One watch per filesystem (the strictest limit, both labels): no two alerts for one full disk."""
    by_dev: dict[object, DiskWatch] = {}
    for w in watches:
        try:
            dev: object = os.stat(_existing(w.path)).st_dev
        except OSError:
            dev = str(w.path)
        old = by_dev.get(dev)
        if old is None:
            by_dev[dev] = w
        else:
            strict = w if w.min_free_bytes > old.min_free_bytes else old
            by_dev[dev] = DiskWatch(old.path, f"{old.label} and {w.label}", strict.min_free_bytes, strict.note)
    return list(by_dev.values())


def to_record(a: Alert) -> AlertRecord:
    labels = (("group", a.group), ("name", a.name), ("subject", a.subject), ("key", a.key))
    return AlertRecord(a.id, a.alertname, a.camera_id, a.severity.value, a.status.value, a.summary, a.started_at,
                       a.updated_at, a.acknowledged_at, a.acknowledged_by, a.ack_note, a.resolved_at, a.resolved_by,
                       a.resolve_note, labels, a.cleared_at, a.shelved_until, a.shelved_by, a.shelve_note)  # fmt: skip


def from_record(r: AlertRecord) -> Alert:
    labels = dict(r.labels)
    subject = labels.get("subject") or r.camera_id
    # texts stored by an older Vigil were not neutralised: they reach the alarm panel and receivers as one line
    return Alert(r.id, labels.get("key") or f"{r.alertname}:{subject}", r.alertname, Severity(r.severity),
                 AlertStatus(r.status), one_line(r.summary), subject, r.camera_id,
                 one_line(labels.get("name", r.camera_id)), one_line(labels.get("group", "")), r.started_at,
                 r.updated_at, r.acknowledged_at, r.acknowledged_by, r.ack_note, r.resolved_at, r.resolved_by,
                 r.resolve_note, r.cleared_at, r.shelved_until, r.shelved_by, r.shelve_note)  # fmt: skip


class AlertEngine:
    def __init__(
        self,
        settings: AlertSettings,
        snapshots: Callable[[], dict],
        store=None,
        *,
        probe_results: Callable[[], Iterable] | None = None,
        disk_paths: Iterable[Path] = (),
        disk_watches: Iterable[DiskWatch] = (),
        recording_errors: Callable[[], Mapping[str, str]] | None = None,
        sinks: Iterable | None = None,
        backlog_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.rules: tuple[AlertRule, ...] = _rules_with_overrides(settings.rules)
        self._snapshots = snapshots
        self._store = store
        self._probe_results = probe_results
        limit = settings.disk_min_free_gb * 1e9
        watches = [DiskWatch(Path(p), f"Vigil data disk {p}", limit) for p in disk_paths if limit > 0]
        # merged per filesystem at each check, on the engine thread (os.stat may block on a dead mount; a
        # recordings root mounted after start-up is a disk of its own from then on)
        self._disk_watches = [*watches, *(w for w in disk_watches if w.min_free_bytes > 0)]
        self._recording_errors = recording_errors
        self._outages = OutageTracker()
        self._clock = clock
        self.sinks = list(sinks) if sinks is not None else default_sinks(settings, backlog_dir)
        self._eval = AlertEvaluator(settings.debounce_s, settings.clear_s)
        self._lock = threading.Lock()
        self._deliver_lock = threading.Lock()  # orders store writes and sink notifications (see _change)
        self._subscribers: list[Subscriber] = []
        self._active: tuple[Alert, ...] = ()
        self._stop = threading.Event()
        self._frozen = False  # set by freeze() under _deliver_lock: no evaluation changes anything after it
        self._settling: dict[str, Alert] = {}  # adopted, still firing, inputs not reported again yet (key ->)
        self._settle_until = 0.0
        self._thread: threading.Thread | None = None
        self._disk_obs: list[Observation] = []
        self._disk_checked = 0.0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for s in self.sinks:
            s.start()
        self._stop.clear()
        self._frozen = False
        self._thread = threading.Thread(target=self._run, name="alerts:engine", daemon=True)
        self._thread.start()

    def freeze(self) -> None:
        """Stop evaluating, before anything it watches stops (``Runtime.stop`` calls it before the
        supervisor stops the pipelines). Cameras going IDLE, probes and recorders ending are Vigil
        stopping, not conditions clearing: without this, every open alert auto-resolved at each stop
        (20 false "RESOLVED (auto: condition cleared)" in one stop) and Alertmanager was told ``endsAt``.
        Open alerts stay as they are in the store and are adopted at the next start. An evaluation already
        under way finishes first (it holds ``_deliver_lock``); none changes anything afterwards. Operator
        actions still work. Idempotent; ``start()`` thaws."""
        with self._deliver_lock:
            self._frozen = True
        self._stop.set()

    def stop(self, timeout: float = STOP_S) -> None:
        """Freeze, then stop the engine thread and every sink together within *timeout* (one deadline for
        all: the webhooks' last attempts run in parallel and a POST still in flight near the deadline is cut,
        its alerts kept in the backlog; ``app.alerts.sinks.finish_stop``). SIGTERM to exit stays bounded
        whatever the receivers do. An evaluation still reading its inputs past the deadline is a daemon
        thread that changes nothing (frozen)."""
        self.freeze()
        deadline = time.monotonic() + timeout
        begin_stop(self.sinks)  # first: the webhooks' last attempts overlap the engine thread's end
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        finish_stop(self.sinks, deadline)

    def _adopt_from_store(self) -> None:
        if self._store is None:
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
            self._settling = {a.key: a for a in self._active if a.condition_active}
            self._settle_until = self._clock() + self.settings.restart_settle_s
        if rows:
            log.info("%d open alerts carried over from the previous run", len(rows))
        for s in self.sinks:  # a receiver hears of them again (re-sent while they still fire)
            adopt = getattr(s, "adopt", None)
            if adopt is not None:
                try:
                    adopt(self._active)
                except Exception:
                    log.exception("handing adopted alerts to a sink failed")

    def _run(self) -> None:
        # Adopt here, before the first evaluation, not in start(): start() runs on the GUI thread and the
        # store opens its database in the background, so this may wait (at most 15 s) for it.
        self._adopt_from_store()
        while not self._stop.wait(self.settings.eval_interval_s):
            try:
                self.evaluate_once()
            except Exception:
                log.exception("alert evaluation failed")

    def apply_settings(self, settings: AlertSettings) -> None:
        """Live change: rules and their overrides, debounce, hold-clear and the evaluation interval apply
        from the next evaluation; open alerts are kept. Webhook receivers and the disk floor are read at
        start (a restart applies them: docs/architecture.md). Raises ValueError (in words) for an unknown rule,
        setting or severity, before anything has changed."""
        rules = _rules_with_overrides(settings.rules)
        with self._lock:
            self.settings = settings
            self.rules = rules
            self._eval.debounce_s, self._eval.clear_s = settings.debounce_s, settings.clear_s
        for s in self.sinks:
            if isinstance(s, WebhookSink):
                s.set_resend_interval(settings.webhook_resend_s)

    # ------------------------------------------------------------------ evaluation
    def observations(self, now: float) -> list[Observation]:
        obs: list[Observation] = []
        snaps = self._snapshots()
        results: list = []
        if self._probe_results is not None:
            try:
                results = list(self._probe_results())
            except Exception:
                log.exception("reading probe results for alerts failed")
        details = _condition_details(results)
        rules = self.rules  # one rule set per evaluation, even while apply_settings swaps it
        obs.extend(self._outages.observe(now, snaps.values(), rules))
        for snap in snaps.values():
            obs.extend(observe_snapshot(snap, rules, include_state=False, details=details.get(snap.camera_id)))
        for r in results:
            obs.extend(observe_probe_result(r, rules))
        obs.extend(self._recording_observations(snaps))
        obs.extend(self._disk_observations(now))
        obs.extend(self._history_observations())
        return obs

    def _recording_observations(self, snaps: Mapping) -> list[Observation]:
        rule = rule_for_signal(self.rules, "RECORDING_ERROR")
        if self._recording_errors is None or rule is None:
            return []
        try:
            errors = dict(self._recording_errors())
        except Exception:
            log.exception("reading recorder errors for alerts failed")
            return []
        out = []
        for cid, reason in sorted(errors.items()):
            snap = snaps.get(cid)
            name, group = (snap.name or cid, snap.group) if snap is not None else (cid, "")
            out.append(Observation(rule, cid, name, reason or "recorder error", cid, group))
        return out

    def _history_observations(self) -> list[Observation]:
        """``HistoryNotWritten`` while the store cannot write (locked, full, read-only, server gone: an
        outage, timed from its start; or history off). ``store.status()`` never blocks. The alert's own
        record is held with the others and written once the database works again."""
        rule = rule_for_signal(self.rules, "HISTORY_NOT_WRITTEN")
        status = getattr(self._store, "status", None)
        if rule is None or status is None:
            return []
        try:
            st = status()
        except Exception:
            log.exception("reading the history store's status for alerts failed")
            return []
        if not getattr(st, "not_written", False):
            return []
        if st.state == "off":
            detail = f"history is off: {st.last_error}"
        else:
            detail = (f"{st.last_error or 'writes are failing'}; {st.queued:,} records held, "
                      f"{st.lost_in_outage:,} lost")  # fmt: skip
        return [Observation(rule, "store:history", "the database", detail, "", "", since=st.outage_since)]

    def _disk_observations(self, now: float) -> list[Observation]:
        if not self._disk_watches:
            return []
        if now - self._disk_checked >= DISK_CHECK_INTERVAL_S or now < self._disk_checked:
            self._disk_checked = now
            out = []
            rule = rule_for_signal(self.rules, "DISK_LOW")
            for w in merge_watches(self._disk_watches):
                try:
                    free = shutil.disk_usage(_existing(w.path)).free
                except OSError as e:
                    log.warning("cannot read the free space of %s: %s", w.path, e)
                    continue
                if rule is not None and free < w.min_free_bytes:
                    detail = f"{_size(free)} free, less than {_size(w.min_free_bytes)}"
                    if w.note:
                        detail += f"; {w.note}"
                    out.append(Observation(rule, f"disk:{w.path}", w.label, detail, "", ""))
            self._disk_obs = out
        return self._disk_obs

    def evaluate_once(self, now: float | None = None) -> list[AlertEvent]:
        """One evaluation; nothing (``[]``) once frozen (see :meth:`freeze`)."""
        if self._frozen:
            return []
        now = self._clock() if now is None else now
        obs = self.observations(now)
        obs.extend(self._settle_observations(now, obs))
        # checked again under _deliver_lock: observations read while freeze() ran must not change anything
        return self._change(lambda: [] if self._frozen else self._eval.evaluate(now, obs))

    def _settle_observations(self, now: float, obs: list[Observation]) -> list[Observation]:
        """Hold the alarms adopted as firing until their inputs report again (``alerts.restart_settle_s``).

        Right after a start a camera is CONNECTING or not in the snapshots yet, picture analysis has no
        window, probes have not run: an adopted PictureBlack or DeviceUnreachable would clear (and tell
        Alertmanager ``endsAt``) because Vigil restarted, not because the condition cleared. An alarm seen
        again is released at once (the normal hysteresis applies from then); the others are held until the
        settle time is over. The holding observation only keeps the condition present: an active alarm's
        summary and state are not touched by it (the evaluator re-words only a cleared one coming back)."""
        if not self._settling:
            return []
        seen = {o.key for o in obs}
        for key in [k for k in self._settling if k in seen]:
            del self._settling[key]
        if now >= self._settle_until:
            self._settling.clear()
            return []
        by_name = {r.alertname: r for r in self.rules}
        out = []
        for a in self._settling.values():
            rule = by_name.get(a.alertname)
            if rule is not None:
                out.append(Observation(rule, a.subject, a.name, "", a.camera_id, a.group, since=a.started_at))
        return out

    def _change(self, step: Callable[[], list[AlertEvent]]) -> list[AlertEvent]:
        """Run one state change of the evaluator and hand its events on in the order they happened.

        The engine thread evaluates while the GUI thread acknowledges: without ``_deliver_lock`` an
        evaluation's "cleared" could reach the store after the operator's later "resolved" of the same
        alarm (the store keeps the last record of an id), and the restart would bring a closed alarm back.
        The store only enqueues and the sinks only buffer, so holding it costs microseconds; subscribers
        are told afterwards (they read ``active()`` for the state)."""
        with self._deliver_lock:
            with self._lock:
                events = step()
                if events:
                    self._active = self._eval.open_alerts()
            self._deliver(events)
        self._notify(events)
        return events

    # ------------------------------------------------------------------ operator actions (any thread)
    def acknowledge(self, alert_id: str, who: str, note: str = "") -> Alert:
        return self._change(lambda: [self._eval.acknowledge(alert_id, who, note, self._clock())])[0].alert

    def resolve(self, alert_id: str, who: str, note: str = "") -> Alert:
        return self._change(lambda: [self._eval.resolve(alert_id, who, note, self._clock())])[0].alert

    def shelve(self, alert_id: str, minutes: float, who: str, note: str = "") -> Alert:
        """Silence one alarm for *minutes* (ISA-18.2 shelving), with who and why."""

        def step() -> list[AlertEvent]:
            now = self._clock()
            return [self._eval.shelve(alert_id, now + minutes * 60.0, who, note, now)]

        return self._change(step)[0].alert

    def unshelve(self, alert_id: str, who: str) -> Alert:
        return self._change(lambda: [self._eval.unshelve(alert_id, who, self._clock())])[0].alert

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
        """Open alarms (active, acknowledged, or cleared but not yet acknowledged), most severe first (an
        immutable snapshot)."""
        return self._active

    def subscribe(self, fn: Subscriber) -> None:
        """*fn(event)* runs on the engine thread (or the caller's, for operator actions): queue and return."""
        with self._lock:
            self._subscribers.append(fn)

    def _deliver(self, events: list[AlertEvent]) -> None:
        """Store and sinks, in event order (caller holds ``_deliver_lock``); both only enqueue."""
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

    def _notify(self, events: list[AlertEvent]) -> None:
        if not events:
            return
        with self._lock:
            subs = list(self._subscribers)
        for ev in events:
            for fn in subs:
                try:
                    fn(ev)
                except Exception:
                    log.exception("alert subscriber failed")


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _condition_details(results: Iterable) -> dict[str, dict[str, str]]:
    """camera id -> condition -> the words a camera-scoped probe gave for it (the master's text first)."""
    out: dict[str, dict[str, str]] = {}
    for r in sorted(results, key=lambda r: r.kind != "hls"):
        cid = r.camera_id
        if cid and r.error:
            for c in r.conditions:
                out.setdefault(cid, {}).setdefault(c, r.error[:300])
    return out


def default_sinks(settings: AlertSettings, backlog_dir: Path | None = None) -> list:
    """The log, and one webhook per ``alerts.webhook_urls`` (its undelivered notifications kept in
    *backlog_dir*, Vigil's data folder, across a restart; none kept without it)."""
    sinks: list = [LogSink()]
    # one webhook per receiver: a URL listed twice would post every alert twice, and both sinks would
    # share (and overwrite) one backlog file, which is named by the URL's digest
    urls = list(dict.fromkeys(settings.webhook_urls))
    for url in urls:
        if (n := settings.webhook_urls.count(url)) > 1:
            log.warning("alerts.webhook_urls lists %s %d times: it gets one webhook", mask_url(url), n)
        backlog = backlog_file(backlog_dir, url) if backlog_dir is not None else None
        sinks.append(WebhookSink(url, settings.webhook_timeout_s, settings.webhook_max_attempts,
                                 resend_s=settings.webhook_resend_s, backlog_path=backlog))  # fmt: skip
    return sinks

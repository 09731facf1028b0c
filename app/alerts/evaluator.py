"""The pure alert state machine: debounce, hysteresis, lifecycle. No threads, no clock of its own.

Per alert key (``alertname:subject``):

- **debounce**: a rule must fire continuously for ``debounce_s`` (per-rule override) before an alert is
  raised; one evaluation without it resets the wait ("tell me after 30 s, not on every blip").
  ``started_at`` is when the condition began, not when the alert was raised. An observation with
  ``since`` (a camera outage: see :mod:`app.alerts.outage`) is timed from there instead.
- **hysteresis**: an open alert resolves itself only after the condition has been absent continuously for
  ``clear_s``; if it comes back sooner the same alert stays open (no flapping pairs of alerts).
- **lifecycle**: active -> acknowledged (who, when, note) -> resolved (auto: "condition cleared", or by an
  operator). An alert resolved by hand while its condition still holds is *latched*: no new alert for
  that key until the condition has been clear for ``clear_s`` (otherwise it would re-fire at once).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from app.alerts.rules import AlertRule, Observation, Severity

AUTO = "auto"


class AlertStatus(enum.StrEnum):
    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    key: str
    alertname: str
    severity: Severity
    status: AlertStatus
    summary: str
    subject: str
    camera_id: str
    name: str
    group: str
    started_at: float
    updated_at: float
    acknowledged_at: float | None = None
    acknowledged_by: str = ""
    ack_note: str = ""
    resolved_at: float | None = None
    resolved_by: str = ""
    resolve_note: str = ""

    @property
    def is_open(self) -> bool:
        return self.status is not AlertStatus.RESOLVED

    @property
    def needs_attention(self) -> bool:
        """Active and not yet acknowledged: blink, sound, notify."""
        return self.status is AlertStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class AlertEvent:
    kind: str  # "fired" | "acknowledged" | "resolved"
    alert: Alert


class AlertError(Exception):
    """An operator action that cannot be done (unknown or already resolved alert), in words."""


@dataclass
class _Track:
    rule: AlertRule
    first_seen: float | None = None
    clear_since: float | None = None
    alert: Alert | None = None
    latched: bool = False
    present: bool = False


class AlertEvaluator:
    def __init__(self, debounce_s: float, clear_s: float, id_factory: Callable[[], str] | None = None) -> None:
        self.debounce_s = debounce_s
        self.clear_s = clear_s
        self._new_id = id_factory or (lambda: str(uuid.uuid4()))
        self._tracks: dict[str, _Track] = {}
        self._by_id: dict[str, str] = {}  # alert id -> key

    def _debounce(self, rule: AlertRule) -> float:
        return self.debounce_s if rule.debounce_s is None else rule.debounce_s

    def _clear(self, rule: AlertRule) -> float:
        return self.clear_s if rule.clear_s is None else rule.clear_s

    def evaluate(self, now: float, observations: Iterable[Observation]) -> list[AlertEvent]:
        """Feed what fires right now; returns the lifecycle events this step caused."""
        events: list[AlertEvent] = []
        seen: dict[str, Observation] = {}
        for o in observations:
            seen.setdefault(o.key, o)
        for key, o in seen.items():
            tr = self._tracks.get(key)
            if tr is None:
                tr = self._tracks[key] = _Track(o.rule)
            tr.rule, tr.present, tr.clear_since = o.rule, True, None
            if o.since is not None:  # the caller knows when it began (an outage across reconnect attempts)
                tr.first_seen = min(o.since, now)
            elif tr.first_seen is None:
                tr.first_seen = now
            if tr.alert is None and not tr.latched and now - tr.first_seen >= self._debounce(o.rule):
                alert = Alert(self._new_id(), key, o.rule.alertname, o.rule.severity, AlertStatus.ACTIVE, o.summary,
                              o.subject, o.camera_id, o.name, o.group, tr.first_seen, now)  # fmt: skip
                tr.alert = alert
                self._by_id[alert.id] = key
                events.append(AlertEvent("fired", alert))
        for key in [k for k in self._tracks if k not in seen]:
            tr = self._tracks[key]
            tr.present, tr.first_seen = False, None
            if tr.alert is None and not tr.latched:
                del self._tracks[key]  # a blip that never became an alert
                continue
            if tr.clear_since is None:
                tr.clear_since = now
            if now - tr.clear_since >= self._clear(tr.rule):
                if tr.alert is not None:
                    done = replace(tr.alert, status=AlertStatus.RESOLVED, resolved_at=now, resolved_by=AUTO,
                                   resolve_note="condition cleared", updated_at=now)  # fmt: skip
                    self._by_id.pop(done.id, None)
                    events.append(AlertEvent("resolved", done))
                del self._tracks[key]
        return events

    # ------------------------------------------------------------------ operator actions
    def _open(self, alert_id: str) -> _Track:
        key = self._by_id.get(alert_id)
        tr = self._tracks.get(key) if key else None
        if tr is None or tr.alert is None:
            raise AlertError(f"alert {alert_id} is not open (already resolved or unknown)")
        return tr

    def acknowledge(self, alert_id: str, who: str, note: str, now: float) -> AlertEvent:
        tr = self._open(alert_id)
        assert tr.alert is not None
        if tr.alert.status is AlertStatus.ACKNOWLEDGED:
            raise AlertError(f"alert {tr.alert.alertname} was already acknowledged by {tr.alert.acknowledged_by}")
        tr.alert = replace(tr.alert, status=AlertStatus.ACKNOWLEDGED, acknowledged_at=now,
                           acknowledged_by=who or "unknown", ack_note=note, updated_at=now)  # fmt: skip
        return AlertEvent("acknowledged", tr.alert)

    def resolve(self, alert_id: str, who: str, note: str, now: float) -> AlertEvent:
        tr = self._open(alert_id)
        assert tr.alert is not None
        done = replace(tr.alert, status=AlertStatus.RESOLVED, resolved_at=now, resolved_by=who or "unknown",
                       resolve_note=note, updated_at=now)  # fmt: skip
        self._by_id.pop(done.id, None)
        tr.alert = None
        tr.latched = tr.present  # still firing: wait for it to clear before alerting again
        if not tr.latched:
            del self._tracks[done.key]
        return AlertEvent("resolved", done)

    # ------------------------------------------------------------------ state
    def adopt(self, alerts: Iterable[Alert], rules: Iterable[AlertRule]) -> None:
        """Take over open alerts from a previous run (they resolve if their condition does not return)."""
        by_name = {r.alertname: r for r in rules}
        for a in alerts:
            if not a.is_open or a.key in self._tracks or a.alertname not in by_name:
                continue
            self._tracks[a.key] = _Track(by_name[a.alertname], first_seen=None, alert=a)
            self._by_id[a.id] = a.key

    def open_alerts(self) -> tuple[Alert, ...]:
        out = [t.alert for t in self._tracks.values() if t.alert is not None]
        return tuple(sorted(out, key=lambda a: (a.severity.rank, a.started_at, a.key)))

    def get(self, alert_id: str) -> Alert | None:
        key = self._by_id.get(alert_id)
        tr = self._tracks.get(key) if key else None
        return tr.alert if tr else None

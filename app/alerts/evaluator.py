"""The pure alert state machine: debounce, hysteresis, lifecycle. No threads, no clock of its own.

Per alert key (``alertname:subject``):

- **debounce**: a rule must fire continuously for ``debounce_s`` (per-rule override) before an alert is
  raised; one evaluation without it resets the wait ("tell me after 30 s, not on every blip").
  ``started_at`` is when the condition began, not when the alert was raised. An observation with
  ``since`` (a camera outage: see :mod:`app.alerts.outage`) is timed from there instead.
- **hysteresis**: an open alert resolves itself only after the condition has been absent continuously for
  ``clear_s``; if it comes back sooner the same alert stays open (no flapping pairs of alerts).
- **lifecycle, after ISA-18.2 / IEC 62682** (alarm states): the condition (active / returned to normal)
  and the operator's acknowledgement are two separate facts, and an alarm leaves the operator's list only
  when *both* are done:

  =====================  ==================================  =============================================
  status                 ISA-18.2 state                      leaves by
  =====================  ==================================  =============================================
  ``ACTIVE``             active, unacknowledged              acknowledge -> ACKNOWLEDGED; clears -> CLEARED
  ``ACKNOWLEDGED``       active, acknowledged                clears -> RESOLVED (normal)
  ``CLEARED``            returned to normal, unacknowledged  acknowledge -> RESOLVED; returns -> ACTIVE
  ``RESOLVED``           normal (closed)                     a new occurrence is a new alarm
  =====================  ==================================  =============================================

  An alarm that clears unacknowledged therefore stays in the list (a CRITICAL that nobody saw must not
  vanish because the camera came back), and if its condition returns before anyone acknowledged it, it
  is the same alarm again. An operator may also close an alarm by hand (``resolve``); if its condition
  still holds it is *latched*: no new alarm for that key until it has been clear for ``clear_s``.
- **shelving** (ISA-18.2 "shelved"): an operator silences one alarm for a while, with who and why; it does
  not blink, sound or count as needing attention until the shelf expires (then it annunciates again if it
  still needs attention). An alarm whose condition clears while shelved closes: the operator chose to
  set it aside, so a cleared-unacknowledged state would only re-announce what they already decided.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from app.alerts.rules import AlertRule, Observation, Severity
from app.textsafe import one_line

AUTO = "auto"


class AlertStatus(enum.StrEnum):
    ACTIVE = "active"  # condition active, not acknowledged
    ACKNOWLEDGED = "acknowledged"  # condition active, acknowledged
    CLEARED = "cleared"  # condition returned to normal, not acknowledged
    RESOLVED = "resolved"  # normal: acknowledged and cleared (or closed by an operator)

    @property
    def words(self) -> str:
        """The state as an operator reads it (alarm list, history, exports)."""
        return _STATUS_WORDS[self]


_STATUS_WORDS = {
    AlertStatus.ACTIVE: "active, unacknowledged",
    AlertStatus.ACKNOWLEDGED: "active, acknowledged",
    AlertStatus.CLEARED: "cleared, unacknowledged",
    AlertStatus.RESOLVED: "closed",
}


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
    cleared_at: float | None = None  # when the condition returned to normal (None while it holds)
    shelved_until: float | None = None  # UNIX time the shelf expires (None: not shelved)
    shelved_by: str = ""
    shelve_note: str = ""

    @property
    def is_open(self) -> bool:
        """Still in the operator's list: not both acknowledged and cleared."""
        return self.status is not AlertStatus.RESOLVED

    @property
    def condition_active(self) -> bool:
        return self.status in (AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED)

    @property
    def unacknowledged(self) -> bool:
        return self.status in (AlertStatus.ACTIVE, AlertStatus.CLEARED)

    @property
    def shelved(self) -> bool:
        return self.shelved_until is not None

    @property
    def needs_attention(self) -> bool:
        """Unacknowledged (active or cleared) and not shelved: blink, sound, banner, notify."""
        return self.unacknowledged and not self.shelved

    def is_stale(self, now: float, after_s: float) -> bool:
        """ISA-18.2 "stale": the condition has been active for longer than *after_s*."""
        return self.condition_active and now - self.started_at >= after_s


@dataclass(frozen=True, slots=True)
class AlertEvent:
    # "fired" (raised, or returned while cleared-unacknowledged) | "acknowledged" | "cleared" (returned to
    # normal, still unacknowledged) | "resolved" (closed) | "shelved" | "unshelved"
    kind: str
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
            if tr.alert is not None and tr.alert.status is AlertStatus.CLEARED:
                # back before anyone acknowledged it: the same alarm, active and unacknowledged again
                tr.alert = replace(tr.alert, status=AlertStatus.ACTIVE, cleared_at=None, summary=o.summary,
                                   updated_at=now)  # fmt: skip
                events.append(AlertEvent("fired", tr.alert))
            if tr.alert is None and not tr.latched and now - tr.first_seen >= self._debounce(o.rule):
                # name and group (a camera's, or an API's stream name) as one line, as the summary is
                alert = Alert(self._new_id(), key, o.rule.alertname, o.rule.severity, AlertStatus.ACTIVE, o.summary,
                              o.subject, o.camera_id, one_line(o.name), one_line(o.group), tr.first_seen,
                              now)  # fmt: skip
                tr.alert = alert
                self._by_id[alert.id] = key
                events.append(AlertEvent("fired", alert))
        for key in [k for k in self._tracks if k not in seen]:
            tr = self._tracks[key]
            tr.present, tr.first_seen = False, None
            if tr.alert is None and not tr.latched:
                del self._tracks[key]  # a blip that never became an alert
                continue
            if tr.alert is not None and tr.alert.status is AlertStatus.CLEARED:
                continue  # returned to normal, waiting for an acknowledgement: stays in the list
            if tr.clear_since is None:
                tr.clear_since = now
            if now - tr.clear_since >= self._clear(tr.rule):
                if tr.alert is None:  # a latched key whose condition finally cleared
                    del self._tracks[key]
                elif tr.alert.status is AlertStatus.ACTIVE and not tr.alert.shelved:
                    tr.alert = replace(tr.alert, status=AlertStatus.CLEARED, cleared_at=now, updated_at=now)
                    events.append(AlertEvent("cleared", tr.alert))
                else:  # acknowledged (or shelved) and now cleared: normal, closed
                    note = (
                        "condition cleared" if tr.alert.status is AlertStatus.ACKNOWLEDGED else "cleared while shelved"
                    )
                    events.append(AlertEvent("resolved", self._close(tr, now, AUTO, note, cleared_at=now)))
        events.extend(self._expire_shelves(now))
        return events

    def _close(self, tr: _Track, now: float, who: str, note: str, **changes) -> Alert:
        """The alarm is normal: out of the list. The key's track goes unless it must stay latched."""
        assert tr.alert is not None
        done = replace(tr.alert, status=AlertStatus.RESOLVED, resolved_at=now, resolved_by=who or "unknown",
                       resolve_note=note, updated_at=now, **changes)  # fmt: skip
        self._by_id.pop(done.id, None)
        tr.alert = None
        tr.latched = tr.present  # still firing (closed by hand): wait for it to clear before alerting again
        if not tr.latched:
            del self._tracks[done.key]
        return done

    def _expire_shelves(self, now: float) -> list[AlertEvent]:
        out = []
        for tr in self._tracks.values():
            a = tr.alert
            if a is not None and a.shelved_until is not None and now >= a.shelved_until:
                tr.alert = replace(a, shelved_until=None, updated_at=now)
                out.append(AlertEvent("unshelved", tr.alert))
        return out

    # ------------------------------------------------------------------ operator actions
    def _open(self, alert_id: str) -> _Track:
        key = self._by_id.get(alert_id)
        tr = self._tracks.get(key) if key else None
        if tr is None or tr.alert is None:
            raise AlertError(f"alert {alert_id} is not open (already resolved or unknown)")
        return tr

    def acknowledge(self, alert_id: str, who: str, note: str, now: float) -> AlertEvent:
        """Active -> acknowledged; cleared -> closed (its condition is already normal)."""
        tr = self._open(alert_id)
        a = tr.alert
        assert a is not None
        if not a.unacknowledged:
            raise AlertError(f"alert {a.alertname} was already acknowledged by {a.acknowledged_by}")
        ack = {"acknowledged_at": now, "acknowledged_by": who or "unknown", "ack_note": note}
        if a.status is AlertStatus.CLEARED:
            done = self._close(tr, now, who, "acknowledged after it cleared", shelved_until=None, **ack)
            return AlertEvent("resolved", done)
        tr.alert = replace(a, status=AlertStatus.ACKNOWLEDGED, updated_at=now, shelved_until=None, **ack)
        return AlertEvent("acknowledged", tr.alert)

    def resolve(self, alert_id: str, who: str, note: str, now: float) -> AlertEvent:
        """Close by hand (an operator's decision, e.g. a camera taken out of service)."""
        tr = self._open(alert_id)
        return AlertEvent("resolved", self._close(tr, now, who, note))

    def shelve(self, alert_id: str, until: float, who: str, note: str, now: float) -> AlertEvent:
        """Silence one alarm until *until* (UNIX time), with who and why."""
        tr = self._open(alert_id)
        assert tr.alert is not None
        if until <= now:
            raise AlertError("a shelf must end in the future")
        tr.alert = replace(tr.alert, shelved_until=until, shelved_by=who or "unknown", shelve_note=note,
                           updated_at=now)  # fmt: skip
        return AlertEvent("shelved", tr.alert)

    def unshelve(self, alert_id: str, who: str, now: float) -> AlertEvent:
        tr = self._open(alert_id)
        assert tr.alert is not None
        if not tr.alert.shelved:
            raise AlertError(f"alert {tr.alert.alertname} is not shelved")
        tr.alert = replace(tr.alert, shelved_until=None, updated_at=now)
        return AlertEvent("unshelved", tr.alert)

    # ------------------------------------------------------------------ state
    def adopt(self, alerts: Iterable[Alert], rules: Iterable[AlertRule]) -> None:
        """Take over open alerts from a previous run: an active one becomes cleared-unacknowledged if its
        condition does not return, an acknowledged one closes then, a cleared one waits for its acknowledgement."""
        by_name = {r.alertname: r for r in rules}
        for a in alerts:
            if not a.is_open or a.key in self._tracks or a.alertname not in by_name:
                continue
            # a cleared-unacknowledged alarm waits for its acknowledgement; the others resolve if their
            # condition does not come back within clear_s
            self._tracks[a.key] = _Track(by_name[a.alertname], first_seen=None, alert=a)
            self._by_id[a.id] = a.key

    def open_alerts(self) -> tuple[Alert, ...]:
        out = [t.alert for t in self._tracks.values() if t.alert is not None]
        return tuple(sorted(out, key=lambda a: (a.severity.rank, a.started_at, a.key)))

    def get(self, alert_id: str) -> Alert | None:
        key = self._by_id.get(alert_id)
        tr = self._tracks.get(key) if key else None
        return tr.alert if tr else None

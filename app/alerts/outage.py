"""Camera outages and flapping, from the run of snapshots (pure: fed explicit times, no clock, no threads).

Why not map each snapshot's state to a rule? A reconnecting camera cycles OFFLINE (25 s) -> CONNECTING
(5 s, the backoff retry) -> OFFLINE ...; a per-snapshot mapping sees CameraOffline vanish on every retry, so
the debounce restarts and the alert never fires. Here:

* **Outage** = every snapshot since the camera was last LIVE (CONNECTING, OFFLINE, STALLED, ERROR in any
  order). It yields *one* observation per camera, keyed by the worst rule seen during the outage (OFFLINE/
  ERROR beat STALLED; on a tie the first one stays, so alternating OFFLINE/ERROR keeps one key) and with
  ``since`` = the outage start, so the debounce counts from when the camera left LIVE. An outage that never
  got past CONNECTING (a camera that never answers) is reported as CameraOffline. IDLE (disabled, not
  started) ends the outage without an alert.
* **Drop** = a real recovery followed by a down state (OFFLINE/ERROR/STALLED): LIVE seen, or a recovery the
  pipeline recorded between two samples (its ``recovered_at`` moved: two new pictures after an outage). A
  LIVE -> CONNECTING -> LIVE cycle (a file source looping at end of file) is not a drop, and neither is a
  reconnect attempt within one outage, nor a stray picture decoded during it (a hung RTSP server's socket
  timing out releases one held frame: counting decoded frames made one outage "4 drops in 10 min").
* The outage starts at the pipeline's ``down_since`` (the last good picture) when the snapshot has one.
* **Flapping** (rule ``CameraFlapping``): ``drops`` drops within ``window_s`` raise it; it holds until no drop
  for ``quiet_s`` (hysteresis: enter at N, leave only when stable), then the evaluator's ``clear_s`` applies.
  Drops are recorded only while the rule is enabled and pruned to its window on every sample (bounded memory
  on a wall that runs for months).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from app.alerts.rules import AlertRule, Observation, rule_for_signal
from app.pipeline.state import HealthSnapshot, StreamState


@dataclass
class _Camera:
    outage_since: float | None = None  # None = LIVE / IDLE / never seen down
    rule: AlertRule | None = None  # worst down rule of this outage (None: only CONNECTING so far)
    down_reason: str = ""
    armed: bool = False  # a real recovery seen since the last counted drop
    recovered_at: float | None = None  # the pipeline's last recorded recovery (a new one between samples arms)
    last_seen: float = 0.0  # time of the previous sample
    drops: deque[float] = field(default_factory=deque)
    last_drop: float | None = None
    flapping: bool = False


def _when(snap: HealthSnapshot, now: float) -> float:
    """When the current state began: the snapshot's ``state_since`` if it is plausible, else *now*."""
    return snap.state_since if 0 < snap.state_since <= now else now


class OutageTracker:
    """Per camera: the current outage and the recent drops. Feed it every evaluation's snapshots."""

    def __init__(self) -> None:
        self._cams: dict[str, _Camera] = {}

    def observe(self, now: float, snapshots: Iterable[HealthSnapshot], rules: Iterable[AlertRule]) -> list[Observation]:
        rules = tuple(rules)
        offline_rule = rule_for_signal(rules, "OFFLINE")
        flap_rule = rule_for_signal(rules, "FLAPPING")
        out: list[Observation] = []
        seen: set[str] = set()
        for snap in snapshots:
            seen.add(snap.camera_id)
            c = self._cams.setdefault(snap.camera_id, _Camera(recovered_at=snap.recovered_at))
            self._step(c, snap, now, rules, flap_rule)
            name = snap.name or snap.camera_id
            if c.outage_since is not None:
                rule = c.rule or offline_rule
                if rule is not None:
                    out.append(Observation(rule, snap.camera_id, name, self._detail(c, snap), snap.camera_id,
                                           snap.group, since=c.outage_since))  # fmt: skip
            if flap_rule is not None and self._flapping(c, now, flap_rule):
                window = flap_rule.param("window_s")
                detail = f"{len(c.drops)} drops in the last {_minutes(window)}"
                out.append(Observation(flap_rule, snap.camera_id, name, detail, snap.camera_id, snap.group))
        for gone in [k for k in self._cams if k not in seen]:
            del self._cams[gone]  # camera removed from the config
        return out

    def drops(self, camera_id: str) -> int:
        """Drops inside the flapping window as of the last ``observe`` (for tests and the UI)."""
        c = self._cams.get(camera_id)
        return len(c.drops) if c else 0

    # ------------------------------------------------------------------ internals
    def _step(
        self, c: _Camera, snap: HealthSnapshot, now: float, rules: tuple[AlertRule, ...], flap_rule: AlertRule | None
    ) -> None:
        # Drops are kept only while CameraFlapping is enabled, and only inside its window: a 24/7 wall with
        # the rule disabled must not grow a list per camera forever.
        if flap_rule is None:
            c.drops.clear()
            c.flapping = False
        else:
            window = flap_rule.param("window_s")
            while c.drops and c.drops[0] < now - window:
                c.drops.popleft()
        st = snap.state
        recovered = snap.recovered_at is not None and snap.recovered_at != c.recovered_at
        c.recovered_at = snap.recovered_at
        prev, c.last_seen = c.last_seen, now
        # when the current outage began: the last good picture if the pipeline says; after a recovery
        # between two samples, not before it
        began = _when(snap, now)
        if snap.down_since is not None and 0 < snap.down_since <= now:
            began = snap.down_since
        if recovered and st is not StreamState.LIVE:
            began = max(began, prev)
        if st is StreamState.IDLE:
            c.outage_since, c.rule, c.down_reason, c.armed = None, None, "", False
            return
        if st is StreamState.LIVE or recovered:
            c.armed = True
        if st is StreamState.LIVE:
            c.outage_since, c.rule, c.down_reason = None, None, ""
            return
        if c.outage_since is None or recovered:  # left LIVE (seen, or after a recovery between two samples)
            c.outage_since, c.rule, c.down_reason = began, None, ""
        if st.is_down:
            if c.armed:
                c.armed = False
                c.last_drop = began
                if flap_rule is not None:
                    c.drops.append(began)
            r = rule_for_signal(rules, str(st))
            if r is not None and (c.rule is None or r.severity.rank < c.rule.severity.rank):
                c.rule = r
            c.down_reason = snap.reason or str(st).lower()

    @staticmethod
    def _detail(c: _Camera, snap: HealthSnapshot) -> str:
        if snap.state is StreamState.CONNECTING:
            if c.rule is None:
                return f"{snap.reason or 'connecting'}, no picture yet"
            return f"{c.down_reason} (reconnecting)"
        return snap.reason or c.down_reason

    @staticmethod
    def _flapping(c: _Camera, now: float, rule: AlertRule) -> bool:
        window, need, quiet = rule.param("window_s"), max(1, int(rule.param("drops"))), rule.param("quiet_s")
        while c.drops and c.drops[0] < now - window:
            c.drops.popleft()
        if not c.flapping and len(c.drops) >= need:
            c.flapping = True
        elif c.flapping and (c.last_drop is None or now - c.last_drop >= quiet):
            c.flapping = False
            c.drops.clear()  # stable for quiet_s: count afresh (else the old drops re-raise it at once)
        return c.flapping


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"

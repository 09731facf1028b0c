"""Alert rules: the default table, severities, and the pure mapping from health to observations.

A *signal* is a state (``OFFLINE``) or a condition (``FROZEN``, ``HLS_STALE``, ``API_ERROR``...). Each rule
turns one or more signals into one named alert per camera (or per probe target) with a severity.
Debounce and hysteresis are applied by :mod:`app.alerts.evaluator`, not here.

Default rule table (alertname: signals -> severity):

====================  ===========================================  =========
alertname             signals                                      severity
====================  ===========================================  =========
CameraOffline         outage whose worst state is OFFLINE (or      CRITICAL
                      that never got past CONNECTING)
CameraError           outage whose worst state is ERROR            CRITICAL
NetworkDown           NETWORK_DOWN                                 CRITICAL
RecordingStopped      RECORDING_ERROR (recorder refused / failed)  CRITICAL
CameraStalled         outage whose worst state is STALLED          MAJOR
CameraFlapping        FLAPPING (N drops within a window)           MAJOR
PictureFrozen         FROZEN                                       MAJOR
PictureBlack          BLACK                                        MAJOR
HlsMasterError        HLS_MASTER_ERROR (master cannot be read)     MAJOR
HlsStale              HLS_STALE                                    MAJOR
HlsSegmentError       HLS_SEGMENT_ERROR                            MAJOR
DiskFull              DISK_FULL, DISK_LOW (data/recordings disk)   MAJOR
HistoryNotWritten     HISTORY_NOT_WRITTEN (the history store       MAJOR
                      cannot write: locked, full, read-only,
                      server gone, or history off)
DeviceNotStreaming    NOT_STREAMING (encoder appliance)            MAJOR
DeviceUnreachable     probe state UNREACHABLE (device, no camera)  MAJOR
AnalyticsStreamError  API_STREAM_ERROR (API says stream ERROR)     MAJOR
HlsInvalid            HLS_INVALID                                  MINOR
ApiError              API_ERROR (analytics server / device API)    MINOR
LowFrameRate          LOW_FPS                                      MINOR
BitrateOutOfBand      BITRATE_LOW, BITRATE_HIGH                    MINOR
AudioSilent           SILENT                                       WARNING
LoudnessOutOfRange    LOUDNESS                                     WARNING
TimestampJump         TIMESTAMP_JUMP                               WARNING
====================  ===========================================  =========

Camera *states* are not mapped here one snapshot at a time: :mod:`app.alerts.outage` turns the run of
non-LIVE states since the camera was last LIVE into one outage (one key, debounced from the outage start)
and counts drops for ``CameraFlapping``.

``alerts.rules`` in the config overrides per alertname: ``severity``, ``debounce_s``, ``clear_s``, or
``enabled: 0`` to switch a rule off; rules with parameters take those too (``CameraFlapping``:
``drops``, ``window_s``, ``quiet_s``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.textsafe import one_line


class Severity(enum.StrEnum):
    CRITICAL = "CRITICAL"
    MAJOR = "MAJOR"
    MINOR = "MINOR"
    WARNING = "WARNING"

    @property
    def rank(self) -> int:
        """0 = most severe (sort key)."""
        return _RANK[self]


_RANK = {Severity.CRITICAL: 0, Severity.MAJOR: 1, Severity.MINOR: 2, Severity.WARNING: 3}


@dataclass(frozen=True, slots=True)
class AlertRule:
    alertname: str
    signals: frozenset[str]
    severity: Severity
    summary: str  # "{name}" = camera/target name, "{detail}" = reason in words
    debounce_s: float | None = None  # None = alerts.debounce_s
    clear_s: float | None = None  # None = alerts.clear_s
    enabled: bool = True
    params: tuple[tuple[str, float], ...] = ()  # rule-specific numbers (CameraFlapping: drops, window_s...)

    def param(self, name: str) -> float:
        return dict(self.params)[name]


def _r(name: str, signals: Iterable[str], sev: Severity, summary: str, **kw) -> AlertRule:
    return AlertRule(name, frozenset(signals), sev, summary, **kw)


# CameraFlapping: `drops` drops (LIVE -> OFFLINE/ERROR/STALLED) within `window_s` raise it; it holds until
# the camera has gone `quiet_s` without a drop (hysteresis: enter at N, leave at 0 for a while).
FLAPPING_PARAMS = (("drops", 4.0), ("window_s", 600.0), ("quiet_s", 300.0))


DEFAULT_RULES: tuple[AlertRule, ...] = (
    _r("CameraOffline", ["OFFLINE"], Severity.CRITICAL, "{name} is offline: {detail}"),
    _r("CameraError", ["ERROR"], Severity.CRITICAL, "{name} cannot be decoded: {detail}"),
    _r("NetworkDown", ["NETWORK_DOWN"], Severity.CRITICAL, "network to {name} is down"),
    _r("RecordingStopped", ["RECORDING_ERROR"], Severity.CRITICAL, "recording of {name} stopped: {detail}"),
    _r("CameraStalled", ["STALLED"], Severity.MAJOR, "{name} stalled: {detail}"),
    _r(
        "CameraFlapping",
        ["FLAPPING"],
        Severity.MAJOR,
        "{name} keeps dropping out: {detail}",
        debounce_s=0.0,
        params=FLAPPING_PARAMS,
    ),
    _r("PictureFrozen", ["FROZEN"], Severity.MAJOR, "picture of {name} is frozen"),
    _r("PictureBlack", ["BLACK"], Severity.MAJOR, "picture of {name} is black"),
    _r(
        "HlsMasterError", ["HLS_MASTER_ERROR"], Severity.MAJOR, "HLS master playlist of {name} cannot be used: {detail}"
    ),
    _r("HlsStale", ["HLS_STALE"], Severity.MAJOR, "HLS playlist of {name} stopped advancing"),
    _r("HlsSegmentError", ["HLS_SEGMENT_ERROR"], Severity.MAJOR, "HLS segments of {name} fail to download"),
    _r("DiskFull", ["DISK_FULL", "DISK_LOW"], Severity.MAJOR, "disk nearly full on {name}: {detail}"),
    _r("HistoryNotWritten", ["HISTORY_NOT_WRITTEN"], Severity.MAJOR, "history is not written to {name}: {detail}"),
    _r("DeviceNotStreaming", ["NOT_STREAMING"], Severity.MAJOR, "{name} is not streaming: {detail}"),
    _r("DeviceUnreachable", ["UNREACHABLE"], Severity.MAJOR, "{name} does not answer: {detail}"),
    _r(
        "AnalyticsStreamError",
        ["API_STREAM_ERROR"],
        Severity.MAJOR,
        "analytics server reports {name} in error: {detail}",
    ),
    _r("HlsInvalid", ["HLS_INVALID"], Severity.MINOR, "HLS playlist of {name} is invalid: {detail}"),
    _r("ApiError", ["API_ERROR"], Severity.MINOR, "{name} API error: {detail}"),
    _r("LowFrameRate", ["LOW_FPS"], Severity.MINOR, "{name} frame rate is low ({detail})"),
    _r("BitrateOutOfBand", ["BITRATE_LOW", "BITRATE_HIGH"], Severity.MINOR, "{name} bitrate out of band ({detail})"),
    _r("AudioSilent", ["SILENT"], Severity.WARNING, "{name} audio is silent"),
    _r("LoudnessOutOfRange", ["LOUDNESS"], Severity.WARNING, "{name} loudness out of range"),
    _r("TimestampJump", ["TIMESTAMP_JUMP"], Severity.WARNING, "{name} timestamps jumped"),
)


def rules_with_overrides(overrides: Mapping[str, Mapping[str, object]] | None,
                         base: Iterable[AlertRule] = DEFAULT_RULES) -> tuple[AlertRule, ...]:  # fmt: skip
    """Apply config overrides; an unknown alertname, setting or severity is an error in words."""
    from dataclasses import replace

    rules = {r.alertname: r for r in base}
    for name, ov in (overrides or {}).items():
        if name not in rules:
            raise ValueError(f"alerts.rules: unknown rule {name!r}; known rules: {', '.join(sorted(rules))}")
        changes: dict[str, object] = {}
        params = dict(rules[name].params)
        for k, v in ov.items():
            if k == "severity":
                try:
                    changes["severity"] = Severity(str(v).upper())
                except ValueError:
                    raise ValueError(f"alerts.rules.{name}.severity must be one of "
                                     f"{', '.join(s.value for s in Severity)}, not {v!r}") from None  # fmt: skip
            elif k in ("debounce_s", "clear_s") or k in params:
                try:
                    num = float(v)  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    raise ValueError(f"alerts.rules.{name}.{k} must be a number, not {v!r}") from None
                if num < 0:
                    raise ValueError(f"alerts.rules.{name}.{k} must not be negative ({num:g})")
                if k in params:
                    params[k] = num
                else:
                    changes[k] = num
            elif k == "enabled":
                changes[k] = bool(v)
            else:
                known = ", ".join(["severity", "debounce_s", "clear_s", "enabled", *params])
                raise ValueError(f"alerts.rules.{name}: unknown setting {k!r} ({known})")
        if params:
            changes["params"] = tuple(params.items())
        rules[name] = replace(rules[name], **changes)
    return tuple(rules.values())


@dataclass(frozen=True, slots=True)
class Observation:
    """One rule firing right now for one subject (before debounce). ``key`` identifies the future alert.

    ``since`` (UNIX time) is when the condition began if the caller knows better than "the first evaluation
    that saw it" (an outage that started before a CONNECTING spell, a recorder error): the debounce counts
    from there.
    """

    rule: AlertRule
    subject: str  # camera id, or "probe:<kind>:<target>" for non-camera findings
    name: str  # camera name / target, for the summary
    detail: str
    camera_id: str = ""
    group: str = ""
    since: float | None = None

    @property
    def key(self) -> str:
        return f"{self.rule.alertname}:{self.subject}"

    @property
    def summary(self) -> str:
        text = self.rule.summary
        if not self.detail:  # "HLS playlist of Gate is invalid", not "...: no details"
            text = text.replace(": {detail}", "").replace(" ({detail})", "")
        # one bounded line whatever a device or an operator put in the name or the detail (app.textsafe)
        return one_line(text.format(name=self.name, detail=self.detail or "no details"))


def rule_for_signal(rules: Iterable[AlertRule], signal: str) -> AlertRule | None:
    """The first enabled rule listening to *signal*."""
    return next((r for r in rules if r.enabled and signal in r.signals), None)


def observe_snapshot(snap, rules: Iterable[AlertRule], *, include_state: bool = True,
                     details: Mapping[str, str] | None = None) -> list[Observation]:  # fmt: skip
    """Pure: which rules fire for one camera's ``HealthSnapshot`` right now.

    ``include_state=False`` leaves the stream state out (the engine gets it from the outage tracker, which
    knows the history). ``details`` gives words for conditions (e.g. the HLS probe's error text).
    """
    signals = {str(snap.state): snap.reason or ""} if include_state else {}
    for c in snap.conditions:
        signals.setdefault(str(c), (details or {}).get(str(c), ""))
    out = []
    for rule in rules:
        if not rule.enabled:
            continue
        hit = [s for s in rule.signals if s in signals]
        if hit:
            detail = signals[hit[0]] or _metric_detail(hit[0], snap)
            out.append(Observation(rule, snap.camera_id, snap.name or snap.camera_id, detail, snap.camera_id,
                                   snap.group))  # fmt: skip
    return out


def _metric_detail(signal: str, snap) -> str:
    if signal == "LOW_FPS":
        return f"{snap.fps_received:.1f} fps"
    if signal in ("BITRATE_LOW", "BITRATE_HIGH"):
        return f"{snap.bitrate_bps / 1000:.0f} kb/s"
    return ""


# States a probe result may carry that are alert signals themselves. Other state words (a device's
# "Idle", an API's "DEGRADED") are descriptions, never matched against camera rules.
_PROBE_STATE_SIGNALS = frozenset({"UNREACHABLE", "API_ERROR"})
# analytics-server stream states that are normal operation (not alerts); anything else the API reports
# for a stream it could describe is an error of that stream.
_API_STREAM_OK = frozenset({"RUNNING", "CONNECTING", "RECONNECTING", "STOPPED", "UNKNOWN"})


def observe_probe_result(result, rules: Iterable[AlertRule]) -> list[Observation]:
    """Pure: rules firing for a probe result that is not merged into a camera (API servers, devices, disks).

    Camera-scoped results (``camera_id`` set) are already in that camera's snapshot conditions.
    """
    if result.camera_id:
        return []
    signals = set(result.conditions)
    if result.state in _PROBE_STATE_SIGNALS:
        signals.add(result.state)
    name = result.target
    detail = result.error or ""
    if result.kind.startswith("analytics"):
        if not result.ok:
            signals.add("API_ERROR")
        elif result.kind == "analytics_stream" and result.state not in _API_STREAM_OK:
            # the API's own words, not "cannot be decoded": Vigil decodes nothing of this stream
            signals.add("API_STREAM_ERROR")
            msg = result.labels.get("last_error_msg", "")
            detail = f"{result.state}: {msg}" if msg and result.state != "ERROR" else (msg or result.state)
        if result.kind == "analytics_stream" and result.labels.get("stream_name"):
            name = f"{result.labels['stream_name']} ({result.target})"
    if "NOT_STREAMING" in signals and not detail:
        detail = f"device state {result.state!r}" if result.state else "no streaming state reported"
    subject = f"probe:{result.kind}:{result.target}"
    out = []
    for rule in rules:
        if rule.enabled and rule.signals & signals:
            out.append(Observation(rule, subject, name, detail, "", ""))
    return out

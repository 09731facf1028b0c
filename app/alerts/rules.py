"""Alert rules: the default table, severities, and the pure mapping from health to observations.

A *signal* is a state (``OFFLINE``) or a condition (``FROZEN``, ``HLS_STALE``, ``API_ERROR``...). Each rule
turns one or more signals into one named alert per camera (or per probe target) with a severity.
Debounce and hysteresis are applied by :mod:`app.alerts.evaluator`, not here.

Default rule table (alertname: signals -> severity):

==================  ==========================================  =========
alertname           signals                                     severity
==================  ==========================================  =========
CameraOffline       state OFFLINE                               CRITICAL
CameraError         state ERROR                                 CRITICAL
NetworkDown         NETWORK_DOWN                                CRITICAL
CameraStalled       state STALLED                               MAJOR
PictureFrozen       FROZEN                                      MAJOR
PictureBlack        BLACK                                       MAJOR
HlsStale            HLS_STALE                                   MAJOR
HlsSegmentError     HLS_SEGMENT_ERROR                           MAJOR
DiskFull            DISK_FULL, disk low (Vigil's data disk)     MAJOR
HlsInvalid          HLS_INVALID                                 MINOR
ApiError            API_ERROR (analytics server / device API)   MINOR
LowFrameRate        LOW_FPS                                     MINOR
BitrateOutOfBand    BITRATE_LOW, BITRATE_HIGH                   MINOR
AudioSilent         SILENT                                      WARNING
LoudnessOutOfRange  LOUDNESS                                    WARNING
TimestampJump       TIMESTAMP_JUMP                              WARNING
==================  ==========================================  =========

``alerts.rules`` in the config overrides per alertname: ``severity``, ``debounce_s``, ``clear_s``, or
``enabled: 0`` to switch a rule off.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


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


def _r(name: str, signals: Iterable[str], sev: Severity, summary: str) -> AlertRule:
    return AlertRule(name, frozenset(signals), sev, summary)


DEFAULT_RULES: tuple[AlertRule, ...] = (
    _r("CameraOffline", ["OFFLINE"], Severity.CRITICAL, "{name} is offline: {detail}"),
    _r("CameraError", ["ERROR"], Severity.CRITICAL, "{name} cannot be decoded: {detail}"),
    _r("NetworkDown", ["NETWORK_DOWN"], Severity.CRITICAL, "network to {name} is down"),
    _r("CameraStalled", ["STALLED"], Severity.MAJOR, "{name} stalled: {detail}"),
    _r("PictureFrozen", ["FROZEN"], Severity.MAJOR, "picture of {name} is frozen"),
    _r("PictureBlack", ["BLACK"], Severity.MAJOR, "picture of {name} is black"),
    _r("HlsStale", ["HLS_STALE"], Severity.MAJOR, "HLS playlist of {name} stopped advancing"),
    _r("HlsSegmentError", ["HLS_SEGMENT_ERROR"], Severity.MAJOR, "HLS segments of {name} fail to download"),
    _r("DiskFull", ["DISK_FULL", "DISK_LOW"], Severity.MAJOR, "disk nearly full on {name}: {detail}"),
    _r("HlsInvalid", ["HLS_INVALID"], Severity.MINOR, "HLS playlist of {name} is invalid"),
    _r("ApiError", ["API_ERROR"], Severity.MINOR, "{name} API error: {detail}"),
    _r("LowFrameRate", ["LOW_FPS"], Severity.MINOR, "{name} frame rate is low ({detail})"),
    _r("BitrateOutOfBand", ["BITRATE_LOW", "BITRATE_HIGH"], Severity.MINOR, "{name} bitrate out of band ({detail})"),
    _r("AudioSilent", ["SILENT"], Severity.WARNING, "{name} audio is silent"),
    _r("LoudnessOutOfRange", ["LOUDNESS"], Severity.WARNING, "{name} loudness out of range"),
    _r("TimestampJump", ["TIMESTAMP_JUMP"], Severity.WARNING, "{name} timestamps jumped"),
)


def rules_with_overrides(overrides: Mapping[str, Mapping[str, object]] | None,
                         base: Iterable[AlertRule] = DEFAULT_RULES) -> tuple[AlertRule, ...]:  # fmt: skip
    """Apply config overrides; an unknown alertname or severity is an error in words."""
    from dataclasses import replace

    rules = {r.alertname: r for r in base}
    for name, ov in (overrides or {}).items():
        if name not in rules:
            raise ValueError(f"alerts.rules: unknown rule {name!r}; known rules: {', '.join(sorted(rules))}")
        changes: dict[str, object] = {}
        for k, v in ov.items():
            if k == "severity":
                try:
                    changes["severity"] = Severity(str(v).upper())
                except ValueError:
                    raise ValueError(f"alerts.rules.{name}.severity must be one of "
                                     f"{', '.join(s.value for s in Severity)}, not {v!r}") from None  # fmt: skip
            elif k in ("debounce_s", "clear_s"):
                changes[k] = float(v)  # type: ignore[arg-type]
            elif k == "enabled":
                changes[k] = bool(v)
            else:
                raise ValueError(f"alerts.rules.{name}: unknown setting {k!r} (severity, debounce_s, clear_s, enabled)")
        rules[name] = replace(rules[name], **changes)
    return tuple(rules.values())


@dataclass(frozen=True, slots=True)
class Observation:
    """One rule firing right now for one subject (before debounce). ``key`` identifies the future alert."""

    rule: AlertRule
    subject: str  # camera id, or "probe:<kind>:<target>" for non-camera findings
    name: str  # camera name / target, for the summary
    detail: str
    camera_id: str = ""
    group: str = ""

    @property
    def key(self) -> str:
        return f"{self.rule.alertname}:{self.subject}"

    @property
    def summary(self) -> str:
        return self.rule.summary.format(name=self.name, detail=self.detail or "no details")


def observe_snapshot(snap, rules: Iterable[AlertRule]) -> list[Observation]:
    """Pure: which rules fire for one camera's ``HealthSnapshot`` right now."""
    signals = {str(snap.state): snap.reason or ""}
    for c in snap.conditions:
        signals.setdefault(str(c), "")
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


def observe_probe_result(result, rules: Iterable[AlertRule]) -> list[Observation]:
    """Pure: rules firing for a probe result that is not merged into a camera (API servers, devices, disks).

    Camera-scoped results (``camera_id`` set) are already in that camera's snapshot conditions.
    """
    if getattr(result, "camera_id", ""):
        return []
    signals = set(result.conditions) | ({result.state} if result.state else set())
    if not result.ok and "API_ERROR" not in signals and result.kind.startswith("analytics"):
        signals.add("API_ERROR")
    subject = f"probe:{result.kind}:{result.target}"
    out = []
    for rule in rules:
        if rule.enabled and rule.signals & signals:
            out.append(Observation(rule, subject, result.target, result.error or "", "", ""))
    return out

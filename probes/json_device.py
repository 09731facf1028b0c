"""Generic JSON-over-HTTP device probe: field mappings (dotted paths) -> metrics, state and conditions.

Presets for two field devices:

* ``web_presenter`` (a Blackmagic Web Presenter-like status page): ``streaming.state`` ("Streaming" = up)
  and ``streaming.bitrate`` (b/s); condition ``NOT_STREAMING``.
* ``storage_node`` (a CCTV site node's hdd-monitor): ``hdd`` (or ``status.hdd``) "80%" -> used percent,
  ``uptime`` "72h" -> seconds; condition ``DISK_FULL`` at >= 90 %.

A mapping value that is a number becomes a metric; "80%", "72h", "1.5 GB" are parsed; a bool is 1/0;
any other string is kept as a label (e.g. the streaming state). A path that is missing or of a type
that cannot be read is reported in words in ``error``; the other fields still count.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from app.secrets import mask_url
from probes.base import ProbeContext, ProbeResult
from probes.http import JsonError, fetch, json_type, make_session, parse_json

KIND = "json_device"

_MISSING = object()


def get_path(doc: Any, path: str) -> Any:
    """``get_path({"a": {"b": [1, 2]}}, "a.b.1") == 2``; missing -> _MISSING."""
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and _index(part) is not None and -len(cur) <= _index(part) < len(cur):
            cur = cur[_index(part)]
        else:
            return _MISSING
    return cur


def _index(part: str) -> int | None:
    """A path part as a list index ("0", "-1"); None if it is not one."""
    body = part[1:] if part.startswith("-") else part
    return int(part) if body.isascii() and body.isdigit() and len(body) < 10 else None


_UNIT_RE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([a-zA-Z%/]*)\s*$")
_DURATION = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_SIZE = {"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "kib": 1024, "mib": 2**20, "gib": 2**30}


def to_number(v: Any) -> float | None:
    """Numbers, bools, "80%", "72h", "3d 4h", "6 Mb/s"-free text numbers -> float; else None."""
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        try:
            return float(v)
        except OverflowError:  # an integer beyond a float (a 400-digit number): not a metric
            return None
    if not isinstance(v, str) or len(v) > 64:
        return None
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]+)", v)
    if len(parts) > 1 and all(u.lower() in _DURATION for _, u in parts):
        return float(sum(float(n) * _DURATION[u.lower()] for n, u in parts))
    m = _UNIT_RE.match(v)
    if not m:
        return None
    n, unit = float(m.group(1)), m.group(2).lower()
    if unit in ("", "%"):
        return n
    if unit in _DURATION:
        return n * _DURATION[unit]
    if unit in _SIZE:
        return n * _SIZE[unit]
    return None


@dataclass(frozen=True)
class Preset:
    fields: dict[str, tuple[str, ...]]  # metric name -> candidate paths (first present wins)
    state_field: str = ""
    up_values: tuple[str, ...] = ()
    down_condition: str = ""
    thresholds: dict[str, tuple[float, str]] = field(default_factory=dict)  # field -> (max, condition)


PRESETS: dict[str, Preset] = {
    "web_presenter": Preset(
        fields={
            "streaming_state": ("streaming.state", "status.streaming.state"),
            "bitrate_bps": ("streaming.bitrate", "status.streaming.bitrate"),
        },
        state_field="streaming_state",
        up_values=("streaming",),
        down_condition="NOT_STREAMING",
    ),
    "storage_node": Preset(
        fields={
            "hdd_used_percent": ("hdd", "status.hdd"),
            "uptime_seconds": ("uptime", "status.uptime"),
            "node_id": ("node_id",),
        },
        thresholds={"hdd_used_percent": (90.0, "DISK_FULL")},
    ),
    "custom": Preset(fields={}),
}


def evaluate(
    doc: Any, preset: Preset, fields: dict[str, str]
) -> tuple[dict[str, float], dict[str, str], list[str], tuple[str, ...], str]:
    """Pure: document -> (metrics, labels, problems, conditions, state)."""
    mapping: dict[str, tuple[str, ...]] = dict(preset.fields)
    mapping.update({k: (v,) for k, v in fields.items()})
    metrics: dict[str, float] = {}
    labels: dict[str, str] = {}
    problems: list[str] = []
    for name, paths in mapping.items():
        v = _MISSING
        for p in paths:
            v = get_path(doc, p)
            if v is not _MISSING:
                break
        if v is _MISSING:
            problems.append(f"{name}: {' / '.join(paths)} not in the response")
            continue
        num = to_number(v)
        if num is not None and name != preset.state_field:
            metrics[name] = num
        elif isinstance(v, str):
            labels[name] = v[:120]
        elif isinstance(v, int) and not isinstance(v, bool):
            problems.append(f"{name}: {paths[0]} is a number too large for a metric ({len(str(v))} digits)")
        else:
            problems.append(f"{name}: {paths[0]} is {json_type(v)}, expected a number or text")
    conditions: list[str] = []
    state = "OK"
    if preset.state_field:
        sv = labels.get(preset.state_field, "")
        state = sv or "UNKNOWN"
        up = sv.lower() in preset.up_values
        metrics["up"] = 1.0 if up else 0.0
        if not up and preset.down_condition:
            conditions.append(preset.down_condition)
    for fname, (limit, cond) in preset.thresholds.items():
        if fname in metrics and metrics[fname] >= limit:
            conditions.append(cond)
    return metrics, labels, problems, tuple(conditions), state


class JsonDeviceProbe:
    kind = KIND

    def __init__(
        self,
        name: str,
        url: str,
        *,
        preset: str = "custom",
        fields: dict[str, str] | None = None,
        interval_s: float = 10.0,
        timeout_s: float = 10.0,
        max_bytes: int = 1_000_000,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown JSON device preset {preset!r}; one of {sorted(PRESETS)}")
        self.device = name
        self.name = f"json:{name}"
        self.url = url
        self.preset_name = preset
        self.preset = PRESETS[preset]
        self.fields = dict(fields or {})
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self._session = make_session(1)

    def close(self) -> None:
        self._session.close()

    def run(self, ctx: ProbeContext | None = None) -> list[ProbeResult]:
        t0 = time.perf_counter()
        labels = {"device": self.device, "preset": self.preset_name, "url": mask_url(self.url)}
        r = fetch(self._session, self.url, timeout=self.timeout_s, max_bytes=self.max_bytes)
        err = r.error
        doc: Any = None
        if not err:
            try:
                doc = parse_json(r)
            except JsonError as e:
                err = str(e)
        if err:
            return [
                ProbeResult(
                    KIND,
                    self.device,
                    ok=False,
                    state="UNREACHABLE" if r.status == 0 else "API_ERROR",
                    error=err,
                    latency_s=time.perf_counter() - t0,
                    labels=labels,
                    metrics={"http_status": float(r.status)},
                )
            ]
        metrics, found, problems, conditions, state = evaluate(doc, self.preset, self.fields)
        labels.update(found)
        metrics["http_status"] = float(r.status)
        ok = not problems or bool(set(metrics) - {"http_status", "up"}) or bool(found)
        return [
            ProbeResult(
                KIND,
                self.device,
                ok=ok,
                state=state if ok else "API_ERROR",
                error="; ".join(problems)[:400],
                latency_s=time.perf_counter() - t0,
                labels=labels,
                metrics=metrics,
                conditions=conditions,
            )
        ]

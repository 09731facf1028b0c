"""The one result type every probe returns, and the thread-safe store of the latest results.

A probe run yields a list of :class:`ProbeResult` (an HLS probe: one for the master playlist plus one
per rendition; an analytics-server probe: one for the server plus one per stream). The store replaces
*all* results of one probe at once, so a stream that disappeared from a server disappears from the
wall and from /metrics on the next cycle instead of lingering with its last value.

Readers (the metrics collector at scrape time, the wall's status tiles) call :meth:`ProbeResults.all`
or :meth:`ProbeResults.snapshots`; both hand out immutable objects, so no lock is held by a reader.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from app.pipeline.state import HealthSnapshot, StreamState


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One finding of one probe about one target. ``metrics`` are numbers, ``labels`` descriptive text.

    ``ok`` False means the probe could not get a usable answer; ``error`` says why in words
    ("HTTP 500 from /streams", "playlist is not HLS: no #EXTM3U header"). ``state`` is the target's
    state as the probe sees it (e.g. "RUNNING", "API_ERROR", "OK", "NETWORK_DOWN").
    """

    kind: str  # probe kind: "hls", "hls_rendition", "analytics_server", "analytics_stream", ...
    target: str  # stable key within the kind (camera id, "host/node/id", device name)
    ok: bool
    state: str = "OK"
    error: str = ""
    at: float = field(default_factory=time.time)  # UNIX time of the measurement
    latency_s: float = 0.0  # how long the probe took (its own cost, not the target's fps)
    metrics: dict[str, float] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    conditions: tuple[str, ...] = ()
    camera_id: str = ""  # the configured camera this result is about ("" = none)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.target)


class ProbeStopped(Exception):
    """Raised by a probe (or ``ProbeContext.map``) when the scheduler stops mid-cycle: nothing is stored."""


class Probe(Protocol):
    """A probe: ``run()`` does one cycle (blocking, on a pool thread) and returns its findings.

    ``name`` is unique per probe instance and keys its results in the store. ``interval_s`` is how
    often the scheduler runs it. ``run`` must not raise for bad input from the target (it returns an
    ``ok=False`` result with words); an exception is a bug and is reported as such by the scheduler.

    Optional members the scheduler uses when present: ``close()`` (at removal and stop; it must also cut
    the probe's requests in flight, as closing a ``probes.http.make_session`` session does),
    ``run_limit_s`` (how long a run may go without a result before it is reported "too slow"), and
    ``stalled_results(error, latency_s)`` (the failed results stored for such a run; without it the
    scheduler stores one ``UNREACHABLE`` result of the probe's kind).
    """

    name: str
    kind: str
    interval_s: float

    def run(self, ctx: ProbeContext) -> list[ProbeResult]: ...


class ProbeContext(Protocol):
    """What the scheduler hands a running probe: bounded fan-out on the shared pool, and the stop flag."""

    def map(self, fn: Callable, items: list, parallelism: int) -> list: ...

    @property
    def stopping(self) -> bool: ...


class ProbeResults:
    """Latest results per probe name. Thread-safe; readers get immutable objects."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_probe: dict[str, tuple[ProbeResult, ...]] = {}
        self._listeners: list[Callable[[str, tuple[ProbeResult, ...]], None]] = []

    def replace(self, probe_name: str, results: Iterable[ProbeResult]) -> None:
        res = tuple(results)
        with self._lock:
            self._by_probe[probe_name] = res
            listeners = list(self._listeners)
        for cb in listeners:
            cb(probe_name, res)

    def remove(self, probe_name: str) -> None:
        with self._lock:
            self._by_probe.pop(probe_name, None)

    def subscribe(self, listener: Callable[[str, tuple[ProbeResult, ...]], None]) -> None:
        """*listener(probe_name, results)* is called on the probe's pool thread after each cycle."""
        with self._lock:
            self._listeners.append(listener)

    def all(self) -> list[ProbeResult]:
        with self._lock:
            groups = list(self._by_probe.values())
        return [r for g in groups for r in g]

    def of_kind(self, kind: str) -> list[ProbeResult]:
        return [r for r in self.all() if r.kind == kind]

    def for_probe(self, probe_name: str) -> tuple[ProbeResult, ...]:
        with self._lock:
            return self._by_probe.get(probe_name, ())

    def snapshots(self) -> dict[str, HealthSnapshot]:
        """Status tiles for streams known only through a probe (analytics servers): id -> HealthSnapshot.

        The ids start with ``api:`` so they never collide with configured camera ids (which cannot
        contain ':'). The wall shows them like cameras without a picture.
        """
        out: dict[str, HealthSnapshot] = {}
        for r in self.of_kind("analytics_stream"):
            snap = stream_snapshot(r)
            out[snap.camera_id] = snap
        return out


_API_STATE_MAP = {
    "RUNNING": StreamState.LIVE,
    "CONNECTING": StreamState.CONNECTING,
    "RECONNECTING": StreamState.CONNECTING,
    "STOPPED": StreamState.IDLE,
}


def stream_snapshot(r: ProbeResult) -> HealthSnapshot:
    """A ``HealthSnapshot`` for an analytics-server stream result (status tile without video)."""
    state_text = r.state
    active = bool(r.metrics.get("active", 0))
    if not r.ok:
        state, reason = StreamState.ERROR, r.error or "analytics API error"
    else:
        state = _API_STATE_MAP.get(state_text, StreamState.ERROR)
        if state is StreamState.LIVE and not active:
            state = StreamState.IDLE
        reason = r.labels.get("last_error_msg", "") or state_text.lower()
    return HealthSnapshot(
        camera_id=f"api:{r.target}",
        name=r.labels.get("stream_name", r.target) + " " + r.labels.get("stream_id", "")[:8],
        group=r.labels.get("source_host", ""),
        url="",
        state=state,
        state_since=r.at,
        reason=reason,
        last_error=r.error,
        width=int(r.metrics.get("frame_width", 0) or 0),
        height=int(r.metrics.get("frame_height", 0) or 0),
        fps_received=float(r.metrics.get("fps", 0.0) or 0.0),
        conditions=r.conditions,
        extra={"source": "analytics_api", "state_text": state_text},
    )

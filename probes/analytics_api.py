"""Video-analytics server stream API probe: ``GET /streams`` then ``GET /streams/{node}/{id}`` per stream.

The exporter this replaces polled every detail one after another (hundreds of streams x up to 10 s timeout = minutes
per cycle). Here the details of one server are fetched concurrently, at most ``parallelism`` at a
time, each with a timeout and a total deadline; all servers run as separate probes on the scheduler's
shared pool. One pool thread multiplexes ``parallelism`` keep-alive connections per server, ``http://`` and
``https://`` alike (:class:`probes.fanout.FanOutClient`, aiohttp on the thread's own event loop: the cycle
is CPU-bound, and this costs a fraction of the CPU of one blocking request per thread, see docs/probes.md).
A failing detail is one ``API_ERROR`` stream, not a failed cycle. The ``/streams`` list carries only id,
node and name (the API's field docs: the detail is the reference for the state), so every stream
costs one detail request per cycle.

State rule (the analytics exporter's): ``stream_stats.state`` (fallback ``status.pipelines[0].state``);
"up" = state RUNNING and ``active`` true. Wrong JSON types never crash the probe: a value of the
wrong type is treated as missing, and a document that is not the expected shape is an ``API_ERROR``
with words.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import quote, urlsplit

from app.secrets import scrub
from probes.base import ProbeContext, ProbeResult, ProbeStopped
from probes.http import HttpResult, JsonError, parse_json

log = logging.getLogger(__name__)

KIND_SERVER = "analytics_server"
KIND_STREAM = "analytics_stream"


def source_host(base_url: str) -> str:
    """The host part of *base_url* (no user, no password, no port) - the analytics exporter's ``source_host`` label."""
    try:
        return urlsplit(base_url).hostname or "unknown"
    except ValueError:
        return "unknown"


def _s(v: Any, default: str = "") -> str:
    return v if isinstance(v, str) else default


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    return None


def parse_stream_list(doc: Any) -> tuple[list[tuple[str, int, str]], int]:
    """``/streams`` document -> ([(stream_id, node_num, stream_name)], skipped entries). Raises JsonError."""
    if not isinstance(doc, dict):
        raise JsonError(f"/streams: expected a JSON object, got {type(doc).__name__}")
    streams = doc.get("streams")
    if not isinstance(streams, list):
        raise JsonError(f"/streams: 'streams' is {type(streams).__name__}, expected a list")
    out: list[tuple[str, int, str]] = []
    skipped = 0
    for s in streams:
        if not isinstance(s, dict):
            skipped += 1
            continue
        sid, node = s.get("stream_id"), s.get("stream_node_num")
        if isinstance(node, str) and node.isdigit():
            node = int(node)
        if not isinstance(sid, str) or not sid or isinstance(node, bool) or not isinstance(node, int):
            skipped += 1
            continue
        out.append((sid, node, _s(s.get("stream_name"), "UNKNOWN_STREAM") or "UNKNOWN_STREAM"))
    return out, skipped


def parse_stream_detail(doc: Any) -> dict[str, Any]:
    """Detail document -> {state, active, fps, frame_width, frame_height, last_error_msg}. Raises JsonError."""
    if not isinstance(doc, dict):
        raise JsonError(f"stream detail: expected a JSON object, got {type(doc).__name__}")
    stats = doc.get("stream_stats")
    stats = stats if isinstance(stats, dict) else {}
    state = _s(stats.get("state"), "UNKNOWN") or "UNKNOWN"
    if state == "UNKNOWN":
        status = doc.get("status")
        pipelines = status.get("pipelines") if isinstance(status, dict) else None
        if isinstance(pipelines, list) and pipelines and isinstance(pipelines[0], dict):
            state = _s(pipelines[0].get("state"), "UNKNOWN") or "UNKNOWN"
    active = doc.get("active")
    return {
        "state": state,
        "active": active is True,
        "fps": _num(stats.get("fps")),
        "frame_width": _num(stats.get("frame_width")),
        "frame_height": _num(stats.get("frame_height")),
        # FFmpeg-based servers repeat the input URL with its password ("Failed to open input stream:
        # rtsp://admin:pw@..."): masked here, once, so snapshots, tiles, alerts and metrics all get it masked
        "last_error_msg": scrub(_s(stats.get("last_error_msg"))),
    }


class AnalyticsApiProbe:
    """Polls one analytics server. Keeps a cumulative error counter (exported as a real counter)."""

    kind = KIND_SERVER

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "",
        interval_s: float = 60.0,
        parallelism: int = 16,
        timeout_s: float = 10.0,
        max_bytes: int = 5_000_000,
        cafile: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.host = source_host(base_url)
        self.label = name or self.host
        self.name = f"analytics:{self.label}"
        self.interval_s = interval_s
        self.parallelism = max(1, parallelism)
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        # cafile: a CA bundle to trust for an https:// server with a private or self-signed certificate
        from probes.fanout import FanOutClient  # aiohttp: 0.15 s of start-up, paid only with a server configured

        self._fanout = FanOutClient(
            self.base_url, parallelism=self.parallelism, timeout=timeout_s, max_bytes=max_bytes, cafile=cafile
        )
        self._lock = threading.Lock()
        self.errors_total = 0  # every failed request since start (list or detail)
        self.cycles_total = 0

    def close(self) -> None:
        self._fanout.close()

    def _count_errors(self, n: int) -> None:
        with self._lock:
            self.errors_total += n

    def _get_many(self, paths: list[str], ctx: ProbeContext | None) -> list[HttpResult]:
        """Stop-aware: a stopping scheduler abandons the requests in flight (``ProbeStopped``)."""
        out = self._fanout.get_many(paths, stop=(lambda: ctx.stopping) if ctx is not None else None)
        if ctx is not None and ctx.stopping:
            raise ProbeStopped  # half a cycle of "stopped" errors must not reach the store or the alerts
        return out

    def run(self, ctx: ProbeContext | None = None) -> list[ProbeResult]:
        t0 = time.perf_counter()
        now = time.time()
        base_labels = {"source_host": self.host, "server": self.label}
        [lst] = self._get_many(["/streams"], ctx)  # stop-aware: shutdown never waits for a dead server
        streams: list[tuple[str, int, str]] = []
        err = lst.error
        skipped = 0
        if not err:
            try:
                streams, skipped = parse_stream_list(parse_json(lst))
            except JsonError as e:
                err = str(e)
        if err:
            self._count_errors(1)
            with self._lock:
                self.cycles_total += 1
                errors = self.errors_total
            log.warning("analytics %s: cannot list streams: %s", self.host, err)
            return [
                ProbeResult(
                    KIND_SERVER,
                    self.label,
                    ok=False,
                    state="API_ERROR",
                    error=f"/streams: {err}",
                    at=now,
                    latency_s=time.perf_counter() - t0,
                    labels=base_labels,
                    metrics={"errors_total": errors, "response_time_s": 0.0, "streams": 0, "list_status": lst.status},
                )
            ]

        paths = [f"/streams/{node}/{quote(sid, safe='')}" for sid, node, _ in streams]
        fetched = self._get_many(paths, ctx)
        results: list[ProbeResult] = []
        durations = [lst.elapsed_s]
        for (sid, node, sname), r in zip(streams, fetched, strict=True):
            res = self._stream_result(sid, node, sname, r, base_labels, now)
            results.append(res)
            if res.ok:
                durations.append(r.elapsed_s)
        failed = sum(1 for r in results if not r.ok)
        self._count_errors(failed)
        with self._lock:
            self.cycles_total += 1
            errors = self.errors_total
        if failed:
            log.info("analytics %s: %d of %d stream details failed", self.host, failed, len(results))
        server = ProbeResult(
            KIND_SERVER,
            self.label,
            ok=True,
            state="OK" if not failed else "DEGRADED",
            error=f"{failed} of {len(results)} stream details failed" if failed else "",
            at=now,
            latency_s=time.perf_counter() - t0,
            labels=base_labels,
            metrics={
                "errors_total": errors,
                "response_time_s": sum(durations) / len(durations),
                "streams": len(results),
                "skipped_entries": skipped,
                "detail_errors": failed,
            },
        )
        return [server, *results]

    def _stream_result(
        self, sid: str, node: int, sname: str, r: HttpResult, base_labels: dict[str, str], now: float
    ) -> ProbeResult:
        labels = {**base_labels, "stream_id": sid, "stream_name": sname, "node_num": str(node)}
        target = f"{self.host}/{node}/{sid}"
        e = r.error
        if not e:
            try:
                d = parse_stream_detail(parse_json(r))
            except JsonError as je:
                e = str(je)
        if e:
            return ProbeResult(
                KIND_STREAM,
                target,
                ok=False,
                state="API_ERROR",
                error=e,
                at=now,
                latency_s=r.elapsed_s,
                labels=labels,
                metrics={"up": 0.0, "active": 0.0},
            )
        up = 1.0 if d["state"] == "RUNNING" and d["active"] else 0.0
        metrics = {"up": up, "active": 1.0 if d["active"] else 0.0}
        for k in ("fps", "frame_width", "frame_height"):
            if d[k] is not None:
                metrics[k] = d[k]
        labels["last_error_msg"] = d["last_error_msg"][:200]
        return ProbeResult(
            KIND_STREAM, target, ok=True, state=d["state"], at=now, latency_s=r.elapsed_s, labels=labels,
            metrics=metrics,
        )  # fmt: skip

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

State rule (the analytics exporter's, kept exactly: docs/probes.md "Analytics parity"): an entry is
checked when ``stream_id`` is truthy and ``stream_node_num`` not null (numbers become their ``str()``);
``stream_stats.state`` ("UNKNOWN" when absent, "" stays "", only "UNKNOWN" falls back to
``status.pipelines[0].state``); "up" = state RUNNING and ``active`` truthy (Python truthiness, as the
exporter). The parsers never raise anything but ``JsonError`` (words); an entry that cannot be checked is
skipped with words and counted by reason (``vigil_analytics_skipped_entries``); at most ``max_streams``
streams are checked per cycle and the result says how many were listed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from app.secrets import scrub
from probes.base import ProbeContext, ProbeResult, ProbeStopped
from probes.http import HttpResult, JsonError, finite_number, json_type, parse_json

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


# Hard limits (docs/probes.md "Parsers never raise; hard limits per probe"). A server listing more streams
# than MAX_STREAMS gets the first MAX_STREAMS checked and a result that says so: 50,000 listed streams were
# 50,000 detail GETs per cycle (40 s, +81 MB). Ids and names longer than MAX_TEXT are not stream ids (a
# hostile or broken list).
MAX_STREAMS = 1000
MAX_TEXT = 256
_TOO_LONG = 10**MAX_TEXT  # a number with more digits than MAX_TEXT is no id
_SHOWN_SKIPS = 5  # reasons quoted in the server result and the log; the rest are counted

# Why a /streams entry was not checked: the reason label of vigil_analytics_skipped_entries
SKIP_NOT_OBJECT = "not_an_object"
SKIP_NO_ID = "no_stream_id"
SKIP_NO_NODE = "no_node_num"
SKIP_BAD_TYPE = "unusable_value"
SKIP_LIMIT = "over_limit"
SKIP_REASONS = (SKIP_NOT_OBJECT, SKIP_NO_ID, SKIP_NO_NODE, SKIP_BAD_TYPE, SKIP_LIMIT)


def _scalar_text(v: Any) -> str | None:
    """The analytics exporter's label text for a JSON scalar: Python's ``str()`` (5 -> "5", 1.5 -> "1.5",
    null -> "None"); None for a list or object (not a label value)."""
    if isinstance(v, (dict, list)):
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v) if abs(v) < _TOO_LONG else None  # (an int of up to 4300 digits parses)
    return str(v)


def _id_text(v: Any) -> str | None:
    """A stream id or node number as the exporter uses it in the URL and labels: text as is, a number as
    ``str()``; None for what the exporter could only turn into junk (true/false, a list, an object)."""
    if isinstance(v, (bool, dict, list)):
        return None
    t = _scalar_text(v)
    return t if t is not None and len(t) <= MAX_TEXT else None


@dataclass(frozen=True, slots=True)
class Skip:
    """One /streams entry that is not checked, and why (in words and as a reason label)."""

    index: int
    reason: str  # one of SKIP_REASONS
    words: str


@dataclass(frozen=True, slots=True)
class StreamList:
    streams: list[tuple[str, str, str]]  # (stream_id, node_num, stream_name) as label texts, to be checked
    skips: list[Skip]  # entries not usable
    listed: int  # usable entries listed (checked + over the limit)
    over_limit: int = 0  # usable entries beyond the limit: listed, not checked
    note: str = ""  # something to say about the document itself

    @property
    def skipped(self) -> int:
        return len(self.skips)


def parse_stream_list(doc: Any, max_streams: int = MAX_STREAMS) -> StreamList:
    """``/streams`` document -> :class:`StreamList`. Raises JsonError (words) for a document that lists no
    streams at all; never anything else.

    The analytics exporter's rules, kept exactly: an entry is checked when ``stream_id`` is truthy and
    ``stream_node_num`` is not null; a numeric id or node is used as ``str()`` ("5"); a missing
    ``stream_name`` is "UNKNOWN_STREAM"; a missing ``streams`` key is an empty list. Where the exporter
    crashes its whole cycle or exports junk (an entry that is not an object, ``"streams": null``, an id that
    is true/false, a list or an object) the entry is skipped or the list refused, in words.
    """
    if not isinstance(doc, dict):
        raise JsonError(f"expected a JSON object with a list of streams, got {json_type(doc)}")
    note = ""
    if "streams" not in doc:
        note = "the /streams document has no 'streams' key: no streams listed"
    streams = doc.get("streams", [])
    if not isinstance(streams, list):
        raise JsonError(f"expected a list of streams, got {json_type(streams)}")
    out: list[tuple[str, str, str]] = []
    skips: list[Skip] = []
    for i, s in enumerate(streams):
        if not isinstance(s, dict):
            skips.append(Skip(i, SKIP_NOT_OBJECT, f"entry {i} is {json_type(s)}, not a stream object"))
            continue
        sid, node = s.get("stream_id"), s.get("stream_node_num")
        if not sid:  # the exporter's "if not stream_id": missing, null, "", 0 and false are all skipped
            what = "has no stream_id" if "stream_id" not in s else _falsy_words("stream_id", sid)
            skips.append(Skip(i, SKIP_NO_ID, f"entry {i} {what}"))
            continue
        if node is None:
            what = "has no stream_node_num" if "stream_node_num" not in s else "has stream_node_num null"
            skips.append(Skip(i, SKIP_NO_NODE, f"entry {i} (stream_id {_brief(sid)}) {what}"))
            continue
        sid_t, node_t = _id_text(sid), _id_text(node)
        if sid_t is None or node_t is None:
            field_name, v = ("stream_id", sid) if sid_t is None else ("stream_node_num", node)
            long = isinstance(v, str) or (isinstance(v, (int, float)) and not isinstance(v, bool))
            why = f"longer than {MAX_TEXT} characters" if long else f"{json_type(v)}, not text or a number"
            skips.append(Skip(i, SKIP_BAD_TYPE, f"entry {i}: {field_name} is {why}"))
            continue
        out.append((sid_t, node_t, _name_text(s.get("stream_name", "UNKNOWN_STREAM"))))
    listed = len(out)
    over = max(0, listed - max_streams)
    return StreamList(out[:max_streams], skips, listed, over, note)


def _name_text(v: Any) -> str:
    """``stream_name`` as the exporter labels it: text as is ("" included), a number as ``str()``; a name of
    another type (null, true/false, a list, an object) is "UNKNOWN_STREAM", like a missing one."""
    if isinstance(v, str):
        return v[:MAX_TEXT]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "UNKNOWN_STREAM"
    return _scalar_text(v) or "UNKNOWN_STREAM"


def _falsy_words(field_name: str, v: Any) -> str:
    if v is None:
        return f"has {field_name} null"
    if isinstance(v, (str, list, dict)):
        return f"has an empty {field_name} ({json.dumps(v)})"
    return f"has {field_name} {json.dumps(v)}"  # 0, 0.0, false


def _brief(v: Any) -> str:
    t = _scalar_text(v)
    return (t or json_type(v))[:40]


def _state_text(v: Any) -> str:
    """A state value as the exporter labels it (text as is, "" included; a number or null as ``str()``);
    a list or object is no state: "UNKNOWN"."""
    t = _scalar_text(v)
    return "UNKNOWN" if t is None else t[:MAX_TEXT]


def parse_stream_detail(doc: Any) -> dict[str, Any]:
    """Detail document -> {state, active, fps, frame_width, frame_height, last_error_msg}. Raises JsonError.

    The analytics exporter's rules, kept exactly: ``state`` is ``stream_stats.state`` ("UNKNOWN" when
    absent; an empty text stays empty); only "UNKNOWN" falls back to ``status.pipelines[0].state``;
    ``active`` is Python truthiness of the value ("true", 1 and even "false" are active; false, 0, "",
    null, [] and {} are not; absent = not active); up = state "RUNNING" and active. A ``stream_stats`` or
    ``status`` of the wrong type (where the exporter would crash) counts as absent.
    """
    if not isinstance(doc, dict):
        raise JsonError(f"stream detail: expected a JSON object, got {json_type(doc)}")
    stats = doc.get("stream_stats")
    stats = stats if isinstance(stats, dict) else {}
    state = _state_text(stats["state"]) if "state" in stats else "UNKNOWN"
    if state == "UNKNOWN":
        status = doc.get("status")
        pipelines = status.get("pipelines") if isinstance(status, dict) else None
        if isinstance(pipelines, list) and pipelines and isinstance(pipelines[0], dict):
            p0 = pipelines[0]
            state = _state_text(p0["state"]) if "state" in p0 else "UNKNOWN"
    return {
        "state": state,
        "active": bool(doc.get("active", False)),
        "fps": finite_number(stats.get("fps")),
        "frame_width": finite_number(stats.get("frame_width")),
        "frame_height": finite_number(stats.get("frame_height")),
        # FFmpeg-based servers repeat the input URL with its password ("Failed to open input stream:
        # rtsp://admin:pw@..."): masked here, once, so snapshots, tiles, alerts and metrics all get it masked
        "last_error_msg": scrub(_s(stats.get("last_error_msg"))[:2000]),
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
        max_streams: int = MAX_STREAMS,
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
        self.max_streams = max(1, max_streams)
        self._last_skips = ""
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
        err = lst.error
        listing = StreamList([], [], 0)
        if not err:
            try:
                listing = parse_stream_list(parse_json(lst), self.max_streams)
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

        streams = listing.streams
        paths = [f"/streams/{quote(node, safe='')}/{quote(sid, safe='')}" for sid, node, _ in streams]
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
        notes = [f"{failed} of {len(results)} stream details failed"] if failed else []
        if listing.over_limit:
            notes.append(
                f"{listing.listed:,} streams listed; only the first {self.max_streams:,} are checked "
                f"(limit: probes.analytics_max_streams)"
            )
        skip_words = self._skip_words(listing)
        if skip_words:
            notes.append(skip_words)
        if listing.note:
            notes.append(listing.note)
        metrics = {
            "errors_total": errors,
            "response_time_s": sum(durations) / len(durations),
            "streams": len(results),
            "streams_listed": listing.listed,
            "skipped_entries": listing.skipped,
            "detail_errors": failed,
        }
        for reason in SKIP_REASONS:
            n = listing.over_limit if reason == SKIP_LIMIT else sum(1 for k in listing.skips if k.reason == reason)
            metrics[f"skipped:{reason}"] = n
        server = ProbeResult(
            KIND_SERVER,
            self.label,
            ok=True,
            state="OK" if not (failed or listing.over_limit) else "DEGRADED",
            error="; ".join(notes),
            at=now,
            latency_s=time.perf_counter() - t0,
            labels=base_labels,
            metrics=metrics,
        )
        return [server, *results]

    def _skip_words(self, listing: StreamList) -> str:
        """The skipped entries in words (the first few, then a count), logged when they change."""
        if not listing.skips:
            self._last_skips = ""
            return ""
        shown = "; ".join(k.words for k in listing.skips[:_SHOWN_SKIPS])
        more = listing.skipped - _SHOWN_SKIPS
        words = f"{listing.skipped} /streams entries skipped: {shown}" + (f" (and {more} more)" if more > 0 else "")
        if words != self._last_skips:  # once per change, not once per cycle
            log.warning("analytics %s: %s", self.host, words)
            self._last_skips = words
        return words

    def _stream_result(
        self, sid: str, node: str, sname: str, r: HttpResult, base_labels: dict[str, str], now: float
    ) -> ProbeResult:
        labels = {**base_labels, "stream_id": sid, "stream_name": sname, "node_num": node}
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

"""In-process fakes of the HTTP/JSON devices Vigil polls, with fault injection.

* ``FakeAnalyticsApi`` - a video-analytics server ("Visionaire"-style, port 4004 in the field):
    GET /streams                 -> {"streams": [{"stream_id", "stream_node_num", "stream_name", ...}]}
    GET /streams/{node}/{id}     -> {"stream_id", "active", "stream_stats": {fps, frame_height,
                                     frame_width, last_error_msg, state}, "status": {"pipelines": [...]}}
* ``JsonDeviceServer`` - any JSON documents at any paths (Blackmagic Web Presenter-like status,
  hdd-monitor storage node, ...): ``srv.set("/status", {...})``.

Both are threaded ``http.server.ThreadingHTTPServer`` on 127.0.0.1 (free port), with
start/stop/kill/restart (same port)/is_running and context-manager use, like tests.lab.servers.

Fault injection (per path, exact or glob like "/streams/*"; ``times=N`` limits it to N requests)::

    api.inject("/streams", "status", status=500)
    api.inject("/streams/*", "slow", delay=3)          # answer after 3 s
    api.inject("/streams", "malformed")                # truncated / invalid JSON, 200
    api.inject("/streams", "wrong_types")              # valid JSON, every scalar of the wrong type
    api.inject("/streams", "huge", size=20_000_000)    # 20 MB valid JSON body
    api.inject("/streams", "close")                    # close the connection without answering
    api.inject("/streams", "hang", delay=30)           # accept, never answer (until delay or stop)
    api.inject("/streams", "body", body=b"<html>", content_type="text/html", status=200)
    api.inject("/streams", "empty")                    # 200 with an empty body
    api.latency = 0.05                                 # added to every request
    api.requests                                       # [(monotonic time, method, path), ...]
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("vigil.lab.fake_api")

FAULT_KINDS = ("status", "slow", "malformed", "wrong_types", "huge", "close", "hang", "body", "empty")

# Shapes from the field (a CCTV site node's hdd-monitor and a Blackmagic Web Presenter-like status page).
BLACKMAGIC_STATUS = {"streaming": {"state": "Streaming", "bitrate": 6000000}}
HDD_MONITOR_STATUS = {"node_id": "lokasi1", "hdd": "80%", "uptime": "72h"}
HDD_MONITOR_REPORT = {
    "node_id": "lokasi1",
    "streams": ["rtsp://127.0.0.1:554/cam/realmonitor?channel=1"],
    "status": {"hdd": "80%", "uptime": "72h"},
    "log": "Log terakhir dari syslog-ng",
}


@dataclass
class Fault:
    kind: str
    status: int | None = None  # "status": default 500; "body": default 200
    delay: float = 0.0
    size: int = 10_000_000
    body: bytes | None = None
    content_type: str = "application/json"
    times: int | None = None  # None = forever

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {FAULT_KINDS}")
        if self.status is None:
            self.status = 200 if self.kind == "body" else 500


def wrong_types(doc: Any) -> Any:
    """Same structure, every value of a wrong type: numbers->strings, strings->numbers,
    bools->strings, lists->objects, objects kept (recursively), None->list."""
    if isinstance(doc, dict):
        return {k: wrong_types(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return {str(i): wrong_types(v) for i, v in enumerate(doc)}
    if isinstance(doc, bool):
        return "true" if doc else "false"
    if isinstance(doc, (int, float)):
        return str(doc)
    if isinstance(doc, str):
        return len(doc)
    return []


def _huge(doc: Any, size: int) -> bytes:
    pad = max(0, size - len(json.dumps(doc)) - 20)
    doc = {**doc, "padding": "x" * pad} if isinstance(doc, dict) else {"data": doc, "padding": "x" * pad}
    return json.dumps(doc).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class FakeHttpJsonServer:
    """Base: threaded loopback HTTP server answering JSON via ``route(method, path)``."""

    name = "fake_http"

    def __init__(self, port: int | None = None, latency: float = 0.0):
        self.port = port or 0
        self.latency = latency
        self.requests: list[tuple[float, str, str]] = []
        self._faults: dict[str, Fault] = {}
        self._lock = threading.RLock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle
    def start(self):
        if self.is_running():
            return self
        self._stopping.clear()
        handler = _make_handler(self)
        self._httpd = _Server(("127.0.0.1", self.port), handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"{self.name}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        log.info("%s: listening on %s", self.name, self.base_url)
        return self

    def stop(self) -> None:
        if not self._httpd:
            return
        self._stopping.set()  # releases "hang"/"slow" handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)
        self._httpd = self._thread = None
        log.info("%s: stopped (port %s)", self.name, self.port)

    def kill(self) -> None:
        """Like a crash: stop listening at once (in-flight requests are cut by stop())."""
        self.stop()

    def restart(self):
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self._httpd is not None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + "/" + path.lstrip("/")

    # -- faults
    def inject(self, path: str, kind: str, **kw) -> Fault:
        f = Fault(kind, **kw)
        with self._lock:
            self._faults[path] = f
        return f

    def clear_faults(self, path: str | None = None) -> None:
        with self._lock:
            if path is None:
                self._faults.clear()
            else:
                self._faults.pop(path, None)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for pattern, f in self._faults.items():
                if pattern == path or fnmatch.fnmatchcase(path, pattern):
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            del self._faults[pattern]
                    return f
        return None

    def requests_to(self, path_glob: str) -> int:
        with self._lock:
            return sum(1 for _, _, p in self.requests if fnmatch.fnmatchcase(p, path_glob))

    # -- to override
    def route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        return 404, {"error": "not found", "path": path}


def _make_handler(owner: FakeHttpJsonServer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "VigilLabFake/1.0"
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # quiet by default, keep it in logging
            log.debug("%s %s", owner.name, fmt % args)

        def _handle(self, method: str):
            path = self.path.split("?", 1)[0]
            with owner._lock:
                owner.requests.append((time.monotonic(), method, path))
            length = int(self.headers.get("Content-Length") or 0)
            req_body = self.rfile.read(length) if length else b""
            if owner.latency:
                owner._stopping.wait(owner.latency)
            fault = owner._take_fault(path)
            if fault and fault.kind == "close":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault and fault.kind == "hang":
                owner._stopping.wait(fault.delay or 3600)
                self.close_connection = True
                return
            if fault and fault.kind == "slow":
                owner._stopping.wait(fault.delay)
            status, doc = owner.route(method, path, req_body)
            ctype = "application/json"
            if fault is None or fault.kind == "slow":
                payload = json.dumps(doc).encode()
            elif fault.kind == "status":
                status, payload = (
                    fault.status,
                    json.dumps({"error": f"injected HTTP {fault.status}"}).encode(),
                )
            elif fault.kind == "malformed":
                text = json.dumps(doc)
                payload = (text[: max(1, len(text) // 2)] + "\x00<<garbage").encode()
            elif fault.kind == "wrong_types":
                payload = json.dumps(wrong_types(doc)).encode()
            elif fault.kind == "huge":
                payload = _huge(doc, fault.size)
            elif fault.kind == "empty":
                payload = b""
            else:  # body
                status, payload, ctype = fault.status, fault.body or b"", fault.content_type
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                log.debug("%s: client went away", owner.name)

        def do_GET(self):
            self._handle("GET")

        def do_HEAD(self):
            self._handle("HEAD")

        def do_POST(self):
            self._handle("POST")

        def do_PUT(self):
            self._handle("PUT")

    return Handler


# --------------------------------------------------------------------------- analytics API
def stream_id_for(i: int) -> str:
    """Deterministic 16-hex stream id; stream 0 is the one from the field docs."""
    if i == 0:
        return "c73a1992f67961d1"
    return hashlib.sha1(f"vigil-lab-stream-{i}".encode()).hexdigest()[:16]


STATE_MESSAGES = {
    "RUNNING": "Stream is running..",
    "STOPPED": "Stream is stopped",
    "ERROR": "Failed to open input stream: Connection timed out",
    "CONNECTING": "Connecting to stream..",
    "RECONNECTING": "Stream disconnected, reconnecting..",
}


@dataclass
class FakeStream:
    stream_id: str
    stream_node_num: int = 0
    stream_name: str = "LOKASI-A"
    state: str = "RUNNING"
    active: bool = True
    fps: int = 15
    frame_width: int = 1146
    frame_height: int = 646
    last_error_msg: str | None = None  # None = derived from state
    stream_address: str | None = None  # e.g. a lab RTSP URL
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        d = {
            "stream_id": self.stream_id,
            "stream_node_num": self.stream_node_num,
            "stream_name": self.stream_name,
        }
        if self.stream_address:
            d["stream_address"] = self.stream_address
        return d

    def detail(self) -> dict:
        running = self.state == "RUNNING"
        d = {
            "stream_id": self.stream_id,
            "stream_node_num": self.stream_node_num,
            "stream_name": self.stream_name,
            "active": self.active,
            "stream_stats": {
                "fps": self.fps if running else 0,
                "frame_height": self.frame_height,
                "frame_width": self.frame_width,
                "last_error_msg": self.last_error_msg or STATE_MESSAGES.get(self.state, self.state.title()),
                "state": self.state,
            },
            "status": {"pipelines": [{"state": self.state}]},
        }
        if self.stream_address:
            d["stream_address"] = self.stream_address
        d.update(copy.deepcopy(self.extra))
        return d


class FakeAnalyticsApi(FakeHttpJsonServer):
    """Fake video-analytics server: ``streams`` streams, names LOKASI-A.. (`per_location` each)."""

    name = "fake_api"

    def __init__(
        self,
        streams: int = 8,
        per_location: int = 4,
        nodes: int = 1,
        port: int | None = None,
        latency: float = 0.0,
        states: dict[int, str] | None = None,
        stream_addresses: list[str] | None = None,
    ):
        super().__init__(port, latency)
        self.streams: list[FakeStream] = []
        for i in range(streams):
            loc = chr(ord("A") + (i // per_location) % 26)
            self.streams.append(
                FakeStream(
                    stream_id=stream_id_for(i),
                    stream_node_num=i % nodes,
                    stream_name=f"LOKASI-{loc}",
                    stream_address=stream_addresses[i % len(stream_addresses)] if stream_addresses else None,
                )
            )
        for i, st in (states or {}).items():
            self.set_state(i, st)

    def stream(self, key: int | str) -> FakeStream:
        if isinstance(key, int):
            return self.streams[key]
        for s in self.streams:
            if s.stream_id == key:
                return s
        raise KeyError(key)

    def set_state(
        self, key: int | str, state: str, active: bool | None = None, last_error_msg: str | None = None
    ) -> FakeStream:
        """Change a stream's state (index or id). active defaults to state != "STOPPED"."""
        with self._lock:
            s = self.stream(key)
            s.state = state
            s.active = (state != "STOPPED") if active is None else active
            s.last_error_msg = last_error_msg
        return s

    def detail_path(self, key: int | str) -> str:
        s = self.stream(key)
        return f"/streams/{s.stream_node_num}/{s.stream_id}"

    def route(self, method, path, body):
        if method not in ("GET", "HEAD"):
            return 405, {"error": "method not allowed"}
        parts = [p for p in path.split("/") if p]
        with self._lock:
            if parts == ["streams"]:
                return 200, {"streams": [s.summary() for s in self.streams]}
            if len(parts) == 3 and parts[0] == "streams":
                for s in self.streams:
                    if s.stream_id == parts[2] and str(s.stream_node_num) == parts[1]:
                        return 200, s.detail()
                return 404, {"error": f"stream {parts[2]} not found on node {parts[1]}"}
        return 404, {"error": "not found", "path": path}


# --------------------------------------------------------------------------- generic devices
class JsonDeviceServer(FakeHttpJsonServer):
    """Serves arbitrary JSON documents at paths; POST/PUT to a path stores the posted JSON
    (and records it in ``.posted``), like an hdd-monitor node reporting to a central API."""

    name = "json_device"

    def __init__(self, documents: dict[str, Any] | None = None, port: int | None = None, latency: float = 0.0):
        super().__init__(port, latency)
        self.documents: dict[str, Any] = dict(documents or {})
        self.posted: list[tuple[str, Any]] = []

    def set(self, path: str, doc: Any) -> str:
        with self._lock:
            self.documents["/" + path.lstrip("/")] = doc
        return self.url(path)

    def route(self, method, path, body):
        with self._lock:
            if method in ("POST", "PUT"):
                try:
                    doc = json.loads(body or b"null")
                except ValueError:
                    return 400, {"error": "invalid JSON"}
                self.posted.append((path, doc))
                self.documents[path] = doc
                return 200, {"ok": True}
            if path in self.documents:
                return 200, copy.deepcopy(self.documents[path])
        return 404, {"error": "not found", "path": path}

"""Network probe: is the camera's *host* there? ICMP echo when permitted, and a TCP connect to a port the
config names (``probe_port``, e.g. the camera's web page) - never to a stream port.

Why never the stream port: the pipeline already holds the one connection per camera stream, and a
camera that serves a single client (cheap cameras, ``ffmpeg -listen 1``) accepted the probe's connect
and then turned the stream away - the probe took the camera OFFLINE. Whether the stream's own port
answers is known from that connection: the health monitor (``app/health/reachability.py``) joins the
pipeline's last connect outcome ("connection refused" = host up, service down; "timed out connecting" =
no answer) with this probe's finding (the host answers ping or its probe port) into ``NETWORK_DOWN`` /
``PORT_CLOSED`` / ``PORT_FILTERED``. This probe's own result says only what it measured.

ICMP uses an unprivileged datagram ICMP socket (Linux ``net.ipv4.ping_group_range``); without that
permission ICMP is simply not measured - the probe never needs root. A camera with neither ICMP nor a
probe port has nothing to measure: the probe returns no result, and the stream's connection decides alone.
"""

from __future__ import annotations

import errno
import os
import socket
import statistics
import struct
import time

from app.config import DEFAULT_STREAM_PORTS, CameraConfig, stream_endpoint
from probes.base import ProbeContext, ProbeResult, ProbeStopped

KIND = "network"
DEFAULT_PORTS = DEFAULT_STREAM_PORTS
# What the probe's result says about the host (``ProbeResult.state``): the host answered / did not.
ANSWERED_STATES = frozenset({"OK", "PORT_CLOSED", "PORT_FILTERED"})
SILENT_STATES = frozenset({"NETWORK_DOWN"})


def camera_endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) of a network camera URL; None for demo/lavfi/file sources. Never includes credentials."""
    return stream_endpoint(url)


def stream_ports(cam: CameraConfig) -> frozenset[int]:
    """Every port the camera's stream URLs connect to: the probe must never connect to one of them."""
    return frozenset(ep[1] for ep in (stream_endpoint(cam.url), stream_endpoint(cam.sub_url)) if ep)


def probe_target(cam: CameraConfig) -> tuple[str, int | None] | None:
    """(host, probe port or None) the network probe measures for a camera; None = not a network camera.
    The host is the one the wall's stream connects to (the sub-stream's, when there is one)."""
    ep = stream_endpoint(cam.tile_url) or stream_endpoint(cam.url)
    if ep is None:
        return None
    port = cam.probe_port
    if port is not None and port in stream_ports(cam):
        port = None  # the config refuses this already; never connect to a stream port, whatever built it
    return ep[0], port


def tcp_connect(host: str, port: int, timeout: float) -> tuple[str, float]:
    """One attempt: ("ok" | "refused" | "timeout" | "unreachable" | "dns", seconds)."""
    t0 = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "ok", time.perf_counter() - t0
    except ConnectionRefusedError:
        return "refused", time.perf_counter() - t0
    except TimeoutError:
        return "timeout", time.perf_counter() - t0
    except socket.gaierror:
        return "dns", time.perf_counter() - t0
    except OSError as e:
        if e.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
            return "unreachable", time.perf_counter() - t0
        if e.errno == errno.ECONNRESET:
            return "ok", time.perf_counter() - t0  # something answered
        return "unreachable", time.perf_counter() - t0


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def icmp_ping(host: str, timeout: float) -> float | bool | None:
    """RTT in seconds; None = no reply; False = ICMP not permitted for this user (not measured)."""
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
    except (PermissionError, OSError):
        return False
    try:
        sock.settimeout(timeout)
        addr = socket.gethostbyname(host)
        ident = os.getpid() & 0xFFFF
        header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
        payload = b"vigil-probe"
        packet = struct.pack("!BBHHH", 8, 0, _checksum(header + payload), ident, 1) + payload
        t0 = time.perf_counter()
        sock.sendto(packet, (addr, 0))
        deadline = t0 + timeout
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            sock.settimeout(remaining)
            data, _ = sock.recvfrom(1024)
            if data and data[0] == 0:  # echo reply (kernel strips the IP header for datagram sockets)
                return time.perf_counter() - t0
    except TimeoutError:
        return None
    except OSError:
        return None
    finally:
        sock.close()


def classify(outcomes: list[str]) -> tuple[str, tuple[str, ...]]:
    """Pure: TCP attempts to the probe port -> (state, conditions). Any answer (ok or refused) = host up."""
    if any(o == "ok" for o in outcomes):
        return "OK", ()
    if any(o == "refused" for o in outcomes):
        return "PORT_CLOSED", ()  # host reachable, nothing listening on that port
    if outcomes and all(o == "dns" for o in outcomes):
        return "DNS_ERROR", ()
    return "NETWORK_DOWN", ("NETWORK_DOWN",)


class NetworkProbe:
    """Probes one camera host: one ICMP echo (when permitted) and *attempts* TCP connects to *port* - a
    port the config named (``probe_port``), never a stream port (*stream_ports* are refused here too).
    ``port=None``: ICMP only."""

    kind = KIND

    def __init__(
        self,
        camera_id: str,
        host: str,
        port: int | None = None,
        *,
        interval_s: float = 10.0,
        attempts: int = 3,
        timeout_s: float = 2.0,
        icmp: bool = True,
        stream_ports: frozenset[int] | tuple[int, ...] = (),
    ) -> None:
        if port is not None and port in stream_ports:
            raise ValueError(f"port {port} is a stream port of camera {camera_id!r}: the probe never connects to it")
        self.camera_id = camera_id
        self.host, self.port = host, port
        self.name = f"net:{camera_id}"
        self.interval_s = interval_s
        self.attempts = max(1, attempts)
        self.timeout_s = timeout_s
        self.icmp = icmp

    def run(self, ctx: ProbeContext | None = None) -> list[ProbeResult]:
        t0 = time.perf_counter()
        outcomes, times = [], []
        for _ in range(self.attempts if self.port is not None else 0):
            if ctx is not None and ctx.stopping:
                raise ProbeStopped  # a stop waits for one connect at most, not for every attempt
            o, dt = tcp_connect(self.host, self.port, self.timeout_s)
            outcomes.append(o)
            if o in ("ok", "refused"):
                times.append(dt)
        metrics: dict[str, float] = {}
        if ctx is not None and ctx.stopping:
            raise ProbeStopped
        rtt = icmp_ping(self.host, self.timeout_s) if self.icmp else False
        if rtt is False:
            self.icmp = False  # not permitted here: stop trying
        if self.port is None and not self.icmp:
            return []  # nothing this probe may measure: the stream's own connection decides alone
        if outcomes:
            state, conditions = classify(outcomes)
            metrics["port_open"] = 1.0 if "ok" in outcomes else 0.0
            if times:
                metrics["connect_latency_s"] = statistics.median(times)
        else:
            state, conditions = "NETWORK_DOWN", ("NETWORK_DOWN",)  # ICMP only: no reply below
        tries = len(outcomes) + (1 if self.icmp else 0)
        answered = sum(1 for o in outcomes if o in ("ok", "refused")) + (1 if self.icmp and rtt else 0)
        metrics["loss_ratio"] = 1.0 - answered / tries
        metrics["attempts"] = float(tries)
        if self.icmp:
            metrics["icmp_up"] = 1.0 if rtt else 0.0
            if rtt:
                metrics["icmp_rtt_s"] = float(rtt)
                if state in ("NETWORK_DOWN", "DNS_ERROR"):
                    # the host answers ping: up; only the probe port is silent (or there is none)
                    state, conditions = ("PORT_FILTERED" if outcomes else "OK"), ()
        port = "" if self.port is None else str(self.port)
        tried = [f"port {port}: {', '.join(sorted(set(outcomes)))}"] if outcomes else []
        tried += ["no ping reply"] if self.icmp else []
        words = {
            "OK": "",
            "PORT_CLOSED": f"port {port} refused: host up, nothing listening there",
            "DNS_ERROR": "host name not found (DNS)",
            "PORT_FILTERED": f"no TCP answer on port {port}, host answers ping",
            "NETWORK_DOWN": f"no answer from {self.host} ({'; '.join(tried)})",
        }
        return [
            ProbeResult(
                KIND,
                self.camera_id,
                ok=state in ANSWERED_STATES,
                state=state,
                error=words[state],
                camera_id=self.camera_id,
                latency_s=time.perf_counter() - t0,
                labels={"host": self.host, "port": port},
                metrics=metrics,
                conditions=conditions,
            )
        ]

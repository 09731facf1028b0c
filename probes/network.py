"""Network probe: TCP connect latency and loss to each camera's host:port, ICMP echo when permitted.

This is what tells "network down" (``NETWORK_DOWN``: the host does not answer at all - connect
timeouts, unreachable) apart from "camera down" (the host answers - e.g. "connection refused" from a
stopped RTSP server - but the stream does not). ICMP uses an unprivileged datagram ICMP socket
(Linux ``net.ipv4.ping_group_range``); without that permission ICMP is simply not measured - the
probe never needs root.
"""

from __future__ import annotations

import errno
import os
import socket
import statistics
import struct
import time
from urllib.parse import urlsplit

from probes.base import ProbeContext, ProbeResult

KIND = "network"
DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}


def camera_endpoint(url: str) -> tuple[str, int] | None:
    """(host, port) of a network camera URL; None for demo/lavfi/file sources. Never includes credentials."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS or not parts.hostname:
            return None
        return parts.hostname, parts.port or DEFAULT_PORTS[scheme]
    except ValueError:
        return None


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
    """Pure: attempts -> (state, conditions). Any answer (ok or refused) means the network is up."""
    if any(o == "ok" for o in outcomes):
        return "OK", ()
    if any(o == "refused" for o in outcomes):
        return "PORT_CLOSED", ()  # host reachable, service not listening: camera down, not network
    if outcomes and all(o == "dns" for o in outcomes):
        return "DNS_ERROR", ()
    return "NETWORK_DOWN", ("NETWORK_DOWN",)


class NetworkProbe:
    """Probes one camera host:port with *attempts* TCP connects (and one ICMP echo when permitted)."""

    kind = KIND

    def __init__(
        self,
        camera_id: str,
        host: str,
        port: int,
        *,
        interval_s: float = 10.0,
        attempts: int = 3,
        timeout_s: float = 2.0,
        icmp: bool = True,
    ) -> None:
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
        for _ in range(self.attempts):
            o, dt = tcp_connect(self.host, self.port, self.timeout_s)
            outcomes.append(o)
            if o in ("ok", "refused"):
                times.append(dt)
        state, conditions = classify(outcomes)
        answered = sum(1 for o in outcomes if o in ("ok", "refused"))
        metrics = {
            "loss_ratio": 1.0 - answered / len(outcomes),
            "attempts": float(len(outcomes)),
            "port_open": 1.0 if "ok" in outcomes else 0.0,
        }
        if times:
            metrics["connect_latency_s"] = statistics.median(times)
        if self.icmp:
            rtt = icmp_ping(self.host, self.timeout_s)
            if rtt is False:
                self.icmp = False  # not permitted here: stop trying
            elif rtt is None:
                metrics["icmp_up"] = 0.0
            else:
                metrics["icmp_up"] = 1.0
                metrics["icmp_rtt_s"] = float(rtt)
                if state == "NETWORK_DOWN":  # ICMP answers: the host is there, only the port is filtered
                    state, conditions = "PORT_FILTERED", ()
        words = {
            "OK": "",
            "PORT_CLOSED": f"port {self.port} refused: host up, service down",
            "DNS_ERROR": "host name not found (DNS)",
            "PORT_FILTERED": f"no TCP answer on port {self.port}, host answers ping",
            "NETWORK_DOWN": f"no answer from {self.host}:{self.port} ({', '.join(sorted(set(outcomes)))})",
        }
        return [
            ProbeResult(
                KIND,
                self.camera_id,
                ok=state == "OK",
                state=state,
                error=words[state],
                camera_id=self.camera_id,
                latency_s=time.perf_counter() - t0,
                labels={"host": self.host, "port": str(self.port)},
                metrics=metrics,
                conditions=conditions,
            )
        ]

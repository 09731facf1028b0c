"""``FanOutClient``: many small GETs to ONE http:// host, multiplexed in the calling thread.

Why (issue: one analytics cycle over 9 servers x 200 streams in < 1 s on 2 shared cores): the cycle is
CPU-bound on the client. One blocking request per pool thread (``http.client`` + ``ctx.map``) cost
~230-290 µs of CPU per request under load: ``http.client`` parses every response's headers with the
``email`` package, and 32 threads hand the GIL back and forth on every ``recv``. Here one thread drives
up to ``parallelism`` keep-alive connections with ``selectors`` (epoll) and parses HTTP/1.1 by hand
(status line, ``Content-Length`` / ``chunked`` / close-delimited bodies): a fraction of that CPU, no
thread hand-offs, and the per-server parallelism no longer depends on the size of the shared probe pool
(``probes.workers`` defaults to 8, less than 9 servers x 16).

Same contract as :func:`probes.http.fetch` and ``KeepAliveClient``: never raises for anything the
server does, errors in words, the URL masked, bodies capped at ``max_bytes`` (declared *and* streamed),
an inactivity timeout (``timeout``: connect, first byte, each read) and a total deadline per request
(``deadline_s``, default 2 x timeout) so a server trickling a body cannot hold a cycle. A kept-alive
connection that the server closed between cycles is retried once on a fresh connection. When a new
connection cannot be made (refused, DNS, unreachable, connect timeout), the requests not yet sent fail
with the same words at once instead of each waiting for its own connect timeout.

Plain ``http://`` only: TLS would need a non-blocking handshake; ``https://`` analytics servers keep the
threaded ``KeepAliveClient`` path (``probes.analytics_api``). No pipelining: one request in flight per
connection (servers in the field need not support HTTP pipelining).
"""

from __future__ import annotations

import base64
import errno
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from urllib.parse import unquote, urlsplit

from app.secrets import mask_url
from probes.http import HttpResult

_RECV = 256 * 1024
_MAX_HEADER = 64 * 1024

# request outcome kinds (internal)
_DONE, _FAILED, _STALE = 0, 1, 2


class _Failed(Exception):
    """A request failed; the message is the error in words."""


class _Conn:
    """One keep-alive connection and the request in flight on it (if any)."""

    __slots__ = ("body", "buf", "connecting", "ctype", "deadline", "got_any", "idx", "keep", "last", "mode", "need",
                 "out", "phase", "reason", "req", "reused", "sock", "status", "t0")  # fmt: skip

    def __init__(self, sock: socket.socket, connecting: bool) -> None:
        self.sock = sock
        self.connecting = connecting
        self.reused = False  # a request already completed on this connection
        self.idx = -1

    def begin(self, idx: int, req: bytes, now: float, deadline: float) -> None:
        self.idx = idx
        self.req = req
        self.t0 = now
        self.last = now
        self.deadline = deadline
        self.out = memoryview(req)
        self.buf = bytearray()
        self.phase = "send"
        self.status = 0
        self.reason = ""
        self.ctype = ""
        self.keep = True
        self.mode = ""
        self.need = 0
        self.body = bytearray()
        self.got_any = False

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class FanOutClient:
    """GETs on one ``http://`` server over up to ``parallelism`` keep-alive connections (one thread)."""

    def __init__(
        self,
        base_url: str,
        *,
        parallelism: int = 16,
        timeout: float = 10.0,
        max_bytes: int = 5_000_000,
        deadline_s: float | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http:// URL: {mask_url(base_url)}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.masked = mask_url(base_url).rstrip("/")
        self.parallelism = max(1, parallelism)
        self.timeout = timeout
        self.deadline_s = deadline_s if deadline_s is not None else 2 * timeout
        self.max_bytes = max_bytes
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        if parts.port is not None:
            host_header += f":{parts.port}"
        auth = b""
        if parts.username is not None:
            raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            auth = b"Authorization: Basic " + base64.b64encode(raw) + b"\r\n"
        self._head = (
            (
                f"Host: {host_header}\r\nUser-Agent: Vigil-probe/1\r\nAccept: application/json\r\n"
                "Accept-Encoding: identity\r\n"
            ).encode()
            + auth
            + b"\r\n"
        )
        self._idle: list[_Conn] = []  # kept-alive connections between requests and cycles
        self._lock = threading.Lock()  # one get_many at a time per client (a probe never runs twice at once)
        self._addr: tuple | None = None

    # ------------------------------------------------------------------ public

    def get(self, path: str) -> HttpResult:
        return self.get_many([path])[0]

    def get_many(self, paths: Sequence[str], stop: Callable[[], bool] | None = None) -> list[HttpResult]:
        """One :class:`HttpResult` per path, in order. Never raises for anything the server does."""
        with self._lock:
            return self._run(list(paths), stop)

    def close(self) -> None:
        with self._lock:
            conns, self._idle = self._idle, []
        for c in conns:
            c.close()

    # ------------------------------------------------------------------ internals

    def _request(self, path: str) -> bytes:
        return b"GET " + (self.prefix + path).encode("ascii") + b" HTTP/1.1\r\n" + self._head

    def _new_conn(self) -> _Conn:
        """A connecting non-blocking socket. Raises _Failed with words (DNS, refused at once, ...)."""
        if self._addr is None:
            try:
                infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            except socket.gaierror:
                raise _Failed("host name not found (DNS)") from None
            self._addr = infos[0]
        family, stype, proto, _, addr = self._addr
        try:
            sock = socket.socket(family, stype, proto)
        except OSError as e:  # e.g. out of file descriptors
            raise _Failed(f"cannot open a socket: {e.strerror or type(e).__name__}") from None
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rc = sock.connect_ex(addr)
        if rc not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            sock.close()
            self._addr = None  # resolve again next time (the address may have moved)
            raise _Failed(_connect_words(rc, self.timeout))
        return _Conn(sock, connecting=rc != 0)

    def _run(self, paths: list[str], stop: Callable[[], bool] | None) -> list[HttpResult]:
        n = len(paths)
        results: list[HttpResult | None] = [None] * n
        pending: deque[int] = deque(range(n))
        retried: set[int] = set()
        active: dict[int, _Conn] = {}  # fd -> conn
        sel = selectors.DefaultSelector()
        connect_error = ""

        def fail(i: int, words: str, t0: float) -> None:
            results[i] = HttpResult(self.masked + paths[i], 0, b"", time.perf_counter() - t0, words)

        try:
            while pending or active:
                now = time.perf_counter()
                # start requests while connections are free
                while pending and len(active) < self.parallelism:
                    i = pending.popleft()
                    if connect_error:
                        fail(i, connect_error, now)
                        continue
                    try:
                        req = self._request(paths[i])
                    except UnicodeEncodeError:
                        fail(i, "invalid request path (not ASCII)", now)
                        continue
                    conn = self._idle.pop() if self._idle else None
                    if conn is None:
                        try:
                            conn = self._new_conn()
                        except _Failed as e:
                            connect_error = str(e)
                            fail(i, connect_error, now)
                            continue
                    conn.begin(i, req, now, now + self.deadline_s)
                    active[conn.sock.fileno()] = conn
                    sel.register(conn.sock, selectors.EVENT_WRITE, conn)
                if not active:
                    continue
                if stop is not None and stop():
                    for c in list(active.values()):
                        fail(c.idx, "stopped", c.t0)
                        c.close()
                    active.clear()
                    for i in pending:
                        fail(i, "stopped", now)
                    pending.clear()
                    break
                wait = min(min(c.last + self.timeout, c.deadline) for c in active.values()) - now
                events = sel.select(max(0.0, min(wait, 0.5)))
                now = time.perf_counter()
                for key, mask in events:
                    conn = key.data
                    try:
                        outcome = self._step(conn, mask, now)
                    except _Failed as e:
                        outcome = _FAILED
                        words = str(e)
                    if outcome is None:
                        if conn.phase != "send" and key.events != selectors.EVENT_READ:
                            sel.modify(conn.sock, selectors.EVENT_READ, conn)
                        continue
                    sel.unregister(conn.sock)
                    del active[conn.sock.fileno()]
                    i = conn.idx
                    if outcome == _DONE:
                        elapsed = now - conn.t0
                        body = bytes(conn.body)
                        err = "" if 200 <= conn.status < 300 else f"HTTP {conn.status} {conn.reason}".strip()
                        results[i] = HttpResult(self.masked + paths[i], conn.status, body, elapsed, err, conn.ctype)
                        if conn.keep:
                            conn.reused = True
                            self._idle.append(conn)
                        else:
                            conn.close()
                        continue
                    conn.close()
                    if outcome == _STALE and i not in retried:
                        retried.add(i)  # the server closed the kept-alive connection meanwhile: once more
                        pending.appendleft(i)
                        continue
                    if outcome == _STALE:
                        words = "connection closed by the server without an answer"
                    if conn.connecting and conn.phase == "send" and not conn.reused:
                        connect_error = words  # a new connection failed: the queued ones would too
                        self._addr = None
                    results[i] = HttpResult(self.masked + paths[i], conn.status, b"", now - conn.t0, words)
                # timeouts
                for fd, conn in list(active.items()):
                    if now - conn.last >= self.timeout:
                        if conn.connecting:
                            words = f"connect timeout after {self.timeout:g} s"
                            connect_error = words
                        elif not conn.got_any:
                            words = f"no answer within {self.timeout:g} s"
                        else:
                            words = f"server too slow: nothing received for {self.timeout:g} s mid-response"
                    elif now >= conn.deadline:
                        words = f"server too slow: body not complete after {self.deadline_s:g} s"
                    else:
                        continue
                    sel.unregister(conn.sock)
                    del active[fd]
                    conn.close()
                    results[conn.idx] = HttpResult(
                        self.masked + paths[conn.idx], conn.status, b"", now - conn.t0, words
                    )
        finally:
            for conn in active.values():  # only on an unexpected exception (a bug): leave nothing open
                conn.close()
            sel.close()
        return [r if r is not None else HttpResult(self.masked, 0, b"", 0.0, "not attempted") for r in results]

    def _step(self, c: _Conn, mask: int, now: float) -> int | None:
        """Advance one connection; None = not finished. Raises _Failed(words)."""
        if c.phase == "send":
            if c.connecting:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise _Failed(_connect_words(err, self.timeout))
                c.connecting = False
            try:
                sent = c.sock.send(c.out)
            except (BlockingIOError, InterruptedError):
                return None
            except (BrokenPipeError, ConnectionResetError):
                return _STALE if c.reused else self._raise("connection closed by the server without an answer")
            except OSError as e:
                raise _Failed(f"HTTP request failed: {type(e).__name__}") from None
            c.last = now
            c.out = c.out[sent:]
            if not c.out:
                c.phase = "head"
            return None
        try:
            data = c.sock.recv(_RECV)
        except (BlockingIOError, InterruptedError):
            return None
        except ConnectionResetError:
            data = None
        except OSError as e:
            raise _Failed(f"HTTP request failed: {type(e).__name__}") from None
        if not data:  # EOF (or reset)
            if not c.got_any:
                if c.reused:
                    return _STALE
                raise _Failed("connection closed by the server without an answer")
            if c.phase == "body" and c.mode == "close" and data is not None:
                return _DONE
            raise _Failed("connection closed by the server before the response was complete")
        c.got_any = True
        c.last = now
        c.buf += data
        return self._parse(c)

    @staticmethod
    def _raise(words: str):
        raise _Failed(words)

    def _parse(self, c: _Conn) -> int | None:
        buf = c.buf
        while c.phase == "head":
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEADER:
                    raise _Failed(f"response headers too large (more than {_MAX_HEADER:,} bytes)")
                return None
            head = bytes(buf[:end])
            del buf[: end + 4]
            lines = head.split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise _Failed("not an HTTP response from the server")
            status = int(parts[1])
            if 100 <= status < 200:
                continue  # 100 Continue and friends: the real answer follows
            c.status = status
            c.reason = parts[2].decode("latin-1").strip() if len(parts) > 2 else ""
            length = None
            chunked = False
            conn_hdr = b""
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    value = value.strip()
                    if not value.isdigit():
                        raise _Failed("invalid Content-Length in the response")
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    conn_hdr = value.strip().lower()
                elif name == b"content-type":
                    c.ctype = value.strip().decode("latin-1")
            http10 = parts[0] == b"HTTP/1.0"
            c.keep = (conn_hdr == b"keep-alive") if http10 else (conn_hdr != b"close")
            if status in (204, 304):
                c.mode, c.need = "length", 0
            elif chunked:
                c.mode, c.need = "chunk-size", 0
            elif length is not None:
                if length > self.max_bytes:
                    raise _Failed(f"response too large: {length:,} bytes (limit {self.max_bytes:,})")
                c.mode, c.need = "length", length
            else:
                c.mode, c.keep = "close", False
            c.phase = "body"
        return self._body(c)

    def _body(self, c: _Conn) -> int | None:
        buf = c.buf
        if c.mode == "length":
            take = min(len(buf), c.need - len(c.body))
            c.body += buf[:take]
            del buf[:take]
            return _DONE if len(c.body) >= c.need else None
        if c.mode == "close":
            c.body += buf
            buf.clear()
            self._check_size(c)
            return None
        while True:  # chunked
            if c.mode == "chunk-size":
                eol = buf.find(b"\r\n")
                if eol < 0:
                    if len(buf) > 1024:
                        raise _Failed("invalid chunked encoding in the response")
                    return None
                size_txt = bytes(buf[:eol]).split(b";", 1)[0].strip()
                del buf[: eol + 2]
                try:
                    c.need = int(size_txt, 16)
                except ValueError:
                    raise _Failed("invalid chunked encoding in the response") from None
                c.mode = "chunk-data" if c.need else "trailer"
            elif c.mode == "chunk-data":
                if len(c.body) + min(len(buf), c.need) > self.max_bytes:
                    raise _Failed(f"response too large: more than {self.max_bytes:,} bytes")
                if len(buf) < c.need + 2:
                    return None
                c.body += buf[: c.need]
                del buf[: c.need + 2]
                self._check_size(c)
                c.mode = "chunk-size"
            else:  # trailer lines until an empty line
                eol = buf.find(b"\r\n")
                if eol < 0:
                    return None
                line = bytes(buf[:eol])
                del buf[: eol + 2]
                if not line:
                    return _DONE

    def _check_size(self, c: _Conn) -> None:
        if len(c.body) > self.max_bytes:
            raise _Failed(f"response too large: more than {self.max_bytes:,} bytes")


def _connect_words(err: int, timeout: float) -> str:
    if err == errno.ECONNREFUSED:
        return "connection refused"
    if err in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "network unreachable"
    if err == errno.ETIMEDOUT:
        return f"connect timeout after {timeout:g} s"
    return f"connection failed: {errno.errorcode.get(err, err)}"

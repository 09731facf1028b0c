"""``FanOutClient``: many small GETs to ONE http(s):// host, multiplexed in the calling thread (aiohttp).

Why (issue: one analytics cycle over 9 servers x 200 streams in < 1 s on 2 shared cores): the cycle is
CPU-bound on the client. One blocking request per pool thread (``http.client`` + ``ctx.map``) cost
~230-290 µs of CPU per request under load (``email``-package header parsing, 32 threads handing the GIL
back and forth on every ``recv``). Here the calling pool thread runs its own asyncio event loop and drives
up to ``parallelism`` keep-alive connections with **aiohttp** (C-accelerated llhttp response parser,
chunked / close-delimited bodies, 1xx, TLS): no thread hand-offs, and the per-server parallelism does not
depend on the size of the shared probe pool (``probes.workers`` defaults to 8, less than 9 x 16). A
hand-written HTTP/1.1 parser did the same before; it was replaced because field devices send every edge
case of HTTP there is and a well-kept library has met them all already (docs/probes.md).

Same contract as :func:`probes.http.fetch`: never raises for anything the server does, errors in words,
the URL masked, bodies capped at ``max_bytes`` (declared *and* streamed), an inactivity timeout
(``timeout``: connect, first byte, each read) and a total deadline per request (``deadline_s``, default
2 x timeout) so a server trickling a body cannot hold a cycle. A kept-alive connection that the server
closed between cycles is retried once on a fresh connection (aiohttp does this for idempotent requests).
When a new connection cannot be made (refused, DNS, unreachable, connect timeout, TLS), the worker that
tried stops taking requests; the other workers carry on over their kept-alive connections (a device that
caps its connections below ``parallelism``, one dropped SYN). Once no worker is left, the requests not yet
sent fail with the same words at once instead of each waiting for its own connect timeout. Redirects are
followed like :func:`probes.http.fetch` does: at most 5 hops, only to the same scheme, host and port, inside
the request's one total deadline; any other target is refused in words and never contacted (the Basic
credentials never travel to another host).

Threading: one event loop per client, created on the first request and closed by :meth:`close`; each
:meth:`get_many` runs ``loop.run_until_complete`` in the calling thread, so the client must not be called
from inside a running event loop. Calls are serialised by a lock (a probe never runs twice at once, but
consecutive cycles may run on different pool threads, which an asyncio loop allows). No Qt, no global loop.

:meth:`close` is bounded (about ``_CLOSE_WAIT_S``) whatever the server does, because it is called from the
GUI thread (a config change removing a server: ``ProbeScheduler.remove``) while a batch may hold the lock
for minutes (1,000 streams x a 20 s deadline / 16 against a server trickling its answers). It first bumps
the client's close generation, which every running batch polls along with its *stop* (every
``_STOP_POLL_S``): that batch cancels its requests in flight (their connections are closed), answers
"stopped" for the rest and lets go of the lock; only then does close() take the lock and close the loop.
Should the batch not let go in time (nothing in it blocks, so this is a backstop), close() returns anyway
and the batch closes the loop itself when it ends.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import logging
import socket
import ssl
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp import http_exceptions
from yarl import URL

from app.redirects import REDIRECT_STATUSES as _REDIRECTS
from app.redirects import redirect_target
from app.secrets import mask_url
from probes.http import HttpResult

log = logging.getLogger(__name__)

_MAX_HEADER = 64 * 1024  # one header line / field (aiohttp's default 8190 is too small for some devices)
# Idle kept-alive connections are dropped by the client after this long. Longer than the default probe
# interval (60 s) so connections live from one cycle to the next; a server that closes them sooner is
# handled by the retry of a stale connection.
_KEEPALIVE_S = 120.0
_STOP_POLL_S = 0.05  # how often a running batch looks at its stop flag and at close()
_CLOSE_WAIT_S = 1.0  # the most close() waits for a running batch to let go of the client

_DISCONNECTED = "connection closed by the server without an answer"
_TRUNCATED = "connection closed by the server before the response was complete"


class _Failed(Exception):
    """A request failed; the message is the error in words."""


class _Held:
    """The client's aiohttp session, shared with its finalizer (which must not hold the client itself)."""

    session: aiohttp.ClientSession | None = None


def _shutdown(loop: asyncio.AbstractEventLoop, held: _Held) -> None:
    """Close *held*'s session and *loop*. Called by close(), or by the garbage collector in any thread."""
    if loop.is_closed() or loop.is_running():  # running: the interpreter exits while a batch runs in a thread
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:  # collected while another loop runs in this thread: that thread cannot run ours, a new one can
        threading.Thread(target=_shutdown, args=(loop, held), name="probes:fanout-close", daemon=True).start()
        return

    async def close_session() -> None:
        session, held.session = held.session, None
        if session is not None:
            await session.close()
            await asyncio.sleep(0)  # let the transports run their connection_lost callbacks (sockets closed)

    try:
        loop.run_until_complete(close_session())
        loop.run_until_complete(loop.shutdown_default_executor())  # DNS lookups ran in its threads
    finally:
        loop.close()


class FanOutClient:
    """GETs on one ``http(s)://`` server over up to ``parallelism`` keep-alive connections (one thread).

    ``cafile`` adds a CA bundle (PEM) to trust for ``https://`` (e.g. a site's own CA or a self-signed
    server certificate). Certificates are always checked: there is no switch to turn that off.
    """

    def __init__(
        self,
        base_url: str,
        *,
        parallelism: int = 16,
        timeout: float = 10.0,
        max_bytes: int = 5_000_000,
        deadline_s: float | None = None,
        cafile: str | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {mask_url(base_url)}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.prefix = parts.path.rstrip("/")
        self.masked = mask_url(base_url).rstrip("/")
        self.parallelism = max(1, parallelism)
        self.timeout = timeout
        self.deadline_s = deadline_s if deadline_s is not None else 2 * timeout
        self.max_bytes = max_bytes
        host = self.host if ":" not in self.host else f"[{self.host}]"
        self._origin = f"{self.scheme}://{host}" + (f":{self.port}" if self.port is not None else "")
        self._headers = {"User-Agent": "Vigil-probe/1", "Accept": "application/json", "Accept-Encoding": "identity"}
        if parts.username is not None:  # the URL's credentials as Basic auth; the URL sent carries none
            raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        self._ssl: ssl.SSLContext | bool = True
        if self.scheme == "https" and cafile:
            self._ssl = ssl.create_default_context(cafile=cafile)  # raises for a missing/bad file: config error
        self._lock = threading.Lock()  # one get_many at a time per client
        # close() bumps the generation: a batch started under an older one abandons its requests. A counter,
        # not a flag to clear again, so a batch started after a close() runs normally (the client is reusable).
        self._closes = 0
        self._close_pending = False  # close() could not take the lock in time: the batch closes the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held = _Held()
        self._finalizer: weakref.finalize | None = None

    # ------------------------------------------------------------------ public

    def get(self, path: str) -> HttpResult:
        return self.get_many([path])[0]

    def get_many(self, paths: Sequence[str], stop: Callable[[], bool] | None = None) -> list[HttpResult]:
        """One :class:`HttpResult` per path, in order. Never raises for anything the server does.

        *stop* is polled while the batch runs, and so is :meth:`close`; once either asks, the requests in
        flight are abandoned (their connections closed) and every unfinished path gets the error "stopped".
        """
        with self._lock:
            generation = self._closes

            def stopped() -> bool:
                return self._closes != generation or (stop is not None and stop())

            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._held = _Held()
                # A client dropped without close() (a probe built in a test, a crash path) still closes its
                # loop and sockets when collected: the finalizer holds the loop, never the client.
                self._finalizer = weakref.finalize(self, _shutdown, self._loop, self._held)
            try:
                return self._loop.run_until_complete(self._run(list(paths), stopped))
            finally:
                if self._close_pending:  # a close() gave up waiting for this batch: finish its work
                    self._close_pending = False
                    self._shut_loop()

    def close(self) -> None:
        """Close the kept-alive connections and the event loop; a batch running now ends "stopped".

        Bounded: returns within about ``_CLOSE_WAIT_S`` whatever the server does (module docstring). The
        client may be used again afterwards."""
        self._closes += 1  # read by the running batch's stop check: it cancels its requests and lets go
        if not self._lock.acquire(timeout=_CLOSE_WAIT_S):
            self._close_pending = True  # read by the batch when it ends (get_many's finally)
            if not self._lock.acquire(blocking=False):  # still running: it closes the loop itself
                log.warning("%s: a batch still runs %g s after close(); it closes itself", self.masked, _CLOSE_WAIT_S)
                return
        try:
            self._close_pending = False
            self._shut_loop()
        finally:
            self._lock.release()

    def _shut_loop(self) -> None:  # with self._lock held
        if self._loop is not None:
            self._loop = None
            self._finalizer()  # runs _shutdown once, here, in the calling thread

    # ------------------------------------------------------------------ internals

    def _make_session(self) -> aiohttp.ClientSession:
        # Both bounds: the workers of _run never exceed parallelism, and the connector enforces it too.
        connector = aiohttp.TCPConnector(
            limit=self.parallelism,
            limit_per_host=self.parallelism,
            keepalive_timeout=_KEEPALIVE_S,
            ssl=self._ssl,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.deadline_s, sock_connect=self.timeout, sock_read=self.timeout),
            headers=self._headers,
            cookie_jar=aiohttp.DummyCookieJar(),  # devices' cookies are not state we keep
            max_line_size=_MAX_HEADER,
            max_field_size=_MAX_HEADER,
        )

    async def _run(self, paths: list[str], stop: Callable[[], bool]) -> list[HttpResult]:
        if self._held.session is None:
            self._held.session = self._make_session()
        n = len(paths)
        results: list[HttpResult | None] = [None] * n
        started: dict[int, float] = {}
        pending: deque[int] = deque(range(n))
        state: dict = {"connect_error": "", "stopped": stop()}
        alive = [0]  # workers still taking requests

        async def worker() -> None:
            try:
                while pending and not state["stopped"]:
                    i = pending.popleft()
                    t0 = started[i] = time.perf_counter()
                    result, connect_failed = await self._fetch(paths[i], t0)
                    results[i] = result
                    if connect_failed:
                        # Only this worker stops: the others' kept-alive connections still work (a device
                        # capping its connections below parallelism, one dropped SYN).
                        state["connect_error"] = result.error
                        return
            finally:
                alive[0] -= 1
                if alive[0] == 0 and state["connect_error"] and not state["stopped"]:
                    # no worker left and the last new connection failed: the queued requests would too
                    now = time.perf_counter()
                    while pending:
                        i = pending.popleft()
                        started[i] = now
                        results[i] = HttpResult(self.masked + paths[i], 0, b"", 0.0, state["connect_error"])

        if not state["stopped"] and n:
            alive[0] = min(self.parallelism, n)
            tasks = [asyncio.create_task(worker()) for _ in range(alive[0])]
            try:
                while True:
                    _, running = await asyncio.wait(tasks, timeout=_STOP_POLL_S)
                    if not running:
                        break
                    if stop():
                        state["stopped"] = True
                        break
            finally:
                for t in tasks:
                    t.cancel()  # a cancelled request closes its connection (never reused half-read)
                await asyncio.gather(*tasks, return_exceptions=True)
            for t in tasks:  # a worker that died of an exception is a bug: show it, do not hide it
                if not t.cancelled() and t.exception() is not None:
                    raise t.exception()
        now = time.perf_counter()
        words = "stopped" if state["stopped"] else "not attempted"
        return [
            r if r is not None else HttpResult(self.masked + paths[i], 0, b"", now - started.get(i, now), words)
            for i, r in enumerate(results)
        ]

    async def _fetch(self, path: str, t0: float) -> tuple[HttpResult, bool]:
        """One GET -> (result, whether a new connection could not be made). Never raises for the server."""
        url = self.masked + path
        if not path.isascii():
            return HttpResult(url, 0, b"", 0.0, "invalid request path (not ASCII)"), False
        session = self._held.session
        assert session is not None
        status, ctype, got_head = 0, "", False
        current, hops = self._origin + self.prefix + path, 0
        try:
            while True:  # same-origin redirects, at most MAX_REDIRECTS, inside the one total deadline
                left = t0 + self.deadline_s - time.perf_counter()
                if left <= 0:
                    raise TimeoutError
                timeout = aiohttp.ClientTimeout(total=left, sock_connect=self.timeout, sock_read=self.timeout)
                got_head = False
                async with session.get(URL(current, encoded=True), allow_redirects=False, timeout=timeout) as resp:
                    got_head = True
                    status, ctype = resp.status, resp.headers.get("Content-Type", "")
                    if status in _REDIRECTS:
                        current, refused = redirect_target(current, resp.headers.get("Location"), hops)
                        if refused:
                            raise _Failed(refused)
                        hops += 1
                        continue
                    body = await self._read_body(resp)
                break
            elapsed = time.perf_counter() - t0
            err = "" if 200 <= status < 300 else f"HTTP {status} {resp.reason or ''}".strip()
            return HttpResult(url, status, body, elapsed, err, ctype), False
        except _Failed as e:
            return HttpResult(url, status, b"", time.perf_counter() - t0, str(e), ctype), False
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as e:
            words, connect_failed = self._words(e, got_head)
            return HttpResult(url, status, b"", time.perf_counter() - t0, words, ctype), connect_failed

    async def _read_body(self, resp: aiohttp.ClientResponse) -> bytes:
        declared = resp.content_length
        if declared is not None and declared > self.max_bytes:
            resp.close()  # do not read it, do not reuse the connection
            raise _Failed(f"response too large: {declared:,} bytes (limit {self.max_bytes:,})")
        buf = bytearray()
        while chunk := await resp.content.readany():
            buf += chunk
            if len(buf) > self.max_bytes:
                resp.close()
                raise _Failed(f"response too large: more than {self.max_bytes:,} bytes")
        return bytes(buf)

    def _words(self, e: BaseException, got_head: bool) -> tuple[str, bool]:
        """The error in words, and whether it means a new connection cannot be made."""
        t = self.timeout
        if isinstance(e, aiohttp.ClientConnectorCertificateError):
            reason = getattr(e.certificate_error, "verify_message", "") or str(e.certificate_error)
            return f"TLS certificate not trusted: {reason}", True
        if isinstance(e, aiohttp.ClientConnectorSSLError):
            reason = getattr(e.os_error, "reason", "") or type(e.os_error).__name__
            return f"TLS handshake failed: {reason}", True
        if isinstance(e, aiohttp.ClientConnectorError):
            return _connect_words(e.os_error, t), True
        if isinstance(e, aiohttp.ConnectionTimeoutError):
            return f"connect timeout after {t:g} s", True
        if isinstance(e, aiohttp.SocketTimeoutError):
            if got_head:
                return f"server too slow: nothing received for {t:g} s mid-response", False
            return f"no answer within {t:g} s", False
        if isinstance(e, TimeoutError):  # the total deadline (ClientTimeout.total), headers included
            what = "body not complete" if got_head else "no complete answer"
            return f"server too slow: {what} after {self.deadline_s:g} s", False
        if isinstance(e, aiohttp.ServerDisconnectedError):
            return (_TRUNCATED if got_head else _DISCONNECTED), False
        if isinstance(e, (aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
            return _parse_words(e, got_head), False
        if isinstance(e, ConnectionError) or getattr(e, "errno", None) in (errno.ECONNRESET, errno.EPIPE):
            return (_TRUNCATED if got_head else _DISCONNECTED), False
        if isinstance(e, aiohttp.InvalidURL):
            return "invalid URL", False
        return f"HTTP request failed: {type(e).__name__}", False


def _parse_words(e: BaseException, got_head: bool) -> str:
    """Words for what aiohttp's parser refused (the parser's exception is in the cause chain)."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, http_exceptions.LineTooLong):
            return f"response headers too large (a line of more than {_MAX_HEADER:,} bytes)"
        if isinstance(seen, http_exceptions.TransferEncodingError):
            return "invalid chunked encoding in the response"
        if isinstance(seen, http_exceptions.ContentLengthError):
            return _TRUNCATED
        if isinstance(seen, http_exceptions.BadStatusLine):
            return "not an HTTP response from the server"
        if isinstance(seen, http_exceptions.HttpProcessingError):
            message = (seen.message or "").lower()
            if "content-length" in message:
                return "invalid Content-Length in the response"
            if "chunk" in message:
                return "invalid chunked encoding in the response"
            if "status" in message or "version" in message or "method" in message:
                return "not an HTTP response from the server"
            if "too long" in message or "too large" in message:
                return f"response headers too large (more than {_MAX_HEADER:,} bytes)"
        seen = seen.__cause__ or seen.__context__
    if isinstance(e, aiohttp.ClientPayloadError):
        return _TRUNCATED
    return "invalid HTTP response from the server" if not got_head else _TRUNCATED


def _connect_words(err: OSError | None, timeout: float) -> str:
    if isinstance(err, socket.gaierror):
        return "host name not found (DNS)"
    code = getattr(err, "errno", None)
    if code == errno.ECONNREFUSED or isinstance(err, ConnectionRefusedError):
        return "connection refused"
    if code in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "network unreachable"
    if code == errno.ETIMEDOUT or isinstance(err, TimeoutError):
        return f"connect timeout after {timeout:g} s"
    if isinstance(code, int):
        return f"connection failed: {errno.errorcode.get(code, code)}"
    return "connection failed"

"""One bounded HTTP GET for every probe: a total deadline, a size cap, same-origin redirects, errors in words.

Built on ``requests`` (a ``Session`` per probe, from :func:`make_session`, so connections are reused across
polls). What bounds a request:

* **Total deadline** (``deadline_s``, default 2 x ``timeout``) over connect, TLS handshake, headers and body,
  every redirect hop included, enforced *while a read is blocked*: a server that trickles its headers or
  body one byte a second ends at the deadline with "server too slow: ...". A per-read socket timeout
  alone cannot do that (each byte resets it), and a check between reads never runs while ``recv`` waits.
  So the session's connections are registered with one watchdog thread (``probes:http-deadlines``) that
  shuts the socket down (``shutdown(SHUT_RDWR)``) when the request's deadline passes; the blocked ``recv``
  returns at once and the fetch reports the deadline, never a half body as complete. The hook is
  urllib3's own extension point (a pool ``ConnectionCls``), installed by :class:`BoundedAdapter`; any
  other request gets the same bound through :func:`request_deadline` (the alert webhooks' POST).
* ``timeout``: connect, and each read (nothing received for that long), capped by what is left of the
  deadline.
* ``max_bytes``: the body is streamed and the read stops there (declared *and* counted): a hostile server
  sending 20 MB of JSON or an endless playlist costs at most ``max_bytes`` of memory.
* **Redirects**: at most :data:`MAX_REDIRECTS` hops and only to the same scheme, host and port (RFC 6454
  origin); any other target is refused in words and never contacted, so credentials, tokens and the
  probe's time never go to another host.
* **Stop**: closing the session (``probe.close()``, which the scheduler does when it stops) shuts down the
  sockets of requests still in flight; they return "stopped" at once instead of waiting for the deadline.

The one wait nothing here can cut short is the operating system's name lookup (``getaddrinfo``), which
no socket is involved in yet; probe URLs on a LAN are normally addresses.
"""

from __future__ import annotations

import errno
import heapq
import http.client
import itertools
import json
import logging
import math
import re
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import get_auth_from_url
from urllib3 import exceptions as u3

from app.redirects import MAX_REDIRECTS, redirect_target
from app.redirects import REDIRECT_STATUSES as _REDIRECTS
from app.secrets import mask_url

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_WATCHDOG_IDLE_S = 0.5  # the watchdog thread ends after this long with nothing to watch

BROKE_OFF = "the server broke off the answer mid-body"
DISCONNECTED = "connection closed by the server without an answer"


@dataclass(frozen=True, slots=True)
class HttpResult:
    url: str  # masked
    status: int  # 0 = no HTTP answer
    body: bytes
    elapsed_s: float
    error: str = ""  # words; "" = got a complete body with a 2xx status
    content_type: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


# ---------------------------------------------------------------------- deadline watchdog


def _shut(sock: Any) -> None:
    """Wake every thread blocked on *sock* (EOF for its ``recv``); the owner closes it."""
    raw = getattr(sock, "socket", sock)  # urllib3's TLS-in-TLS transport wraps a socket
    try:
        socket.socket.shutdown(raw, socket.SHUT_RDWR)  # the socket's own, not SSLSocket's (no TLS state change)
    except (OSError, TypeError):
        pass


class _Deadline:
    """One fetch's deadline and the sockets it has used; expired by the watchdog or aborted by a close."""

    __slots__ = ("__weakref__", "_lock", "_socks", "aborted", "at", "done", "fired")

    def __init__(self, at: float) -> None:
        self.at = at  # time.monotonic()
        self._lock = threading.Lock()
        self._socks: list[Any] = []
        self.fired = False  # the deadline passed while the request was unfinished
        self.aborted = False  # the session was closed (stop) while the request was unfinished
        self.done = False

    def watch(self, sock: Any) -> None:
        with self._lock:
            if self.done:
                return
            self._socks.append(sock)
            late = self.fired or self.aborted
        if late:
            _shut(sock)

    def _end(self, attr: str) -> None:
        with self._lock:
            if self.done:
                return
            setattr(self, attr, True)
            socks = list(self._socks)
        for s in socks:
            _shut(s)

    def expire(self) -> None:
        self._end("fired")

    def abort(self) -> None:
        self._end("aborted")

    def finish(self) -> None:
        """The fetch is over: the watchdog must not touch its sockets again (one may go back to the pool)."""
        with self._lock:
            self.done = True
            self._socks.clear()


class _Watchdog:
    """One thread that expires the deadlines of requests in flight; it exists only while there are any."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._seq = itertools.count()
        self._live = 0
        self._thread: threading.Thread | None = None

    def arm(self, d: _Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (d.at, next(self._seq), d))
            self._live += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="probes:http-deadlines", daemon=True)
                self._thread.start()
            else:
                self._cond.notify()

    def disarm(self, d: _Deadline) -> None:
        d.finish()
        with self._cond:
            self._live -= 1
            if self._live <= 0:  # nothing in flight: drop the finished entries, let the thread end
                self._live = 0
                self._heap.clear()
                self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].done:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait(_WATCHDOG_IDLE_S)
                        if not self._heap:
                            self._thread = None
                            return
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        _, _, due = heapq.heappop(self._heap)
                        break
                    self._cond.wait(wait)
            due.expire()  # outside the lock: shutting a socket down never waits for the watchdog's lock


_watchdog = _Watchdog()
_current = threading.local()  # the _Deadline of the fetch running in this thread


def _watch_current(sock: Any) -> None:
    d = getattr(_current, "deadline", None)
    if d is not None and sock is not None:
        d.watch(sock)


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    """Registers its socket with the running fetch's deadline: when made (before a TLS handshake), when a
    request is sent on a kept-alive one (a POST body the peer will not read blocks the send) and again
    each time a response is read on it (a kept-alive connection serves a later fetch)."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch_current(sock)
        return sock

    def request(self, *a: Any, **kw: Any) -> None:  # type: ignore[override]
        _watch_current(self.sock)  # None on a new connection: _new_conn registers it
        super().request(*a, **kw)

    def getresponse(self):  # type: ignore[override]
        _watch_current(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, urllib3.connection.HTTPSConnection):
    pass


class _HTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class BoundedAdapter(HTTPAdapter):
    """``HTTPAdapter`` whose connections obey the fetch deadline, and whose :meth:`close` also cuts the
    requests in flight (a stopping scheduler closes its probes' sessions)."""

    def __init__(self, *a: Any, **kw: Any) -> None:
        self._in_flight: weakref.WeakSet[_Deadline] = weakref.WeakSet()
        self._flight_lock = threading.Lock()
        super().__init__(*a, **kw)

    def init_poolmanager(self, *a: Any, **kw: Any) -> None:
        super().init_poolmanager(*a, **kw)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kw: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kw)
        if type(manager) is urllib3.ProxyManager:  # an HTTP proxy; SOCKS managers keep their own pools
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager

    def track(self, d: _Deadline) -> None:
        with self._flight_lock:
            self._in_flight.add(d)

    def untrack(self, d: _Deadline) -> None:
        with self._flight_lock:
            self._in_flight.discard(d)

    def close(self) -> None:
        with self._flight_lock:
            flying = list(self._in_flight)
        for d in flying:
            d.abort()
        super().close()


def make_session(pool_size: int = 10) -> requests.Session:
    s = requests.Session()
    adapter = BoundedAdapter(pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = "Vigil-probe/1"
    return s


# ---------------------------------------------------------------------- redirects


# ---------------------------------------------------------------------- the GET


class _DeadlinePassed(Exception):
    """The request's total deadline passed (or the session was closed) before the answer was complete."""


def fetch(
    session: requests.Session,
    url: str,
    *,
    timeout: float = 10.0,
    max_bytes: int = 2_000_000,
    deadline_s: float | None = None,
) -> HttpResult:
    """GET *url*; never raises. ``error`` explains a failure in words, with the URL masked.

    *timeout* bounds connect and each read; *deadline_s* (default 2 x *timeout*) bounds the whole request,
    redirects included, while blocked (see the module docstring)."""
    masked = mask_url(url)
    t0 = time.perf_counter()
    total = deadline_s if deadline_s is not None else timeout * 2
    with request_deadline(session, url, total) as d:
        status, body, err, ctype = _get(session, url, timeout, total, max_bytes, d)
    return HttpResult(masked, status, body, time.perf_counter() - t0, err, ctype)


@contextmanager
def request_deadline(session: requests.Session, url: str, total_s: float) -> Iterator[_Deadline]:
    """The total deadline of the requests *session* makes to *url* in this block, enforced while blocked.

    Mounts :class:`BoundedAdapter` on a plain session, arms the watchdog for ``now + total_s`` and registers
    every socket the block's requests use on this thread; closing the session's adapter aborts it. The
    yielded deadline says what happened: ``fired`` (the time ran out while unfinished) or ``aborted`` (a
    close, or :meth:`_Deadline.abort` from another thread). A socket shut down mid-answer reads as EOF, so a
    caller must check both after its request returned, before it believes the answer (a trickled header block
    cut short parses as complete headers); call ``finish()`` first once the answer is complete, and from then
    on neither can change. Used by :func:`fetch` and by the alert webhooks (``app.alerts.sinks``)."""
    d = _Deadline(time.monotonic() + total_s)
    adapter = _bounded_adapter(session, url)
    if adapter is not None:
        adapter.track(d)
    _watchdog.arm(d)
    _current.deadline = d
    try:
        yield d
    finally:
        _current.deadline = None
        _watchdog.disarm(d)
        if adapter is not None:
            adapter.untrack(d)


def _bounded_adapter(session: requests.Session, url: str) -> BoundedAdapter | None:
    try:
        adapter = session.get_adapter(url)
    except requests.exceptions.InvalidSchema:
        return None
    if not isinstance(adapter, BoundedAdapter):  # a plain Session: give it the deadline-aware adapter
        adapter = BoundedAdapter(max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return adapter


def _get(
    session: requests.Session, url: str, timeout: float, total: float, max_bytes: int, d: _Deadline
) -> tuple[int, bytes, str, str]:
    """(status, body, error words, content type) of a GET with same-origin redirects."""
    status, ctype, got_head = 0, "", False
    user, password = get_auth_from_url(url)
    auth = (user, password) if user or password else None
    current, hops = url, 0
    try:
        while True:
            left = d.at - time.monotonic()
            if left <= 0:
                raise _DeadlinePassed
            per_read = max(0.05, min(timeout, left))
            got_head = False
            with session.get(
                current,
                timeout=(per_read, per_read),
                stream=True,
                allow_redirects=False,
                auth=auth if not urlsplit(current).username else None,
            ) as resp:
                if d.fired or d.aborted:  # the headers "ended" because the watchdog shut the socket down
                    raise _DeadlinePassed
                got_head = True
                status = resp.status_code
                ctype = resp.headers.get("Content-Type", "")
                if status in _REDIRECTS:
                    current, refused = redirect_target(current, resp.headers.get("Location"), hops)
                    if refused:
                        return status, b"", refused, ctype
                    hops += 1
                    continue
                declared = resp.headers.get("Content-Length")
                if declared and declared.strip().isdigit() and int(declared) > max_bytes:
                    return status, b"", f"response too large: {int(declared):,} bytes (limit {max_bytes:,})", ctype
                buf = bytearray()
                for chunk in resp.iter_content(_CHUNK):
                    buf += chunk
                    if len(buf) > max_bytes:
                        return status, b"", f"response too large: more than {max_bytes:,} bytes", ctype
                d.finish()  # complete: from here on the watchdog leaves the socket alone (it may be reused)
                if d.fired or d.aborted:  # cut off by the watchdog/close: an EOF is not the end of the body
                    raise _DeadlinePassed
                body = bytes(buf)
                if not 200 <= status < 300:
                    return status, body, f"HTTP {status} {resp.reason or ''}".strip(), ctype
                return status, body, "", ctype
    except Exception as e:  # never raises: every failure becomes words
        if d.aborted:
            return status, b"", "stopped", ctype
        if d.fired or isinstance(e, _DeadlinePassed):
            what = "body not complete" if got_head else "no complete answer"
            return status, b"", f"server too slow: {what} after {total:g} s", ctype
        words = error_words(e, timeout, got_head)
        if words.startswith("HTTP request failed"):
            log.debug("unexpected HTTP error for %s", mask_url(current), exc_info=True)
        return status, b"", words, ctype


def error_words(e: BaseException, timeout: float, got_head: bool = False) -> str:
    """Plain words for what ``requests``/urllib3/http.client/ssl raised during a GET (*got_head*: the status
    line and headers had arrived). Looks through the cause chain, so wrapped errors read as what happened."""
    chain: list[BaseException] = []
    seen: BaseException | None = e
    while seen is not None and len(chain) < 12:
        chain.append(seen)
        nxt = seen.__cause__ or seen.__context__
        if nxt is None and isinstance(seen, u3.MaxRetryError):
            nxt = seen.reason
        if nxt is None and seen.args and isinstance(seen.args[-1], BaseException) and seen.args[-1] is not seen:
            nxt = seen.args[-1]  # urllib3's ProtocolError("Connection aborted.", RemoteDisconnected(...))
        seen = nxt

    def has(*types: type) -> BaseException | None:
        return next((x for x in chain if isinstance(x, types)), None)

    if (cert := has(ssl.SSLCertVerificationError)) is not None:
        return f"TLS certificate not trusted: {getattr(cert, 'verify_message', '') or 'verification failed'}"
    if (tls := has(ssl.SSLError)) is not None:
        return f"TLS handshake failed: {getattr(tls, 'reason', None) or type(tls).__name__}"
    if has(requests.exceptions.ProxyError, u3.ProxyError):
        return "the HTTP proxy refused or failed the connection"
    if has(u3.NameResolutionError, socket.gaierror):
        return "host name not found (DNS)"
    if has(ConnectionRefusedError):
        return "connection refused"
    if any(getattr(x, "errno", None) in (errno.ENETUNREACH, errno.EHOSTUNREACH) for x in chain):
        return "network unreachable"
    # urllib3's NewConnectionError subclasses ConnectTimeoutError (compatibility): it is not a timeout
    if has(requests.exceptions.ConnectTimeout) or any(
        isinstance(x, u3.ConnectTimeoutError) and not isinstance(x, u3.NewConnectionError) for x in chain
    ):
        return f"connect timeout after {timeout:g} s"
    if has(requests.exceptions.ReadTimeout, u3.ReadTimeoutError, TimeoutError):
        if got_head:
            return f"server too slow: nothing received for {timeout:g} s mid-body"
        return f"no answer within {timeout:g} s"
    if has(u3.InvalidChunkLength):
        return f"{BROKE_OFF} (invalid chunked encoding)"
    if (short := has(u3.IncompleteRead, http.client.IncompleteRead)) is not None:
        got, want = _incomplete(short)
        return f"{BROKE_OFF} (got {got:,} of {want:,} bytes)" if want else BROKE_OFF
    if has(requests.exceptions.ChunkedEncodingError):
        return BROKE_OFF
    if has(requests.exceptions.ContentDecodingError, u3.DecodeError):
        return "the server's compressed body cannot be decoded (corrupt Content-Encoding data)"
    if has(http.client.LineTooLong):
        return "response headers too large (a line of more than 64 KiB)"
    if has(http.client.RemoteDisconnected):
        return BROKE_OFF if got_head else DISCONNECTED
    if has(http.client.BadStatusLine, http.client.UnknownProtocol):
        return "not an HTTP response from the server"
    if has(u3.HeaderParsingError, http.client.HTTPException):
        return "invalid HTTP response from the server"
    if has(ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
        return BROKE_OFF if got_head else DISCONNECTED
    if has(requests.exceptions.TooManyRedirects):
        return f"too many redirects (limit {MAX_REDIRECTS})"
    if has(requests.exceptions.InvalidSchema):
        return "unsupported URL scheme (only http:// and https://)"
    if has(requests.exceptions.InvalidHeader):
        return "invalid request header (the URL's credentials or a configured header)"
    if has(requests.exceptions.MissingSchema, requests.exceptions.InvalidURL, requests.exceptions.URLRequired,
           u3.LocationParseError, UnicodeError, ValueError):  # fmt: skip
        return "invalid URL"
    if (os_err := has(OSError)) is not None:
        code = getattr(os_err, "errno", None)
        if code is not None:
            return f"connection failed: {errno.errorcode.get(code, code)}"
    if has(requests.exceptions.ConnectionError):
        return "connection failed"
    return f"HTTP request failed ({type(e).__name__})"


def _incomplete(e: BaseException) -> tuple[int, int]:
    partial, expected = getattr(e, "partial", 0), getattr(e, "expected", 0)
    got = partial if isinstance(partial, int) else len(partial or b"")
    return got, (got + expected) if isinstance(expected, int) and expected > 0 else 0  # "expected" = still missing


class JsonError(ValueError):
    """The body is not the JSON we need; the message says what is wrong, in words."""


# Deeper than any device document Vigil reads (the analytics API nests 3 levels, a web presenter 2); far below
# the interpreter's recursion limit (1000), which json.loads and every walker of the result would hit first.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"[^"]*"')  # a string once its escaped backslashes and quotes are gone
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def json_depth(text: str, limit: int = MAX_JSON_DEPTH) -> int:
    """Nesting depth of the JSON *text* (brackets inside strings do not count), counted without recursion
    and without parsing, exact up to *limit* + 1 (a deeper text returns *limit* + 1; a text with at most
    *limit* opening brackets returns their count, a bound). Linear in the text (three regex passes)."""
    openers = text.count("[") + text.count("{")
    if openers <= limit:
        return openers
    # inside a JSON string a backslash escapes the next character: drop "\\" pairs first, then "\"" (left to
    # right, as a parser reads them), and every remaining quote opens or closes a string
    bare = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text.replace("\\\\", "").replace('\\"', "")))
    depth = deepest = 0
    for ch in bare:
        if ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        else:
            depth -= 1
    return deepest


def _fix_text(s: str) -> str:
    return s.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate ("\ud800") becomes "?"


def _without_lone_surrogates(doc: Any) -> Any:
    """*doc* with every string encodable as UTF-8 (labels, logs and the /metrics text must encode). Iterative."""
    if isinstance(doc, str):
        return _fix_text(doc)
    stack = [doc]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for k, v in items:
            if isinstance(v, str):
                v = _fix_text(v)
                node[k] = v
            elif isinstance(v, (dict, list)):
                stack.append(v)
            if isinstance(k, str) and _fix_text(k) != k:
                del node[k]
                node[_fix_text(k)] = v
    return doc


def loads_bounded(data: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that never raises anything but :class:`JsonError`, whose message says what is wrong:

    * nesting deeper than *max_depth* is refused before parsing ("malformed JSON: nested deeper than 64
      levels"), so neither the parser nor any walker of the document can reach the recursion limit;
    * an integer of more than 4300 digits (Python's int/str conversion limit) -> "malformed JSON: a number
      with more than 4300 digits"; smaller huge numbers parse (readers convert them with care);
    * bytes that are not UTF-8/16/32 text (RFC 8259 8.1) and syntax errors name the offset or line;
    * lone UTF-16 surrogates ("\\ud800") become "?" so every string encodes as UTF-8 downstream.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode(json.detect_encoding(data))
        except UnicodeDecodeError as e:
            raise JsonError(f"invalid JSON: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start})") from None
    else:
        text = data
    if text.startswith("\ufeff"):
        text = text[1:]
    if json_depth(text, max_depth) > max_depth:
        raise JsonError(f"malformed JSON: nested deeper than {max_depth} levels")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonError(f"invalid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except RecursionError:  # not reachable after the depth check; kept so no input can ever raise it
        raise JsonError(f"malformed JSON: nested deeper than {max_depth} levels") from None
    except ValueError as e:  # int() refuses > 4300 digits (CVE-2020-10735 limit)
        if "digits" in str(e):
            raise JsonError("malformed JSON: a number with more than 4300 digits") from None
        raise JsonError(f"invalid JSON: {str(e)[:80]}") from None
    if _SURROGATE_ESCAPE.search(text):
        doc = _without_lone_surrogates(doc)
    return doc


def parse_json(r: HttpResult) -> Any:
    """The JSON document in *r*'s body; raises :class:`JsonError` (words), never anything else."""
    if not r.body.strip():
        raise JsonError("empty response body (expected JSON)")
    if r.body.lstrip()[:1] == b"<":
        raise JsonError("HTML page, not JSON (a login or error page?)")
    return loads_bounded(r.body)


def json_type(v: Any) -> str:
    """The JSON type of *v* in words ("null", "an object", ...), for messages."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "text"
    if isinstance(v, list):
        return "a list"
    return "an object"


def finite_number(v: Any) -> float | None:
    """A JSON number as a float for a metric; None for a bool, a non-number, NaN or one too large for a
    float (a 400-digit integer: ``float()`` would raise OverflowError)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None

"""One bounded HTTP GET for every probe: timeouts, a size cap, and errors in words (never an exception).

Built on ``requests`` (a ``Session`` per probe so connections are reused across polls). The body is
streamed and the read stops at ``max_bytes``: a hostile or broken server sending 20 MB of JSON or an
endless playlist costs at most ``max_bytes`` of memory. ``timeout`` bounds connect and each read; a
total deadline (``deadline_s``) bounds a server that trickles bytes slowly.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from app.secrets import mask_url

_CHUNK = 64 * 1024


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


def make_session(pool_size: int = 10) -> requests.Session:
    s = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool_size), max_retries=0)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = "Vigil-probe/1"
    return s


def fetch(
    session: requests.Session,
    url: str,
    *,
    timeout: float = 10.0,
    max_bytes: int = 2_000_000,
    deadline_s: float | None = None,
) -> HttpResult:
    """GET *url*; never raises. ``error`` explains a failure in words, with the URL masked."""
    masked = mask_url(url)
    t0 = time.perf_counter()
    deadline = t0 + (deadline_s if deadline_s is not None else timeout * 2)
    status = 0
    try:
        with session.get(url, timeout=(timeout, timeout), stream=True, allow_redirects=True) as resp:
            status = resp.status_code
            ctype = resp.headers.get("Content-Type", "")
            declared = resp.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                return HttpResult(
                    masked,
                    status,
                    b"",
                    time.perf_counter() - t0,
                    f"response too large: {int(declared):,} bytes (limit {max_bytes:,})",
                    ctype,
                )
            buf = bytearray()
            for chunk in resp.iter_content(_CHUNK):
                buf += chunk
                if len(buf) > max_bytes:
                    return HttpResult(
                        masked,
                        status,
                        b"",
                        time.perf_counter() - t0,
                        f"response too large: more than {max_bytes:,} bytes",
                        ctype,
                    )
                if time.perf_counter() > deadline:
                    return HttpResult(
                        masked,
                        status,
                        b"",
                        time.perf_counter() - t0,
                        f"server too slow: body not complete after {deadline - t0:.0f} s",
                        ctype,
                    )
            elapsed = time.perf_counter() - t0
            body = bytes(buf)
            if not 200 <= status < 300:
                return HttpResult(masked, status, body, elapsed, f"HTTP {status} {resp.reason or ''}".strip(), ctype)
            return HttpResult(masked, status, body, elapsed, "", ctype)
    except requests.exceptions.ConnectTimeout:
        err = f"connect timeout after {timeout:g} s"
    except requests.exceptions.ReadTimeout:
        err = f"no answer within {timeout:g} s"
    except requests.exceptions.ConnectionError as e:
        err = _connection_words(e)
    except requests.exceptions.InvalidURL:
        err = "invalid URL"
    except requests.exceptions.RequestException as e:
        err = f"HTTP request failed: {type(e).__name__}"
    return HttpResult(masked, status, b"", time.perf_counter() - t0, err)


def _connection_words(e: Exception) -> str:
    text = str(e).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "failed to resolve" in text:
        return "host name not found (DNS)"
    if "reset" in text or "aborted" in text or "remotedisconnected" in text or "closed connection" in text:
        return "connection closed by the server without an answer"
    if "timed out" in text:
        return "connection timed out"
    if "unreachable" in text:
        return "network unreachable"
    return "connection failed"


class JsonError(ValueError):
    """The body is not the JSON we need; the message says what is wrong, in words."""


def parse_json(r: HttpResult) -> Any:
    if not r.body.strip():
        raise JsonError("empty response body (expected JSON)")
    try:
        return json.loads(r.body)
    except (ValueError, UnicodeDecodeError) as e:
        what = "HTML page" if r.body.lstrip()[:1] == b"<" else "invalid JSON"
        raise JsonError(f"{what}: {str(e)[:80]}") from None


class KeepAliveClient:
    """A lean GET client for one host with one keep-alive connection per thread (``http.client``).

    For the analytics fan-out (hundreds of small JSON requests per cycle) ``requests`` costs ~1.5 ms of
    CPU per call on this class of machine; plain ``http.client`` on a reused connection costs a fraction
    of that (bench/probes.py). Same contract as :func:`fetch`: never raises, errors in words, size cap.
    """

    def __init__(self, base_url: str, timeout: float = 10.0, max_bytes: int = 5_000_000) -> None:
        import threading
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {mask_url(base_url)}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.prefix = parts.path.rstrip("/")
        self.masked = mask_url(base_url)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()
        auth = ""
        if parts.username is not None:
            import base64
            from urllib.parse import unquote

            raw = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            auth = "Basic " + base64.b64encode(raw).decode()
        self._headers = {
            "User-Agent": "Vigil-probe/1",
            "Accept": "application/json",
            **({"Authorization": auth} if auth else {}),
        }

    def _conn(self):
        import http.client

        c = getattr(self._local, "conn", None)
        if c is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            c = cls(self.host, self.port, timeout=self.timeout)
            self._local.conn = c
            with self._lock:
                self._all.append(c)
        return c

    def _drop(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for c in conns:
            try:
                c.close()
            except Exception:
                pass

    def get(self, path: str) -> HttpResult:
        import http.client
        import socket

        url = self.masked.rstrip("/") + path
        t0 = time.perf_counter()
        for attempt in (0, 1):  # a kept-alive connection the server closed meanwhile: reconnect once
            conn = self._conn()
            fresh = conn.sock is None
            try:
                conn.request("GET", self.prefix + path, headers=self._headers)
                resp = conn.getresponse()
                status = resp.status
                length = resp.getheader("Content-Length")
                if length and length.isdigit() and int(length) > self.max_bytes:
                    self._drop()
                    return HttpResult(
                        url,
                        status,
                        b"",
                        time.perf_counter() - t0,
                        f"response too large: {int(length):,} bytes (limit {self.max_bytes:,})",
                    )
                body = resp.read(self.max_bytes + 1)
                if len(body) > self.max_bytes:
                    self._drop()
                    return HttpResult(
                        url,
                        status,
                        b"",
                        time.perf_counter() - t0,
                        f"response too large: more than {self.max_bytes:,} bytes",
                    )
                if resp.will_close:
                    self._drop()
                elapsed = time.perf_counter() - t0
                ctype = resp.getheader("Content-Type", "")
                if not 200 <= status < 300:
                    return HttpResult(url, status, body, elapsed, f"HTTP {status} {resp.reason or ''}".strip(), ctype)
                return HttpResult(url, status, body, elapsed, "", ctype)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self._drop()
                if attempt == 0 and not fresh:
                    continue
                err = (
                    "connection closed by the server without an answer"
                    if not isinstance(e, BrokenPipeError)
                    else "connection broken"
                )
            except TimeoutError:
                self._drop()
                err = f"no answer within {self.timeout:g} s"
            except ConnectionRefusedError:
                self._drop()
                err = "connection refused"
            except socket.gaierror:
                self._drop()
                err = "host name not found (DNS)"
            except (http.client.HTTPException, OSError) as e:
                self._drop()
                err = f"HTTP request failed: {type(e).__name__}"
            return HttpResult(url, 0, b"", time.perf_counter() - t0, err)
        return HttpResult(url, 0, b"", time.perf_counter() - t0, "connection failed")

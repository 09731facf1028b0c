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

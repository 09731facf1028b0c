"""What an HLS playlist says before FFmpeg opens it: its target duration (RFC 8216 4.3.3.1) and whether it has
ended (EXT-X-ENDLIST, 4.3.3.4).

The pipeline needs it to judge the stream: a live HLS source delivers a segment at a time, so "no picture
for 3 s" is normal for a 6 s or 10 s segment length, and FFmpeg's playlist reload waits up to a target
duration, which must fit inside the read time-out. One small bounded GET of the playlist (and of the first
variant when it is a master playlist) per connection; any failure simply leaves the duration unknown
(the caller then allows for the longest common segment length).

A playlist that was live and now carries EXT-X-ENDLIST is a packager that stopped: FFmpeg would play it
again from its first segment as if it were a recording, and a dead source would look live.
"""

from __future__ import annotations

import base64
import http.client
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from app.redirects import MAX_REDIRECTS, REDIRECT_STATUSES, origin
from app.redirects import redirect_target as _redirect_rule

log = logging.getLogger(__name__)

MAX_PLAYLIST_BYTES = 1 << 20  # a live playlist is a few KiB; a peer sending more is not one
# A target duration above this is not believed (the duration stays unknown): the read time-out is derived
# from it, and "#EXT-X-TARGETDURATION:99999999999" must not make a hung connection look healthy for ages.
MAX_TARGET_S = 60.0
# Numbers are read only as far as RFC 8216 4.2 allows a decimal-integer (at most 20 digits, 0 .. 2^64-1): a
# longer one does not match, so no conversion of a 400-digit number is attempted
_TARGET_RE = re.compile(r"^#EXT-X-TARGETDURATION:\s*([0-9]{1,20}(?:\.[0-9]{1,9})?)\s*$", re.M)
_ENDLIST_RE = re.compile(r"^#EXT-X-ENDLIST\s*$", re.M)
_SEQUENCE_RE = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:\s*([0-9]{1,20})\s*$", re.M)
_SEGMENT_RE = re.compile(r"^#EXTINF:", re.M)


@dataclass(frozen=True)
class PlaylistInfo:
    target_s: float | None  # EXT-X-TARGETDURATION (of the first variant of a master playlist)
    ended: bool  # EXT-X-ENDLIST: no segment will be added (a recording, or a live packager that stopped)
    next_sequence: int = 0  # EXT-X-MEDIA-SEQUENCE + segments listed: grows while the packager publishes


def redirect_target(current: str, location: str | None, hops_done: int) -> str:
    """Where a redirect from *current* goes, by the one rule (app.redirects); ValueError with its words (URLs
    masked) where it is refused."""
    target, refused = _redirect_rule(current, location, hops_done)
    if refused:
        raise ValueError(refused)
    return target


def _read_bounded(url: str, deadline: float, camera: tuple[str, str, int | None] | None = None) -> str:
    """GET *url* (credentials in the URL become a Basic header), at most MAX_PLAYLIST_BYTES, by *deadline*.

    The deadline holds while a read is blocked: a watchdog shuts the socket down when it passes, so a peer
    trickling its headers or body one byte at a time cannot hold the open up (a socket time-out alone bounds
    only each read). Redirects are followed only to the same scheme, host and port, at most MAX_REDIRECTS;
    the credentials are sent to the *camera*'s origin (its URL's) only."""
    for hop in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("not an HTTP URL")
        here = origin(url)
        camera = camera or here
        headers = {"User-Agent": "Vigil", "Connection": "close"}
        if parts.username is not None and here == camera:
            cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("playlist deadline passed")
        cls = http.client.HTTPSConnection if here[0] == "https" else http.client.HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=left)
        cut = threading.Timer(left, _shut, (conn,))
        cut.daemon = True
        cut.start()
        try:
            path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            if resp.status in REDIRECT_STATUSES:
                url = redirect_target(url, resp.getheader("Location"), hop)
                if origin(url) != camera:  # a variant listed on another host: its redirects are not followed
                    raise ValueError("redirect to another host refused")
                continue
            if not 200 <= resp.status < 300:
                raise ValueError(f"HTTP {resp.status}")
            chunks: list[bytes] = []
            size = 0
            while size < MAX_PLAYLIST_BYTES:
                chunk = resp.read1(16384)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if time.monotonic() > deadline:  # the watchdog cut it: what arrived is not the whole playlist
                raise TimeoutError("playlist too slow")
            return b"".join(chunks)[:MAX_PLAYLIST_BYTES].decode("utf-8", "replace")
        finally:
            cut.cancel()
            conn.close()
    raise ValueError(f"more than {MAX_REDIRECTS} redirects")


def _shut(conn: http.client.HTTPConnection) -> None:
    sock = conn.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _first_variant(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF"):
            for nxt in lines[i + 1 :]:
                if nxt and not nxt.startswith("#"):
                    return nxt
    return None


def playlist_info(text: str) -> PlaylistInfo:
    """Pure: what a media playlist's text says. Never raises: an absent, malformed or unbelievable target
    duration is None (unknown), an absent or malformed media sequence is 0."""
    m = _TARGET_RE.search(text)
    target = float(m.group(1)) if m else None
    if target is not None and not 0 < target <= MAX_TARGET_S:
        log.debug("HLS target duration %r s not believed (limit %g s)", m.group(1)[:24], MAX_TARGET_S)
        target = None
    seq = _SEQUENCE_RE.search(text)
    next_sequence = (int(seq.group(1)) if seq else 0) + len(_SEGMENT_RE.findall(text))
    return PlaylistInfo(target, _ENDLIST_RE.search(text) is not None, next_sequence)


def read_playlist(url: str, timeout_s: float = 3.0) -> PlaylistInfo | None:
    """What the HLS media playlist at *url* says (of its first variant, for a master); None if unreadable."""
    deadline = time.monotonic() + timeout_s
    try:
        camera = origin(url)
        text = _read_bounded(url, deadline)
        if not text.lstrip("\ufeff").startswith("#EXTM3U"):
            return None
        variant = _first_variant(text)
        if variant is not None:
            text = _read_bounded(urljoin(url, variant), deadline, camera)
        return playlist_info(text)
    except (OSError, ValueError, http.client.HTTPException) as e:  # URLError and TimeoutError are OSErrors
        log.debug("HLS playlist unreadable before the open: %s", type(e).__name__)
        return None

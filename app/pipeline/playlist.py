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
import time
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

log = logging.getLogger(__name__)

MAX_PLAYLIST_BYTES = 1 << 20  # a live playlist is a few KiB; a peer sending more is not one
_TARGET_RE = re.compile(r"^#EXT-X-TARGETDURATION:\s*(\d+(?:\.\d+)?)\s*$", re.M)
_ENDLIST_RE = re.compile(r"^#EXT-X-ENDLIST\s*$", re.M)
_SEQUENCE_RE = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:\s*(\d+)\s*$", re.M)
_SEGMENT_RE = re.compile(r"^#EXTINF:", re.M)


@dataclass(frozen=True)
class PlaylistInfo:
    target_s: float | None  # EXT-X-TARGETDURATION (of the first variant of a master playlist)
    ended: bool  # EXT-X-ENDLIST: no segment will be added (a recording, or a live packager that stopped)
    next_sequence: int = 0  # EXT-X-MEDIA-SEQUENCE + segments listed: grows while the packager publishes


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _read_bounded(url: str, deadline: float) -> str:
    """GET *url* (credentials in the URL become a Basic header), at most MAX_PLAYLIST_BYTES, by *deadline*."""
    parts = urlsplit(url)
    headers = {"User-Agent": "Vigil"}
    if parts.username is not None:
        cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("playlist deadline passed")
    chunks: list[bytes] = []
    size = 0
    with _NO_PROXY.open(urllib.request.Request(url, headers=headers), timeout=left) as resp:
        while size < MAX_PLAYLIST_BYTES:
            if time.monotonic() > deadline:  # a peer trickling bytes does not hold the connect up
                raise TimeoutError("playlist too slow")
            chunk = resp.read1(16384)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks)[:MAX_PLAYLIST_BYTES].decode("utf-8", "replace")


def _first_variant(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines()]
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF"):
            for nxt in lines[i + 1 :]:
                if nxt and not nxt.startswith("#"):
                    return nxt
    return None


def read_playlist(url: str, timeout_s: float = 3.0) -> PlaylistInfo | None:
    """What the HLS media playlist at *url* says (of its first variant, for a master); None if unreadable."""
    deadline = time.monotonic() + timeout_s
    try:
        text = _read_bounded(url, deadline)
        if not text.lstrip("\ufeff").startswith("#EXTM3U"):
            return None
        variant = _first_variant(text)
        if variant is not None:
            text = _read_bounded(urljoin(url, variant), deadline)
        m = _TARGET_RE.search(text)
        seq = _SEQUENCE_RE.search(text)
        next_sequence = (int(seq.group(1)) if seq else 0) + len(_SEGMENT_RE.findall(text))
        return PlaylistInfo(float(m.group(1)) if m else None, _ENDLIST_RE.search(text) is not None, next_sequence)
    except (OSError, ValueError, http.client.HTTPException) as e:  # URLError and TimeoutError are OSErrors
        log.debug("HLS playlist unreadable before the open: %s", type(e).__name__)
        return None

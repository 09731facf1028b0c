"""Keep camera credentials out of everything a person or a machine can read.

Camera URLs carry passwords (``rtsp://admin:pw@host/...``). Every place that shows or logs a URL goes
through :func:`mask_url`; every error text that FFmpeg builds goes through :func:`scrub`, because
FFmpeg repeats the URL it was given in its messages.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@  — password is anything up to the last '@' before the host part.
_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@")
_QUERY_SECRET_RE = re.compile(r"(?i)([?&](?:password|passwd|pwd|pass|token|auth|key|secret)=)[^&\s]*")


def mask_url(url: str) -> str:
    """Return *url* with any password (userinfo or secret query parameter) replaced by ``***``."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    masked = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return _QUERY_SECRET_RE.sub(rf"\1{MASK}", masked)


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove credentials from free text (exception messages, log lines).

    Masks ``user:pw@`` in any URL inside *text* and, in addition, every literal in *secrets*
    (used for passwords that FFmpeg may echo URL-decoded).
    """
    if not text:
        return text
    out = _CRED_RE.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    out = _QUERY_SECRET_RE.sub(rf"\1{MASK}", out)
    for s in secrets:
        if s and len(s) >= 3:
            out = out.replace(s, MASK)
    return out


def url_password(url: str) -> str | None:
    """The password in *url*, URL-decoded, or None."""
    from urllib.parse import unquote

    try:
        pw = urlsplit(url).password
    except ValueError:
        return None
    return unquote(pw) if pw else None

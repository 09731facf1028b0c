"""Keep camera credentials out of everything a person or a machine can read.

Camera URLs carry passwords in three places, and all three are masked:

* userinfo: ``rtsp://admin:pw@host/...``
* the query: ``rtsp://host/stream?user=admin&password=pw`` (also ``pwd=``, ``passwd=``, ``token=``,
  ``loginpas=`` ... any parameter whose name *ends* in a password/secret word, see ``_SECRET_NAME``)
* the path, as some DVRs take them: ``rtsp://host:554/user=admin_password=pw_channel=1_stream=0.sdp``
  or ``/cam;password=pw``

Every place that shows or logs a URL goes through :func:`mask_url` (the user name is kept there: an
operator needs to see *which* account a camera uses). Metric labels go through :func:`label_url`, which
keeps only ``scheme://host:port/path`` (no user name, no query, secrets in the path masked): labels are
stored for months in a TSDB and read by people who have no business knowing account names. Every error
text that FFmpeg builds goes through :func:`scrub`, because FFmpeg repeats the URL it was given.

Over-masking is the safe failure: a parameter such as ``bypass=1`` is shown as ``bypass=***``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@  — password is anything up to the last '@' before the host part.
_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<pw>[^@\s]*)@")

# Parameter names that carry a secret: the name ends in one of these words (case-insensitive), so
# "password", "user_password", "loginpas", "stream_key", "access_token", "pwd", "psw" all match.
_SECRET_NAME = r"[\w.-]*?(?:pass(?:word|wd|w)?|pas|pwd|psw|pw|token|secret|auth|key|sig|signature|credentials?)"

# name=value in a query string: the value ends at '&', '#', or whitespace.
_QUERY_SECRET_RE = re.compile(rf"(?i)([?&;]{_SECRET_NAME}=)[^&#\s]*")

# name=value inside a path segment (DVR style "/user=admin_password=pw_channel=1"): the value ends at
# the next "_word=" (the DVR's separator), or at '/', ';', '&', '?', '#', whitespace or the end.
# Lazy, so a password containing '_' is cut only where a following "_name=" starts.
_VALUE_END = r"(?=_[A-Za-z]+=|[/;&?#\s\"')\]]|$)"
_PATH_SECRET_RE = re.compile(rf"(?i)((?:^|[/_;&]){_SECRET_NAME}=)(.*?){_VALUE_END}")
# the same in free text (log lines, FFmpeg messages): also after a space, quote or bracket
_TEXT_SECRET_RE = re.compile(rf"(?i)((?:^|[\s/_;&?(\[\"']){_SECRET_NAME}=)(.*?){_VALUE_END}")
# user names in a path segment ("/user=admin_password=..."), removed from metric labels only
_PATH_USER_RE = re.compile(rf"(?i)((?:^|[/_;&])(?:user|username|usr|login|loginuse|account|uid)=)(.*?){_VALUE_END}")


def _mask_path(path: str) -> str:
    return _PATH_SECRET_RE.sub(rf"\1{MASK}", path) if "=" in path else path


def _mask_query(query: str) -> str:
    return _QUERY_SECRET_RE.sub(rf"\1{MASK}", "?" + query)[1:] if query else query


def mask_url(url: str) -> str:
    """*url* with every password (userinfo, secret query parameter, secret path part) replaced by ``***``."""
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
    return urlunsplit((parts.scheme, netloc, _mask_path(parts.path), _mask_query(parts.query), parts.fragment))


def label_url(url: str) -> str:
    """``scheme://host:port/path`` of *url* for metric labels: no user, no password, no query, path masked.

    Works on a raw or an already masked URL. A URL that does not parse becomes ``"invalid URL"`` rather
    than risking a secret in a label.
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "invalid URL"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    path = _mask_path(parts.path)
    if "=" in path:
        path = _PATH_USER_RE.sub(rf"\1{MASK}", path)
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove credentials from free text (exception messages, log lines).

    Masks ``user:pw@`` in any URL inside *text*, secret query parameters and DVR-style path secrets
    and, in addition, every literal in *secrets* (used for passwords that FFmpeg may echo URL-decoded).
    """
    if not text:
        return text
    out = _CRED_RE.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    out = _QUERY_SECRET_RE.sub(rf"\1{MASK}", out)
    if "=" in out:
        out = _TEXT_SECRET_RE.sub(rf"\1{MASK}", out)
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

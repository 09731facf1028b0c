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


# ---------------------------------------------------------------- secret slots (for the keystore and the dialogs)
#
# A *slot* is the span of one secret value inside a URL string: the userinfo password, or the value of a
# secret query or path parameter (the same names mask_url masks). Spans are found on the raw string (RFC 3986
# appendix B splits it), so taking values out and putting them back is exact, byte for byte: a value stays
# percent-encoded as it was written.

# A secret kept in the keystore is written in the URL as a reference that names its key. Braces are not
# allowed unencoded anywhere in an RFC 3986 URL, so a reference can never be mistaken for a real password.
SECRET_REF_PREFIX = "${secret:"
_REF_RE = re.compile(r"^\$\{secret:([A-Za-z0-9_.-]{1,200})\}$")
_RFC3986_RE = re.compile(r"^(?:([^:/?#]+):)?(?://([^/?#]*))?([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.S)
_QUERY_SLOT_RE = re.compile(rf"(?i)(?:^|[&;])({_SECRET_NAME})=([^&#\s]*)")
_PATH_SLOT_RE = re.compile(rf"(?i)(?:^|[/_;&])({_SECRET_NAME})=(.*?){_VALUE_END}")
USERINFO = "userinfo"  # the slot name of the password in ``user:password@``
# what a camera says when its URL still holds a reference: the keystore has no value for it
MISSING_WORDS = "the password for this camera is missing from the keyring"


def secret_ref(key: str) -> str:
    """The reference written in a URL in place of the secret stored under *key*."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,200}", key):
        raise ValueError(f"keystore key {key!r}: letters, digits, '.', '_' and '-' only")
    return f"{SECRET_REF_PREFIX}{key}}}"


def ref_key(value: str) -> str | None:
    """The key named by a reference ``${secret:KEY}``, or None when *value* is not a reference."""
    m = _REF_RE.match(value)
    return m[1] if m else None


def has_secret_ref(url: str | None) -> bool:
    """True when *url* still holds a reference: its secret was not found in the keystore."""
    return bool(url) and any(ref_key(s.value) for s in secret_slots(url))


class SecretSlot:
    """One secret in a URL: ``name`` (USERINFO or the parameter name), ``start``/``end`` in the string and
    the raw ``value`` (as written, percent-encoding kept)."""

    __slots__ = ("end", "name", "start", "value")

    def __init__(self, name: str, start: int, end: int, value: str) -> None:
        self.name, self.start, self.end, self.value = name, start, end, value

    def __repr__(self) -> str:  # never the value: a slot may end up in a log line
        return f"SecretSlot({self.name!r}, {self.start}, {self.end})"


def secret_slots(url: str) -> list[SecretSlot]:
    """Every secret value in *url*, in the order they appear."""
    m = _RFC3986_RE.match(url or "")
    if not m:
        return []
    slots: list[SecretSlot] = []
    if m[2] is not None and "@" in m[2]:
        userinfo = m[2].rsplit("@", 1)[0]  # the host part follows the last '@' (as mask_url reads it)
        if ":" in userinfo:
            start = m.start(2) + userinfo.index(":") + 1
            slots.append(SecretSlot(USERINFO, start, m.start(2) + len(userinfo), userinfo[userinfo.index(":") + 1 :]))
    if m[3] and "=" in m[3]:
        off = m.start(3)
        slots += [SecretSlot(p[1], off + p.start(2), off + p.end(2), p[2]) for p in _PATH_SLOT_RE.finditer(m[3])]
    if m[4]:
        off = m.start(4)
        slots += [SecretSlot(q[1], off + q.start(2), off + q.end(2), q[2]) for q in _QUERY_SLOT_RE.finditer(m[4])]
    return slots


def replace_slots(url: str, values: list[str]) -> str:
    """*url* with the value of its i-th secret slot replaced by ``values[i]`` (same length as the slots)."""
    slots = secret_slots(url)
    if len(slots) != len(values):
        raise ValueError(f"{len(values)} values for {len(slots)} secret slots")
    out, pos = [], 0
    for slot, value in zip(slots, values, strict=True):
        out += [url[pos : slot.start], value]
        pos = slot.end
    out.append(url[pos:])
    return "".join(out)


def mask_slots(url: str) -> str:
    """*url* with every secret slot shown as ``***`` (the dialogs' form of a URL; keeps the user name)."""
    return replace_slots(url, [MASK] * len(secret_slots(url)))


def url_secrets(url: str) -> tuple[str, ...]:
    """Every secret value of *url*, URL-decoded (and raw, where that differs), for :func:`scrub`."""
    from urllib.parse import unquote

    out: list[str] = []
    for s in secret_slots(url):
        if s.value and s.value != MASK and not ref_key(s.value):
            out += [s.value] + ([unquote(s.value)] if unquote(s.value) != s.value else [])
    return tuple(dict.fromkeys(out))

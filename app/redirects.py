"""The one redirect rule for every HTTP request Vigil makes itself (probes, the fan-out client, the
pipeline's pre-open playlist read).

A redirect is followed at most :data:`MAX_REDIRECTS` times, only for :data:`REDIRECT_STATUSES`, and only to
the same RFC 6454 origin (scheme, host and port, the scheme's default port filled in: ``http://cam/`` and
``http://cam:80/`` are one). Anything else is refused in words and never contacted, so credentials,
tokens and a probe's time never go to another host (docs/security.md). Pure: no I/O.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from app.secrets import mask_url

MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of *url* with the scheme's default port filled in (RFC 6454 origin)."""
    p = urlsplit(url)
    scheme = p.scheme.lower()
    try:
        port = p.port
    except ValueError:
        port = None
    return scheme, (p.hostname or "").lower(), port if port is not None else _DEFAULT_PORTS.get(scheme)


def redirect_target(current: str, location: str | None, hops_done: int) -> tuple[str, str]:
    """Where a 3xx from *current* may go: ``(next_url, "")``, or ``("", refusal in words)``.

    Followed only to the same scheme, host and port, and at most :data:`MAX_REDIRECTS` times (the
    *hops_done* so far); URLs in the words are masked."""
    if not location:
        return "", "redirect without a Location header"
    if hops_done >= MAX_REDIRECTS:
        return "", f"too many redirects (limit {MAX_REDIRECTS}), the last to {mask_url(urljoin(current, location))}"
    target = urljoin(current, location.strip())
    if origin(target) != origin(current):
        return "", (
            f"redirect to another host refused: {mask_url(target)} (only the same scheme, host and port are followed)"
        )
    return target, ""

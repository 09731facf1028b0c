"""Opening a camera source with PyAV: per-protocol options, synthetic demo sources, errors in words.

One call to :func:`open_source` is one network connection. The caller (the camera pipeline's demux
thread) owns the returned container and closes it.
"""

from __future__ import annotations

import errno
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import av
import av.error

from app.pipeline.state import StreamState
from app.secrets import MISSING_WORDS, has_secret_ref, scrub, url_password, url_secrets

# Synthetic, moving pictures that differ per tile: FFmpeg lavfi sources, no server needed.
DEMO_PATTERNS = {
    "testsrc2": "testsrc2=size={size}:rate={rate}",
    "mandelbrot": "mandelbrot=size={size}:rate={rate}",
    "life": (
        "life=size={size}:rate={rate}:mold=10:ratio=0.1:death_color=0x2e4a6b:mold_color=0x2e4a6b:life_color=0xf1c453"
    ),
    "cellauto": "cellauto=size={size}:rate={rate}:rule=110:scroll=1",
    "zoneplate": "zoneplate=size={size}:rate={rate}:kt2=16:ky=8:kx=8:xo=100",
    # scrolled, not hue-rotated: a hue rotation keeps the luma, so the picture-health check rightly saw FROZEN
    "smptehdbars": "smptehdbars=size={size}:rate={rate},scroll=horizontal=0.003",
    "gradients": "gradients=size={size}:rate={rate}:speed=0.05:n=4",
    "sierpinski": "sierpinski=size={size}:rate={rate}:type=carpet:jump=10",
    "colorspectrum": "colorspectrum=size={size}:rate={rate}:type=all,scroll=horizontal=0.004",
}


class SourceError(Exception):
    """A source could not be opened or read. ``state`` and ``reason`` are what the tile shows."""

    def __init__(self, state: StreamState, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.state = state
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SourceSpec:
    """How to open one URL: what PyAV gets, and whether packets must be paced to real time."""

    target: str
    format: str | None
    options: dict[str, str]
    paced: bool  # delivered faster than real time (files, synthetic sources, HLS): paced to the timestamps
    outage: tuple[float, float] | None = None  # demo only: (seconds down, period)
    secrets: tuple[str, ...] = ()
    hls: bool = False  # an HLS playlist: delivered a segment at a time; a live one is reopened when it "ends"
    loops: bool = False  # a file or synthetic source: played again from the start when it ends


def build_spec(
    url: str, *, transport: str = "tcp", low_latency: bool = True, read_timeout_s: float = 8.0
) -> SourceSpec:
    """Translate a camera URL into what FFmpeg needs. Pure: no I/O."""
    if has_secret_ref(url):  # app.keystore had no value for a reference: say so, never send the reference
        raise SourceError(StreamState.ERROR, f"{MISSING_WORDS}: enter it again (Cameras, Edit)")
    scheme = url.split(":", 1)[0].lower()
    pw = url_password(url)
    secrets = tuple(dict.fromkeys(((pw,) if pw else ()) + url_secrets(url)))
    fast = {"fflags": "nobuffer", "probesize": "65536", "analyzeduration": "1000000"} if low_latency else {}
    us = str(int(read_timeout_s * 1_000_000))
    if scheme in ("rtsp", "rtsps"):
        opts = {"rtsp_transport": transport, "timeout": us, "rtsp_flags": "prefer_tcp"}
        if transport == "udp":
            opts.pop("rtsp_flags")
            opts["buffer_size"] = "1048576"
            opts["reorder_queue_size"] = "64"
        return SourceSpec(url, None, {**opts, **fast}, paced=False, secrets=secrets)
    if scheme in ("rtmp", "rtmps"):
        return SourceSpec(url, None, {"rw_timeout": us, "tcp_nodelay": "1", **fast}, paced=False, secrets=secrets)
    if scheme in ("http", "https"):
        opts = {"rw_timeout": us, "reconnect": "0", "http_persistent": "1", "user_agent": "Vigil"}
        if url.split("?", 1)[0].lower().endswith(".m3u8"):
            # Live HLS starts one whole segment behind the newest (FFmpeg's default is three): played at the
            # pace of its timestamps, the next segment is then published before it is needed, so a healthy
            # stream never waits on the packager (from the newest one it raced it at every segment).
            opts["live_start_index"] = "-2"
            return SourceSpec(url, None, opts, paced=True, secrets=secrets, hls=True)
        # progressive HTTP (MPEG-TS, FLV, MJPEG over HTTP) can also arrive faster than real time
        return SourceSpec(url, None, opts, paced=True, secrets=secrets)
    if scheme == "file":
        return SourceSpec(urlsplit(url).path, None, {}, paced=True, loops=True)
    if scheme == "lavfi":
        return SourceSpec(url.split(":", 1)[1].lstrip("/"), "lavfi", {}, paced=True, loops=True)
    if scheme == "demo":
        return _demo_spec(url)
    raise SourceError(StreamState.ERROR, f"unsupported URL scheme {scheme!r}")


def _demo_spec(url: str) -> SourceSpec:
    """``demo://NAME?pattern=life&size=640x360&rate=15&outage=12/45``: synthetic camera.

    ``outage=D/P`` makes the camera unreachable for D seconds out of every P (to show OFFLINE and
    recovery on the demo wall without a server).
    """
    parts = urlsplit(url)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    pattern = q.get("pattern", "testsrc2")
    if pattern not in DEMO_PATTERNS:
        raise SourceError(StreamState.ERROR, f"unknown demo pattern {pattern!r}")
    graph = DEMO_PATTERNS[pattern].format(size=q.get("size", "640x360"), rate=q.get("rate", "15"))
    outage = None
    if "outage" in q:
        down, _, period = q["outage"].partition("/")
        outage = (float(down), float(period or 60))
    return SourceSpec(graph, "lavfi", {}, paced=True, outage=outage, loops=True)


def demo_outage_active(outage: tuple[float, float] | None, now: float | None = None) -> bool:
    """True while a demo source is in its scheduled outage (the last D seconds of each period)."""
    if not outage:
        return False
    down, period = outage
    t = (time.time() if now is None else now) % period
    return t >= period - down


def resolve_host(url: str) -> None:
    """Resolve the URL's host name first: FFmpeg reports DNS failures as a bare I/O error for RTSP."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        raise SourceError(StreamState.ERROR, "malformed URL") from None
    if not host:
        return
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise SourceError(StreamState.OFFLINE, f"DNS: host name {host!r} not found", str(e)) from None
    except UnicodeError:
        raise SourceError(StreamState.ERROR, f"malformed host name {host!r}") from None


def open_source(spec: SourceSpec, open_timeout_s: float, read_timeout_s: float) -> av.container.InputContainer:
    """Open *spec*; raise :class:`SourceError` with a reason an operator understands."""
    if demo_outage_active(spec.outage):
        raise SourceError(StreamState.OFFLINE, "connection refused (demo outage)")
    if spec.format is None and "://" in spec.target:
        resolve_host(spec.target)
    t0 = time.monotonic()
    try:
        return av.open(
            spec.target,
            format=spec.format,
            options=dict(spec.options),
            timeout=(open_timeout_s, read_timeout_s),
        )
    except Exception as e:
        waited = time.monotonic() - t0
        scheme, hls = _scheme_of(spec)
        raise classify_error(e, spec.secrets, opening=True, waited_s=waited, timeout_s=open_timeout_s,
                             read_timeout_s=_socket_timeout_s(spec) or read_timeout_s, scheme=scheme,
                             hls=hls) from None  # fmt: skip


def _socket_timeout_s(spec: SourceSpec) -> float | None:
    """The socket time-out FFmpeg was given (RTSP's ``timeout``, RTMP/HTTP's ``rw_timeout``, microseconds)."""
    us = spec.options.get("rw_timeout") or spec.options.get("timeout")
    try:
        return int(us) / 1_000_000 if us else None
    except ValueError:
        return None


def _scheme_of(spec: SourceSpec) -> tuple[str, bool]:
    """(URL scheme, is an HLS playlist) of a network source; ("", False) for files and synthetic sources."""
    if spec.format is not None or "://" not in spec.target:
        return "", False
    scheme = spec.target.split(":", 1)[0].lower()
    return scheme, scheme in ("http", "https") and spec.target.split("?", 1)[0].lower().endswith(".m3u8")


_URL_RE = re.compile(r"[a-z][a-z0-9+.-]*://\S*")


def _code(text: str, status: int) -> bool:
    """An HTTP/RTSP status code standing alone in *text* (not part of a number, port or path)."""
    return re.search(rf"(?<![\w.:/-]){status}(?![\w.-])", text) is not None


# What FFmpeg returns when PyAV's interrupt callback ends a call blocked past its time-out depends on the
# protocol's read loop, not on what happened: RTSP's reply reader turns the abort into AVERROR_INVALIDDATA
# (a server that accepts the connection and never answers read "invalid data: not a stream Vigil can
# read"), HTTP/RTMP into AVERROR_EXIT, socket options into ETIMEDOUT/EIO/EAGAIN. So a call that blocked
# for its whole time-out and then failed with one of these is a time-out, whatever the code says.
_ABORT_ERRNOS = frozenset({errno.EIO, errno.EAGAIN, errno.ETIMEDOUT, errno.EINTR})
_TIMEOUT_SLACK = 0.9  # the interrupt fires once the time-out has passed; allow for clock granularity


def _interrupted(exc: BaseException, waited_s: float | None, timeout_s: float | None) -> bool:
    """True when *exc* is PyAV's time-out interrupt (or a socket time-out), in whatever code it came back."""
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        return True
    if getattr(exc, "errno", None) == errno.ETIMEDOUT:
        return True
    if waited_s is None or not timeout_s or waited_s < timeout_s * _TIMEOUT_SLACK:
        return False
    return isinstance(exc, av.error.InvalidDataError) or getattr(exc, "errno", None) in _ABORT_ERRNOS


def _seconds(s: float) -> str:
    """Seconds in words: whole near a whole number ("8 s" for a timer of 8 s that fired at 8.03), else "1.5 s"."""
    return f"{s:.0f} s" if s >= 10 or (s >= 1.5 and abs(s - round(s)) <= 0.15) else f"{s:.1f} s"


# Reason prefixes that say whether the camera's host answered on the stream port. The health monitor reads
# them back (app/health/reachability.py) to judge NETWORK_DOWN from the pipeline's own connection, so they
# are part of the contract: "refused" = the host is up and nothing listens; "timed out connecting" and
# "unreachable" = nothing answered; "DNS:" = no address; every other down reason = the server answered.
REFUSED_WORDS = "connection refused"
CONNECT_TIMEOUT_WORDS = "timed out connecting"
UNREACHABLE_WORDS = "unreachable"
DNS_WORDS = "DNS:"
SILENT_WORDS = "connected, but the server sent nothing"
FOREIGN_WORDS = "the server sent data that is not"
NO_VIDEO_WORDS = "connected, but no video came"


def silent_reason(waited_s: float | None) -> str:
    """Words for a server that took the TCP connection and then sent nothing (hung, or waiting for another
    protocol's first word) until the open gave up."""
    return f"{SILENT_WORDS} for {_seconds(waited_s)}" if waited_s else SILENT_WORDS


@dataclass(frozen=True, slots=True)
class _Client:
    """How FFmpeg's client for one protocol ends an open that fails. Measured (FFmpeg 8 through PyAV 18)
    against loopback peers: a port whose SYNs are dropped, a server that accepts and stays silent, one that
    sends random bytes, one that hangs up at once; docs/pipeline.md "Errors in words" has the table."""

    label: str  # what the server should have spoken, as the words say it: "RTSP", "RTMP", "HLS"
    # The TCP connect time-out of FFmpeg's client: RTSP hands its socket time-out (``timeout`` = our
    # read_timeout_s) to the TCP layer (None here); RTMP and HTTP leave FFmpeg's TCP default of 5 s.
    connect_s: float | None
    foreign_invalid: bool = False  # INVALIDDATA = the server's bytes are not this protocol (HTTP's parser)
    foreign_eio: bool = False  # a quick EIO = the handshake read bytes that are not this protocol (RTMP, TLS)
    # RTSP: any failure before a valid status line is INVALIDDATA (FFmpeg's OPTIONS reply had status 0):
    # silent, foreign bytes and a hang-up all read the same code; only the time tells them apart.
    status_line: bool = False


_FFMPEG_TCP_CONNECT_S = 5.0  # libavformat/tcp.c: open_timeout when the tcp protocol's "timeout" is unset
_CLIENTS = {
    "rtsp": _Client("RTSP", None, status_line=True),
    "rtsps": _Client("RTSPS", None, foreign_eio=True),
    "rtmp": _Client("RTMP", _FFMPEG_TCP_CONNECT_S, foreign_eio=True),
    "rtmps": _Client("RTMPS", _FFMPEG_TCP_CONNECT_S, foreign_eio=True),
    "http": _Client("HTTP video", _FFMPEG_TCP_CONNECT_S, foreign_invalid=True),
    "https": _Client("HTTP video", _FFMPEG_TCP_CONNECT_S, foreign_invalid=True, foreign_eio=True),
}


def _near(a: float, b: float) -> bool:
    """Two times of the same timer firing (scheduling and poll granularity: 10 % + 0.2 s)."""
    return abs(a - b) <= 0.1 * b + 0.2


def _fired(waited: float, timer_s: float) -> bool:
    """The wait ended when a timer of *timer_s* fired: FFmpeg polls its socket in 100 ms steps, so a silent
    server's time-out lands 0-150 ms after it, plus scheduling on a busy machine; a narrow window, so that
    foreign bytes that end the wait by themselves are rarely taken for silence."""
    return timer_s - 0.05 <= waited <= timer_s * 1.1 + 0.35


def _open_failure(
    exc: BaseException, client: _Client, label: str, waited: float, open_s: float, read_s: float | None
) -> str | None:
    """Words for a network open that failed without a status of its own, by what happened on the wire: no
    TCP answer ("timed out connecting"), connected and silent, connected and bytes that are not the protocol;
    None = not decided here (the caller's general rules apply).

    What tells them apart is which timer ended the open: PyAV's interrupt at *open_s*, the socket time-out
    *read_s* (RTSP's ``timeout``, RTMP/HTTP's ``rw_timeout``: it fires only on silence), or the TCP connect
    time-out (RTSP: *read_s*; RTMP/HTTP: FFmpeg's 5 s). A wait longer than any connect could take means the
    connection was made.
    """
    sock_s = read_s or open_s
    first_s = min(open_s, sock_s)  # the first timer to end a silent wait
    quick = waited < first_s * _TIMEOUT_SLACK
    code = getattr(exc, "errno", None)
    sock_timeout = isinstance(exc, av.error.TimeoutError | TimeoutError) or code == errno.ETIMEDOUT
    interrupted = isinstance(exc, av.error.ExitError)
    invalid = isinstance(exc, av.error.InvalidDataError)
    foreign = f"{FOREIGN_WORDS} {label}"
    # the socket time-out is shorter than the open's: a silent server would have hit it, so a wait that ran to
    # the open's interrupt had bytes arriving all along
    busy = sock_s < open_s * _TIMEOUT_SLACK and waited >= open_s * _TIMEOUT_SLACK
    connect_s = min(open_s, client.connect_s or sock_s)
    past_connect = waited > connect_s * 1.1 + 0.2  # a connect would have failed by now: it was made
    if client.status_line and invalid:
        if quick:
            return f"{foreign}, or closed the connection"
        if not busy and (_fired(waited, sock_s) or _fired(waited, open_s)):
            # a silent server ends on a timer; so do bytes that never stop when the timers are equal (8/8)
            return silent_reason(waited)
        # Ended by the bytes themselves (FFmpeg's reply reader gives up on some foreign lines, at any moment
        # from 0 to 5 s of random bytes; at such a moment within a timer's window it reads as silent), or
        # they kept coming until the open's interrupt.
        return foreign
    if (client.foreign_invalid and invalid) or (client.foreign_eio and quick and code == errno.EIO):
        return foreign
    if not (sock_timeout or interrupted):
        return None
    if past_connect:
        if client.status_line:  # RTSP spoke (its failures before a status line read INVALIDDATA), then no media
            return f"{NO_VIDEO_WORDS} in {_seconds(waited)}"
        return foreign if busy else silent_reason(waited)
    # the socket (read) time-out, not the connect's: it came before FFmpeg's connect time-out could (a connect
    # cannot time out sooner), or at the socket time-out and not at the connect's
    read_timed_out = client.connect_s is not None and sock_timeout and waited >= sock_s * _TIMEOUT_SLACK
    if read_timed_out and (
        waited < client.connect_s * _TIMEOUT_SLACK or (_near(waited, sock_s) and not _near(waited, client.connect_s))
    ):
        return silent_reason(waited)
    return timeout_reason(True, waited, None)


def timeout_reason(opening: bool, waited_s: float | None, timeout_s: float | None) -> str:
    """Words for a time-out, by the phase it hit: opening (no answer) or reading (hung: connected, silent)."""
    n = max(waited_s or 0.0, timeout_s or 0.0)
    if opening:
        return f"timed out connecting: no answer in {_seconds(n)}" if n else "timed out connecting: no answer"
    return f"hung: connected, but no data for {_seconds(n)}" if n else "hung: connected, but no data"


def classify_error(
    exc: BaseException,
    secrets: tuple[str, ...] = (),
    opening: bool = False,
    *,
    waited_s: float | None = None,
    timeout_s: float | None = None,
    read_timeout_s: float | None = None,
    scheme: str = "",
    hls: bool = False,
) -> SourceError:
    """Map a PyAV/FFmpeg/OS exception to (state, words). Never leaks the URL's password.

    *opening*: the error ended the open (connect, handshake, stream probe), else a read of a connected
    stream. *waited_s*: how long the failed call (open) or the connection (read: since the last packet)
    had been without data; *timeout_s*: the time-out in force. With both, a time-out interrupt that
    FFmpeg reported as some other error is still said as a time-out (see ``_ABORT_ERRNOS``).

    An open of a network URL (*scheme*: "rtsp", "rtmp", "http", ...; *hls*: an HTTP(S) playlist) that
    also knows the socket time-out (*read_timeout_s*) is said by what happened on the wire (``_open_failure``):
    no TCP answer ("timed out connecting"), connected and silent ("connected, but the server sent nothing
    for 8 s") or foreign bytes ("the server sent data that is not RTSP"). Those are OFFLINE: the device is
    not serving video there. ERROR stays for what a retry cannot fix (no decoder, rejected options, a
    file that is not a stream).
    """
    detail = scrub(f"{type(exc).__name__}: {exc}", secrets)
    # Match words in the message, never in the URL it quotes: "Connection refused: 'rtsp://h:38401/cam1'"
    # once read as "401 unauthorized" (the port held 401).
    text = _URL_RE.sub(" ", str(exc).lower())
    st = StreamState.OFFLINE
    if isinstance(exc, av.error.ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return SourceError(st, "connection refused: nothing listening at that address", detail)
    if isinstance(exc, av.error.HTTPUnauthorizedError) or _code(text, 401) or "unauthorized" in text:
        return SourceError(st, "401 unauthorized: wrong user name or password", detail)
    if isinstance(exc, av.error.HTTPForbiddenError) or _code(text, 403):
        return SourceError(st, "403 forbidden: the server refuses this account", detail)
    if isinstance(exc, av.error.HTTPNotFoundError) or _code(text, 404) or ("not found" in text and "stream" in text):
        return SourceError(st, "404 not found: no such stream on the server", detail)
    if isinstance(exc, av.error.HTTPServerError) or ("server returned 5" in text):
        return SourceError(st, "server error (HTTP 5xx)", detail)
    if isinstance(exc, av.error.ConnectionResetError):
        return SourceError(st, "connection reset by the server", detail)
    client = _CLIENTS.get(scheme.lower()) if opening and waited_s is not None and timeout_s else None
    if client is not None:
        said = _open_failure(exc, client, "HLS" if hls else client.label, waited_s, timeout_s, read_timeout_s)
        if said is not None:
            return SourceError(st, said, detail)
    if _interrupted(exc, waited_s, timeout_s) or "timed out" in text or "timeout" in text:
        return SourceError(st, timeout_reason(opening, waited_s, timeout_s), detail)
    if (
        "name or service not known" in text
        or "temporary failure in name resolution" in text
        or "no address associated" in text
        or "failed to resolve" in text
    ):
        return SourceError(st, "DNS: host name not found", detail)
    if isinstance(exc, av.error.EOFError):
        return SourceError(st, "stream ended (server closed the connection)", detail)
    if isinstance(exc, av.error.FileNotFoundError):
        return SourceError(st, "404 not found: no such file or stream", detail)
    if isinstance(exc, av.error.DecoderNotFoundError):
        return SourceError(StreamState.ERROR, "unsupported codec: no decoder for this stream", detail)
    if isinstance(exc, av.error.InvalidDataError):
        return SourceError(StreamState.ERROR, "invalid data: not a stream Vigil can read", detail)
    if isinstance(exc, av.error.OptionNotFoundError | av.error.ArgumentError):
        return SourceError(StreamState.ERROR, "invalid source settings (FFmpeg rejected an option)", detail)
    if isinstance(exc, av.error.ProtocolNotFoundError):
        return SourceError(StreamState.ERROR, "unsupported protocol", detail)
    if isinstance(exc, OSError | av.error.FFmpegError):
        msg = scrub(getattr(exc, "strerror", None) or str(exc), secrets)
        if getattr(exc, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
            return SourceError(st, f"{UNREACHABLE_WORDS}: {msg}", detail)
        return SourceError(st, f"network error: {msg}", detail)
    return SourceError(StreamState.ERROR, f"unexpected error: {type(exc).__name__}", detail)

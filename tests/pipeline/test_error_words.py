"""Errors in words, by what happened on the wire: no TCP answer, connected and silent, bytes that are not the
protocol - each said as such and OFFLINE (the device is not serving video there), never "invalid data" and
never ERROR (which raises CameraError "cannot be decoded", a fault a retry cannot fix).

The first half feeds ``classify_error`` the codes and times FFmpeg 8 was measured to give (docs/pipeline.md,
"Errors in words"); the second half opens real loopback peers - a silent server, a random-bytes server, a
port that drops SYNs - with FFmpeg for rtsp://, rtmp:// and an HTTP .m3u8, directly and through
CameraPipeline. Time bounds are hang checks only.
"""

from __future__ import annotations

import errno
import time
from concurrent.futures import ThreadPoolExecutor

import av.error
import pytest

from app.alerts.outage import OutageTracker
from app.alerts.rules import DEFAULT_RULES
from app.pipeline.pipeline import PipelineOptions
from app.pipeline.source import SourceError, build_spec, classify_error, open_source
from app.pipeline.state import StreamState
from tests.helpers import wait_for
from tests.probes.tcp_peers import DroppingPort, GarbageServer, SilentServer

OFFLINE, ERROR = StreamState.OFFLINE, StreamState.ERROR
CONNECT = "timed out connecting: no answer in "
SILENT = "connected, but the server sent nothing for "


def ffmpeg_error(code: int | bytes, url: str) -> av.error.FFmpegError:
    """The exception PyAV raises for FFmpeg's return value: an errno (EIO) or an FFERRTAG (b"INDA", b"EXIT")."""
    value = -av.error.tag_to_code(code) if isinstance(code, bytes) else -code
    try:
        av.error.err_check(value, url)
    except av.error.FFmpegError as e:
        return e
    raise AssertionError(f"err_check({value}) raised nothing")


INDA, EXIT, ETIMEDOUT, EIO = b"INDA", b"EXIT", errno.ETIMEDOUT, errno.EIO

# (scheme, hls, FFmpeg's code, seconds the open took, open_timeout_s, read_timeout_s) -> words: as measured
# against loopback peers (a port dropping SYNs, a silent server, a random-bytes server, one that hangs up)
MEASURED = [
    # RTSP: the socket time-out (read_timeout_s) is also its TCP connect time-out; INVALIDDATA = no status line
    ("rtsp", False, ETIMEDOUT, 8.04, 8, 8, CONNECT + "8 s"),  # SYNs dropped
    ("rtsp", False, INDA, 8.03, 8, 8, SILENT + "8 s"),  # silent
    ("rtsp", False, INDA, 8.12, 10, 8, SILENT + "8 s"),
    ("rtsp", False, INDA, 10.0, 10, 8, "the server sent data that is not RTSP"),  # bytes kept coming
    ("rtsp", False, ETIMEDOUT, 1.51, 6, 1.5, CONNECT + "1.5 s"),
    ("rtsp", False, INDA, 1.61, 6, 1.5, SILENT + "1.6 s"),
    ("rtsp", False, INDA, 6.01, 6, 1.5, "the server sent data that is not RTSP"),
    ("rtsp", False, INDA, 0.2, 6, 1.5, "the server sent data that is not RTSP, or closed the connection"),
    ("rtsp", False, EXIT, 3.01, 3, 8, CONNECT + "3 s"),  # the open's interrupt during the connect
    # RTMP: FFmpeg's TCP connect time-out is 5 s; random bytes fail its handshake at once (EIO)
    ("rtmp", False, ETIMEDOUT, 5.03, 8, 8, CONNECT + "5 s"),
    ("rtmp", False, EXIT, 8.03, 8, 8, SILENT + "8 s"),  # past any connect: connected
    ("rtmp", False, ETIMEDOUT, 3.11, 8, 3, SILENT + "3 s"),  # the socket's read time-out, not the connect's
    ("rtmp", False, ETIMEDOUT, 5.02, 8, 3, CONNECT + "5 s"),
    ("rtmp", False, EIO, 0.03, 8, 8, "the server sent data that is not RTMP"),
    # an interrupt before FFmpeg's own connect time-out cannot tell a dropped SYN from silence: said as before
    ("rtmp", False, EXIT, 3.01, 3, 8, CONNECT + "3 s"),
    # HTTP / HLS: INVALIDDATA = the answer is not HTTP (or not a playlist)
    ("http", True, INDA, 8.04, 8, 8, "the server sent data that is not HLS"),
    ("http", True, EXIT, 8.03, 8, 8, SILENT + "8 s"),
    ("http", True, ETIMEDOUT, 5.07, 8, 8, CONNECT + "5 s"),
    ("http", True, ETIMEDOUT, 1.61, 6, 1.5, SILENT + "1.6 s"),
    ("http", False, INDA, 0.4, 8, 8, "the server sent data that is not HTTP video"),
    ("https", True, EIO, 0.01, 8, 2, "the server sent data that is not HLS"),  # not TLS
    ("rtmps", False, EIO, 0.01, 8, 2, "the server sent data that is not RTMPS"),
    # RTSPS: silent TLS handshake and dropped SYNs both end at the socket time-out: said as a connect time-out
    ("rtsps", False, ETIMEDOUT, 2.11, 8, 2, CONNECT + "2 s"),
]


@pytest.mark.parametrize(("scheme", "hls", "code", "waited", "open_s", "read_s", "words"), MEASURED)
def test_an_open_is_said_by_what_happened_on_the_wire(scheme, hls, code, waited, open_s, read_s, words):
    exc = ffmpeg_error(code, f"{scheme}://admin:pw@127.0.0.1:8554/cam1")
    e = classify_error(exc, ("pw",), opening=True, waited_s=waited, timeout_s=open_s, read_timeout_s=read_s,
                       scheme=scheme, hls=hls)  # fmt: skip
    assert (e.state, e.reason) == (OFFLINE, words), (code, waited)
    assert "invalid data" not in e.reason and "pw" not in e.detail


def test_the_wire_words_are_for_opens_only_and_for_network_urls_only():
    """A read that fails keeps its own words (hung, corrupt data); a file that is not a stream stays ERROR."""
    url = "rtsp://127.0.0.1:8554/cam1"
    e = classify_error(ffmpeg_error(EXIT, url), waited_s=8.02, timeout_s=8.0, read_timeout_s=8.0, scheme="rtsp")
    assert e.reason == "hung: connected, but no data for 8 s"
    e = classify_error(ffmpeg_error(INDA, "/videos/notes.txt"), opening=True, waited_s=0.01, timeout_s=8.0,
                       read_timeout_s=8.0, scheme="")  # fmt: skip
    assert (e.state, e.reason) == (ERROR, "invalid data: not a stream Vigil can read")
    # without the scheme (an older caller) the general rules apply, as before
    e = classify_error(ffmpeg_error(INDA, url), opening=True, waited_s=0.3, timeout_s=2.0)
    assert (e.state, e.reason) == (ERROR, "invalid data: not a stream Vigil can read")


def test_a_quick_rtsp_io_error_and_a_refusal_keep_their_words():
    url = "rtsp://127.0.0.1:8554/cam1"
    quick_eio = classify_error(ffmpeg_error(EIO, url), opening=True, waited_s=0.05, timeout_s=8, read_timeout_s=8,
                               scheme="rtsp")  # fmt: skip
    assert quick_eio.reason == "network error: Input/output error"
    refused = classify_error(ffmpeg_error(errno.ECONNREFUSED, url), opening=True, waited_s=0.0, timeout_s=8,
                             read_timeout_s=8, scheme="rtsp")  # fmt: skip
    assert refused.reason == "connection refused: nothing listening at that address"
    unreachable = classify_error(ffmpeg_error(errno.EHOSTUNREACH, url), opening=True, waited_s=0.0, timeout_s=8,
                                 read_timeout_s=8, scheme="rtsp")  # fmt: skip
    assert unreachable.state is OFFLINE and unreachable.reason.startswith("unreachable: ")


# ---------------------------------------------------------------------------- real peers, real FFmpeg

OPEN_S, READ_S = 6.0, 1.0  # HTTP's random-bytes case needs an open past ~5 s to reach INVALIDDATA
URLS = {"rtsp": ("rtsp", "/cam1", False), "rtmp": ("rtmp", "/live/x", False), "hls": ("http", "/live.m3u8", True)}
FOREIGN = {"rtsp": "RTSP", "rtmp": "RTMP", "hls": "HLS"}
# FFmpeg's RTSP reply reader gives up on some random lines by itself, at any moment; one in a few dozen of
# those moments falls in the narrow window of the socket time-out and reads as silence (docs/pipeline.md)
RANDOM_END_MAY_READ_SILENT = {"rtsp"}


def _open(url: str) -> tuple[SourceError, float]:
    spec = build_spec(url, read_timeout_s=READ_S)
    t0 = time.monotonic()
    with pytest.raises(SourceError) as info:
        open_source(spec, OPEN_S, READ_S).close()
    return info.value, time.monotonic() - t0


@pytest.mark.parametrize("kind", sorted(URLS))
def test_silent_random_bytes_and_dropped_syns_each_in_their_own_words(kind):
    """One server per behaviour (the random-bytes one opened twice), opened side by side: each open waits on
    its own timer."""
    scheme, path, _ = URLS[kind]
    with SilentServer() as silent, GarbageServer() as garbage, DroppingPort() as dropping:
        urls = {"silent": silent.url(scheme, path), "garbage": garbage.url(scheme, path),
                "garbage2": garbage.url(scheme, path), "dropping": dropping.url(scheme, path)}  # fmt: skip
        with ThreadPoolExecutor(len(urls)) as pool:
            got = dict(zip(urls, pool.map(_open, urls.values()), strict=True))
    for peer, (e, took) in got.items():
        assert e.state is OFFLINE, (peer, e.reason, e.detail)
        assert "invalid data" not in e.reason, (peer, e.detail)
        assert took < OPEN_S + READ_S + 10, (peer, took)  # a hang check
    assert got["silent"][0].reason.startswith(SILENT), got["silent"][0].detail
    assert got["dropping"][0].reason.startswith(CONNECT), got["dropping"][0].detail
    foreign = f"the server sent data that is not {FOREIGN[kind]}"
    said = [got[g][0].reason for g in ("garbage", "garbage2")]
    if kind in RANDOM_END_MAY_READ_SILENT:
        assert all(r.startswith((foreign, SILENT)) for r in said) and any(r.startswith(foreign) for r in said), said
    else:
        assert all(r.startswith(foreign) for r in said), said


def test_through_the_pipeline_a_silent_or_garbage_server_is_offline_not_a_camera_error(make_pipeline):
    """CameraPipeline against each peer: OFFLINE with the words, never ERROR; the alert is CameraOffline."""
    opts = PipelineOptions(open_timeout_s=OPEN_S, read_timeout_s=READ_S, stall_after_s=2, backoff_initial_s=0.2,
                           backoff_cap_s=1.0)  # fmt: skip
    with SilentServer() as silent, GarbageServer() as garbage:
        cases = {}
        for kind, (scheme, path, _) in URLS.items():
            cases[f"{kind}-silent"] = (silent.url(scheme, path), SILENT)
            cases[f"{kind}-garbage"] = (garbage.url(scheme, path), f"the server sent data that is not {FOREIGN[kind]}")
        seen: dict[str, set] = {cid: set() for cid in cases}
        reasons: dict[str, list[str]] = {cid: [] for cid in cases}

        def on_state(p, old, new, reason):
            seen[p.camera_id].add(new)
            if new is OFFLINE:
                reasons[p.camera_id].append(reason)

        pipes = {}
        for cid, (url, _) in cases.items():
            p = make_pipeline(url, cid, options=opts, box=None)
            p.add_state_listener(on_state)
            pipes[cid] = p
        # a few attempts each (the pipeline retries): the words of every attempt, and at least one as expected
        wait_for(lambda: all(any(r.startswith(cases[c][1]) for r in reasons[c]) for c in cases), OPEN_S * 4 + 20,
                 what=f"each camera OFFLINE in its own words ({reasons})")  # fmt: skip
        snaps = {cid: p.snapshot() for cid, p in pipes.items()}
        said_by = {cid: list(r) for cid, r in reasons.items()}  # before the servers go ("stream ended")
    for cid, said in said_by.items():
        assert ERROR not in seen[cid], cid
        assert not any("invalid data" in r for r in said), (cid, said)
        if not cid.endswith("garbage") or cid.split("-")[0] not in RANDOM_END_MAY_READ_SILENT:
            assert all(r.startswith(cases[cid][1]) for r in said), (cid, said)
    down = [s for s in snaps.values() if s.is_down]
    alerts = OutageTracker().observe(time.time() + 60, down, DEFAULT_RULES)
    assert down and {a.rule.alertname for a in alerts} == {"CameraOffline"}, [
        (a.rule.alertname, a.detail) for a in alerts
    ]

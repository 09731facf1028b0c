"""Down means down, in the core: the outage facts of a snapshot across a simulated outage (an injected clock,
``state.transition``), and FFmpeg's errors said by what happened, never "invalid data" for a time-out.

No threads and no servers, except one loopback socket that accepts connections and never answers: the way a
hung camera looks to FFmpeg's RTSP client, which reports the time-out as AVERROR_INVALIDDATA.
"""

from __future__ import annotations

import errno
import socket

import av.error
import pytest

from app.pipeline.source import SourceError, build_spec, classify_error, open_source
from app.pipeline.state import HealthSnapshot, StreamState, transition

LIVE, CONNECTING, STALLED = StreamState.LIVE, StreamState.CONNECTING, StreamState.STALLED
OFFLINE, ERROR = StreamState.OFFLINE, StreamState.ERROR


def ffmpeg_error(code: int | bytes, url: str = "rtsp://127.0.0.1:8554/cam1") -> av.error.FFmpegError:
    """The exception PyAV raises for FFmpeg's return value: an errno (EIO) or an FFERRTAG (b"INDA", b"EXIT")."""
    value = -av.error.tag_to_code(code) if isinstance(code, bytes) else -code
    try:
        av.error.err_check(value, url)
    except av.error.FFmpegError as e:
        return e
    raise AssertionError(f"err_check({value}) raised nothing")


# ---------------------------------------------------------------------------- the outage, step by step


class Clock:
    """The pipeline's side of a camera's life, with UNIX times chosen by the test."""

    def __init__(self) -> None:
        self.snap = HealthSnapshot(camera_id="gate", name="Gate")
        self.last_picture: float | None = None

    def to(self, state: StreamState, reason: str, at: float, wait: float | None = None) -> HealthSnapshot:
        self.snap = transition(self.snap, state, reason, at, last_picture_at=self.last_picture, next_in_s=wait)
        return self.snap

    def picture(self, at: float) -> HealthSnapshot:
        self.last_picture = at
        return self.to(LIVE, "receiving pictures", at)


def test_an_outage_is_dated_from_the_last_picture_through_every_retry_and_ends_at_the_next_picture():
    c = Clock()
    c.to(CONNECTING, "connecting", 1000.0)
    assert not c.snap.is_down and c.snap.down_since is None  # the very first connect is not an outage
    c.picture(1001.0)
    c.picture(1053.2)  # the last picture before the server hangs
    s = c.to(STALLED, "connected, but no picture for 3 s", 1056.5)
    assert s.is_down and s.down_since == 1053.2 and s.reconnect_attempt == 0 and s.next_attempt_at is None
    s = c.to(OFFLINE, "hung: connected, but no data for 8 s", 1061.4, wait=0.5)
    assert (s.down_since, s.reconnect_attempt, s.next_attempt_at) == (1053.2, 1, 1061.9)
    seen = []
    at = 1061.9
    for n in range(1, 5):  # four more attempts, each timing out while opening
        s = c.to(CONNECTING, f"reconnecting (attempt {n})", at)
        assert s.is_down, "a reconnect is down: there is no fresh picture"
        assert s.next_attempt_at is None and s.reconnect_attempt == n
        s = c.to(OFFLINE, "timed out connecting: no answer in 8 s", at + 8.0, wait=2.0**n)
        assert s.next_attempt_at == at + 8.0 + 2.0**n and s.reconnect_attempt == n + 1
        seen.append(s)
        at = s.next_attempt_at
    assert {x.down_since for x in seen} == {1053.2}, "a retry moved the outage's start"
    assert len({x.state_since for x in seen}) == 4  # (state_since does move: it is the state's, not the outage's)
    s = c.to(CONNECTING, "reconnecting (attempt 5)", at)
    s = c.picture(at + 1.5)
    assert s.state is LIVE and not s.is_down
    assert s.down_since is None and s.reconnect_attempt == 0 and s.next_attempt_at is None
    assert s.recovered_at == at + 1.5
    assert s.last_outage_s == pytest.approx(at + 1.5 - 1053.2)
    # the next outage starts from its own last picture; the last one's facts stay until it ends
    c.picture(at + 30.0)
    s = c.to(OFFLINE, "connection refused: nothing listening at that address", at + 31.0, wait=0.5)
    assert s.down_since == at + 30.0 and s.reconnect_attempt == 1
    assert s.recovered_at == at + 1.5


def test_a_camera_that_never_showed_a_picture_is_down_since_its_first_failure():
    c = Clock()
    c.to(CONNECTING, "connecting", 500.0)
    s = c.to(OFFLINE, "connection refused: nothing listening at that address", 500.2, wait=0.5)
    assert s.down_since == 500.2 and s.reconnect_attempt == 1
    c.to(CONNECTING, "reconnecting (attempt 1)", 500.7)
    s = c.to(ERROR, "unsupported codec: no decoder for this stream", 501.0, wait=1.0)
    assert s.down_since == 500.2 and s.reconnect_attempt == 2 and s.last_error.startswith("unsupported codec")
    s = c.picture(510.0)
    assert s.recovered_at == 510.0 and s.last_outage_s == pytest.approx(9.8)


def test_stalled_then_pictures_on_the_same_connection_is_a_short_outage():
    c = Clock()
    c.picture(100.0)
    c.to(STALLED, "connected, but no picture for 3 s", 103.1)
    s = c.picture(104.0)
    assert s.down_since is None and s.recovered_at == 104.0 and s.last_outage_s == pytest.approx(4.0)


def test_recovery_is_dated_from_the_first_picture_back():
    """The pipeline waits for a second picture before it calls a camera back (``back_at``: the first one)."""
    c = Clock()
    c.picture(100.0)
    c.to(OFFLINE, "hung: connected, but no data for 8 s", 108.0, wait=1.0)
    s = transition(c.snap, LIVE, "receiving pictures", 120.07, last_picture_at=120.07, back_at=120.0)
    assert s.recovered_at == 120.0 and s.last_outage_s == pytest.approx(20.0)


def test_a_file_looping_to_its_start_is_not_an_outage():
    """Paced files end and reopen (CONNECTING "end of file, restarting"): no failure, no down tile."""
    c = Clock()
    c.picture(10.0)
    s = c.to(CONNECTING, "end of file, restarting", 20.0, wait=0.5)
    assert not s.is_down and s.down_since is None and s.reconnect_attempt == 0 and s.next_attempt_at == 20.5
    s = c.picture(20.7)
    assert s.recovered_at is None and s.last_outage_s == 0.0


def test_the_same_state_and_reason_again_changes_nothing():
    c = Clock()
    c.picture(1.0)
    before = c.snap
    assert c.picture(2.0) is before  # one picture after another is not a state change


def test_is_down_of_the_state_and_of_the_snapshot():
    """``StreamState.is_down`` keeps its meaning (STALLED, OFFLINE, ERROR); the snapshot's adds a reconnect."""
    assert [s for s in StreamState if s.is_down] == [STALLED, OFFLINE, ERROR]
    first = HealthSnapshot(camera_id="a", name="A", state=CONNECTING)
    reconnect = HealthSnapshot(camera_id="a", name="A", state=CONNECTING, down_since=5.0)
    assert not first.is_down and reconnect.is_down
    assert HealthSnapshot(camera_id="a", name="A", state=OFFLINE).is_down  # no down_since: still down
    assert not HealthSnapshot(camera_id="a", name="A", state=LIVE, down_since=None).is_down


# ---------------------------------------------------------------------------- errors in words


def test_a_time_out_while_opening_is_said_as_one_whatever_code_ffmpeg_returned():
    """PyAV's interrupt ends an open blocked past open_timeout_s; RTSP reports it as AVERROR_INVALIDDATA,
    HTTP/RTMP as AVERROR_EXIT, socket options as ETIMEDOUT/EIO."""
    for code in (b"INDA", b"EXIT", errno.ETIMEDOUT, errno.EIO, errno.EAGAIN):
        e = classify_error(ffmpeg_error(code), opening=True, waited_s=2.01, timeout_s=2.0)
        assert (e.state, e.reason) == (OFFLINE, "timed out connecting: no answer in 2 s"), code


def test_a_time_out_while_reading_is_a_hung_connection():
    e = classify_error(ffmpeg_error(b"EXIT"), waited_s=4.02, timeout_s=2.0)
    assert (e.state, e.reason) == (OFFLINE, "hung: connected, but no data for 4 s")
    e = classify_error(ffmpeg_error(errno.EIO), waited_s=8.0, timeout_s=8.0)
    assert e.reason == "hung: connected, but no data for 8 s"
    # AVERROR_EXIT / ETIMEDOUT are time-outs even when the caller did not time the call
    assert classify_error(ffmpeg_error(errno.ETIMEDOUT)).reason == "hung: connected, but no data"
    assert classify_error(ffmpeg_error(b"EXIT"), opening=True).reason == "timed out connecting: no answer"


def test_quick_failures_keep_their_own_words():
    """Only a call that blocked for its whole time-out is a time-out: a quick EIO or invalid data is not."""
    quick_eio = classify_error(ffmpeg_error(errno.EIO), opening=True, waited_s=0.05, timeout_s=2.0)
    assert quick_eio.reason == "network error: Input/output error"
    bad = classify_error(ffmpeg_error(b"INDA"), opening=True, waited_s=0.3, timeout_s=2.0)
    assert (bad.state, bad.reason) == (ERROR, "invalid data: not a stream Vigil can read")


@pytest.mark.parametrize(
    ("exc", "state", "start"),
    [
        (ffmpeg_error(errno.ECONNREFUSED), OFFLINE, "connection refused: nothing listening"),
        (ffmpeg_error(b"\xf8401"), OFFLINE, "401 unauthorized: wrong user name or password"),
        (ffmpeg_error(b"\xf8403"), OFFLINE, "403 forbidden"),
        (ffmpeg_error(b"\xf8404"), OFFLINE, "404 not found"),
        (av.error.FFmpegError(5, "Failed to resolve hostname cam.invalid: Name or service not known"), OFFLINE,
         "DNS: host name not found"),
        (ffmpeg_error(b"\xf8DEC"), ERROR, "unsupported codec: no decoder for this stream"),
        (ffmpeg_error(b"EOF "), OFFLINE, "stream ended (server closed the connection)"),
    ],
)  # fmt: skip
def test_each_failure_in_its_own_words(exc, state, start):
    e = classify_error(exc, waited_s=0.1, timeout_s=8.0)
    assert e.state is state and e.reason.startswith(start), (type(exc).__name__, e.reason)
    assert "invalid data" not in e.reason


def test_no_password_in_a_reason_or_its_detail():
    url = "rtsp://admin:s3cret@10.0.0.7:554/cam1"
    for code in (b"INDA", b"EXIT", errno.ECONNREFUSED, b"\xf8401", errno.EIO):
        e = classify_error(ffmpeg_error(code, url), ("s3cret",), opening=True, waited_s=8.0, timeout_s=8.0)
        assert "s3cret" not in e.reason and "s3cret" not in e.detail and "s3cret" not in str(e), code


def test_a_server_that_accepts_and_never_answers_is_connected_and_silent_not_invalid_data():
    """Real FFmpeg, real socket: the listening socket takes connections (the kernel's backlog) and never
    speaks, like a camera whose server hangs. FFmpeg's RTSP client says INVALIDDATA (its OPTIONS reply had
    no status line); this reads "connected, but the server sent nothing", never "invalid data", and is not
    a connect time-out either (the TCP connection was made: the network is up)."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        url = f"rtsp://admin:pw123@127.0.0.1:{srv.getsockname()[1]}/cam1"
        spec = build_spec(url, read_timeout_s=1.0)
        with pytest.raises(SourceError) as info:
            open_source(spec, open_timeout_s=1.0, read_timeout_s=1.0)
    e = info.value
    assert (e.state, e.reason) == (OFFLINE, "connected, but the server sent nothing for 1.0 s"), e.detail
    assert "pw123" not in e.detail

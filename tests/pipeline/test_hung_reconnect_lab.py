"""End to end: a camera whose RTSP server hangs (SIGSTOP) is down from its last picture until its next one,
through every reconnect attempt, with the time-out said in words; it recovers by itself (tests/lab)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from app.pipeline.pipeline import PipelineOptions
from app.pipeline.state import StreamState
from tests.pipeline.conftest import wait_for, wait_state

pytestmark = pytest.mark.lab

SHORT = PipelineOptions(open_timeout_s=2, read_timeout_s=2, stall_after_s=1.5, backoff_initial_s=0.2, backoff_cap_s=0.5)


def test_a_hung_server_stays_down_since_its_last_picture_through_every_retry(rtsp_server_factory, make_pipeline):
    srv = rtsp_server_factory(mounts=1, secure_mounts=0)
    p = make_pipeline(srv.url(1), "hung", options=SHORT)
    wait_state(p, StreamState.LIVE)
    pictures: list[float] = []  # UNIX time of every decoded picture
    p.add_frame_sink(lambda _frame, _t: pictures.append(time.time()), max_fps=1000)
    wait_for(lambda: len(pictures) >= 5, 20, what="pictures")
    seen = []  # every snapshot sampled while the server is frozen
    sampled_at: list[float] = []

    def sample(until):
        def check():
            p.poll()  # the supervisor's watchdog does this in the app (STALLED)
            s = p.snapshot()
            seen.append(s)
            sampled_at.append(time.time())
            return s if until(s) else None

        return check

    os.kill(srv.pid, signal.SIGSTOP)
    try:
        # reconnect_attempt is the attempt under way or the next one: 4 = three attempts made and failed
        wait_for(sample(lambda s: s.reconnect_attempt >= 4), 90, interval=0.05, what="three failed reconnects")
        resumed_at = time.time()
    finally:
        os.kill(srv.pid, signal.SIGCONT)

    down = [s for s in seen if s.down_since is not None]
    assert down, "no snapshot said since when the camera is down"
    first = seen.index(down[0])
    # down from the first lost picture on: not even the one picture FFmpeg flushes when the socket times out
    assert all(s.is_down for s in seen[first:]), [(s.state, s.reason) for s in seen[first:] if not s.is_down]
    assert {s.down_since for s in down} == {down[0].down_since}, "a retry moved the outage's start"
    # dated from the last picture before the loss, not from the stall's detection (1.5 s later) or a retry
    last_picture = max(t for t in pictures if t <= sampled_at[first])
    assert abs(down[0].down_since - last_picture) < 0.5, (down[0].down_since, last_picture)
    # it went through real reconnects: CONNECTING after the loss, with the attempt counted, and waits between
    reconnects = {s.reconnect_attempt for s in seen if s.state is StreamState.CONNECTING and s.down_since}
    assert {1, 2, 3} <= reconnects, reconnects
    assert any(s.next_attempt_at is not None and s.state is StreamState.OFFLINE for s in seen)
    # the reasons say what happened: first the open connection went silent, then nothing answered
    reasons = {s.reason for s in seen if s.state in (StreamState.OFFLINE, StreamState.ERROR)}
    assert any(r.startswith("hung: connected, but no data for ") for r in reasons), reasons
    # a SIGSTOPped server's kernel still accepts the TCP connection: silent, not unanswered
    assert any(
        r.startswith(("timed out connecting: no answer in ", "connected, but the server sent nothing for "))
        for r in reasons
    ), reasons
    assert not any("invalid data" in r for r in reasons), reasons
    assert all(s.state is not StreamState.ERROR for s in seen), "a hung server is OFFLINE, not a broken stream"

    snap = wait_state(p, StreamState.LIVE, timeout=30)
    assert snap.down_since is None and snap.reconnect_attempt == 0 and snap.next_attempt_at is None
    assert snap.recovered_at is not None and snap.recovered_at >= resumed_at
    assert snap.last_outage_s == pytest.approx(snap.recovered_at - down[0].down_since, abs=0.01)
    assert snap.last_outage_s > 2 * SHORT.open_timeout_s  # it lasted through the attempts, not one of them

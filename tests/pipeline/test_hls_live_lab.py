"""Live HLS against a real packager (ffmpeg's HLS muxer into the lab nginx): a packager that dies is not shown
as live, and a playlist that "ends" and then continues is no outage.

Each test starts its own packager (2 s segments, testsrc2 encoded live) so it can kill it.
"""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
import urllib.request

import pytest

from app.pipeline.pipeline import CameraPipeline, PipelineOptions
from app.pipeline.state import StreamState
from tests.lab import HlsPackager
from tests.pipeline.conftest import wait_state

pytestmark = pytest.mark.lab

OPTS = PipelineOptions(open_timeout_s=8, read_timeout_s=4, stall_after_s=3, backoff_initial_s=0.3, backoff_cap_s=2)


@pytest.fixture
def packager(nginx_lab, request):
    made: list[HlsPackager] = []

    def make() -> HlsPackager:
        p = HlsPackager(nginx_lab, f"live_{request.node.name[-20:].strip('_[]')}_{len(made)}", segment_seconds=2)
        p.start()
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop()


def _record_states(p: CameraPipeline) -> list[tuple[float, StreamState, str]]:
    seen: list[tuple[float, StreamState, str]] = []
    p.add_state_listener(lambda _p, _old, new, why: seen.append((time.monotonic(), new, why)))
    return seen


def _watch(p: CameraPipeline, seconds: float) -> None:
    """Poll as the supervisor's watchdog does (it is what finds STALLED)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        p.poll()
        time.sleep(0.25)


@pytest.mark.parametrize("how", ["sigkill", "sigterm"])
def test_a_dead_packager_is_down_and_its_last_segments_are_not_replayed_as_live(packager, how):
    """SIGKILL leaves a live playlist that stops moving; SIGTERM makes ffmpeg write EXT-X-ENDLIST. Either way the
    camera goes down and stays down: no replay of the old segments shows it LIVE again (hang bounds loose)."""
    hls = packager()
    p = CameraPipeline("hls", "HLS", hls.url, options=OPTS)
    p.set_output_size(320, 180)
    seen = _record_states(p)
    p.start()
    try:
        wait_state(p, StreamState.LIVE, timeout=20)
        _watch(p, 4)
        hls.kill() if how == "sigkill" else hls.stop()
        killed = time.monotonic()
        end = killed + 60
        while time.monotonic() < end and not p.snapshot().is_down:
            p.poll()
            time.sleep(0.25)
        down = p.snapshot()
        assert down.is_down, f"still {down.state} ({down.reason}) 60 s after the packager died"
        frames_at_down = down.frames_decoded_total
        _watch(p, 25)  # long enough for several reconnects to the dead playlist
        after = p.snapshot()
        back_live = [(round(t - killed, 1), why) for t, s, why in seen if t > killed and s is StreamState.LIVE]
        assert not back_live, f"the dead packager's camera came back LIVE: {back_live}"
        # at most the two pictures FFmpeg flushes when its read times out; no replayed segment (30 pictures)
        assert after.frames_decoded_total - frames_at_down <= 2
        if how == "sigterm":
            reasons = {why for t, s, why in seen if t > killed}
            assert any("packager stopped" in r for r in reasons), reasons
    finally:
        p.stop()


class _EndOnceProxy(http.server.BaseHTTPRequestHandler):
    """Passes the lab's HLS through, but answers the playlist once with EXT-X-ENDLIST appended (a packager
    restart or a CDN serving a truncated playlist): the next reload continues it."""

    upstream = ""
    end_after = 0.0  # monotonic time after which the next playlist answer is "ended" (once)
    ended_at: float | None = None
    lock = threading.Lock()

    def do_GET(self):
        with urllib.request.urlopen(self.upstream + self.path, timeout=5) as r:
            body = r.read()
        if self.path.endswith(".m3u8"):
            with self.lock:
                cls = type(self)
                if cls.ended_at is None and time.monotonic() > cls.end_after:
                    cls.ended_at = time.monotonic()
                    body += b"#EXT-X-ENDLIST\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_live_playlist_that_ends_once_and_continues_is_no_outage(packager):
    hls = packager()
    base, path = hls.url.rsplit("/", 1)
    _EndOnceProxy.upstream = base
    _EndOnceProxy.end_after = time.monotonic() + 8
    _EndOnceProxy.ended_at = None
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EndOnceProxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    p = CameraPipeline("hls", "HLS", f"http://127.0.0.1:{proxy.server_address[1]}/{path}", options=OPTS)
    p.set_output_size(320, 180)
    seen = _record_states(p)
    p.start()
    try:
        wait_state(p, StreamState.LIVE, timeout=20)
        live_at = time.monotonic()
        _watch(p, 25)
        snap = p.snapshot()
        assert _EndOnceProxy.ended_at is not None, "the proxy never ended the playlist"
        changes = [(round(t - live_at, 1), s, why) for t, s, why in seen if t > live_at]
        assert not changes, f"the ended-and-continued playlist changed state: {changes}"
        assert snap.state is StreamState.LIVE and snap.reconnects_total >= 1  # it was reopened, seamlessly
        assert 14.0 <= snap.fps_received <= 16.5  # the lab's 15 fps, nothing replayed twice in a burst
    finally:
        p.stop()
        proxy.shutdown()
        proxy.server_close()


def test_a_recorded_playlist_loops_like_a_file_and_is_never_down(nginx_lab, lab_clip):
    """A playlist that carries EXT-X-ENDLIST from the first read is a recording: it plays at its pace and loops
    ("end of file, restarting"), never reported down or "packager stopped"."""
    out = nginx_lab.static_dir / "vod"
    out.mkdir(parents=True, exist_ok=True)
    out.chmod(0o755)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(lab_clip), "-t", "4", "-c", "copy", "-f", "hls",
         "-hls_time", "2", "-hls_playlist_type", "vod", str(out / "index.m3u8")],
        check=True,
    )  # fmt: skip
    for f in out.iterdir():
        f.chmod(0o644)
    p = CameraPipeline("vod", "VOD", nginx_lab.static_url("vod/index.m3u8"), options=OPTS)
    p.set_output_size(320, 180)
    seen = _record_states(p)
    p.start()
    try:
        wait_state(p, StreamState.LIVE, timeout=20)
        _watch(p, 14)  # three and a half loops of the 4 s recording
        snap = p.snapshot()
        downs = [(s, why) for _t, s, why in seen if s in (StreamState.OFFLINE, StreamState.ERROR, StreamState.STALLED)]
        assert not downs, downs
        assert not snap.is_down and snap.down_since is None
        assert snap.frames_decoded_total >= 14 * 15 * 0.8  # played at its pace through the loops, not stuck
    finally:
        p.stop()

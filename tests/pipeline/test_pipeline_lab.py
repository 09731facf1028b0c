"""End to end: the camera pipeline against the real loopback servers of tests/lab."""

from __future__ import annotations

import logging
import threading

import pytest

from app.pipeline.pipeline import PipelineOptions
from app.pipeline.state import StreamState
from app.priority import thread_nice
from app.secrets import MASK
from tests.lab import free_port
from tests.pipeline.conftest import wait_for, wait_state

pytestmark = pytest.mark.lab


def _assert_live_stream(p, width, height, fps=15.0):
    snap = wait_state(p, StreamState.LIVE)
    assert snap.codec == "H.264"
    assert (snap.width, snap.height) == (width, height)

    # the rate settles over a few seconds; allow for a CPU-starved CI machine
    def rates_settled():
        s = p.snapshot()
        return abs(s.fps_received - fps) < fps * 0.25 and abs(s.fps_decoded - fps) < fps * 0.25

    wait_for(rates_settled, 30, what=f"received and decoded fps near {fps}")
    snap = p.snapshot()
    assert snap.bitrate_bps > 50_000
    assert snap.time_to_first_frame_s is not None and snap.time_to_first_frame_s > 0
    assert snap.packets_received_total > 0 and snap.frames_decoded_total > 0
    return snap


def test_rtsp_reaches_live_with_right_size_and_fps(rtsp_lab, make_pipeline):
    p = make_pipeline(rtsp_lab.url(1))
    _assert_live_stream(p, 640, 360)
    # the lab's GOP is 1 s
    wait_for(lambda: 0.5 <= p.snapshot().keyframe_interval_s <= 1.5, 10, what="keyframe interval ~1 s")


def test_rtmp_reaches_live_with_right_size_and_fps(rtmp_lab, make_pipeline):
    p = make_pipeline(rtmp_lab.url)
    snap = _assert_live_stream(p, 640, 360)
    assert snap.audio_codec == "aac"


def test_hls_reaches_live(hls_lab, make_pipeline):
    p = make_pipeline(hls_lab.variant_url("360p"))
    _assert_live_stream(p, 640, 360)


def test_hls_master_playlist_plays_one_rendition_sized_for_the_tile(hls_lab, make_pipeline):
    p = make_pipeline(hls_lab.master_url, box=(400, 300))
    snap = wait_state(p, StreamState.LIVE)
    assert snap.height == 360  # smallest rendition >= the 300 px tile; 240p would be upscaled
    # only that rendition is fetched: the received rate is one stream's, not the ladder's sum
    wait_for(lambda: 10 <= p.snapshot().fps_received <= 20, 30, what="one rendition's frame rate")


def test_threaded_decode_reaches_live_at_tile_size(rtsp_lab, make_pipeline):
    opts = PipelineOptions(open_timeout_s=5, read_timeout_s=4, threaded_decode=True)
    p = make_pipeline(rtsp_lab.url(3), options=opts, box=(320, 180))
    wait_state(p, StreamState.LIVE)
    wait_for(lambda: p.slot.latest() is not None and p.slot.latest().image.shape == (180, 320, 4), what="frames")


def test_frames_handed_to_ui_are_at_tile_size(rtsp_lab, make_pipeline):
    p = make_pipeline(rtsp_lab.url(2), box=(200, 200))
    wait_state(p, StreamState.LIVE)
    frame = wait_for(lambda: p.slot.latest(), what="a frame")
    # 640x360 fitted into 200x200 keeps 16:9: 200x112
    assert frame.image.shape == (112, 200, 4)  # BGRA
    assert frame.image.dtype.name == "uint8" and frame.image.flags["C_CONTIGUOUS"]
    assert (frame.source_width, frame.source_height) == (640, 360)
    p.set_output_size(320, 180)
    wait_for(lambda: p.slot.latest().image.shape == (180, 320, 4), what="resized frames")


def test_headless_pipeline_converts_no_frames(rtsp_lab, make_pipeline):
    p = make_pipeline(rtsp_lab.url(3), box=None)
    wait_state(p, StreamState.LIVE)
    wait_for(lambda: p.snapshot().frames_decoded_total > 10, what="decoded frames")
    assert p.slot.latest() is None


def test_killed_server_goes_offline_and_comes_back_live(rtsp_server_factory, make_pipeline):
    srv = rtsp_server_factory(mounts=1)
    p = make_pipeline(srv.url(1))
    wait_state(p, StreamState.LIVE)
    srv.kill()
    snap = wait_state(p, StreamState.OFFLINE, StreamState.STALLED, timeout=20)
    assert snap.reason
    # while the server is away, reconnects keep failing with a reason in words
    wait_for(lambda: "refused" in p.snapshot().reason, 20, what="connection refused reason")
    srv.start()
    snap = wait_state(p, StreamState.LIVE, timeout=40)
    assert snap.reconnects_total >= 1
    # and again: recovery works every time, not once
    srv.kill()
    wait_state(p, StreamState.OFFLINE, StreamState.STALLED, timeout=20)
    srv.start()
    wait_state(p, StreamState.LIVE, timeout=40)


def test_rtmp_publisher_gone_then_back(rtmp_publisher_factory, make_pipeline):
    pub = rtmp_publisher_factory(name="flap")
    p = make_pipeline(pub.url)
    wait_state(p, StreamState.LIVE)
    pub.kill()
    wait_state(p, StreamState.OFFLINE, StreamState.STALLED, timeout=30)
    pub.start()
    wait_state(p, StreamState.LIVE, timeout=60)


def test_wrong_password_is_401_and_password_never_shown(rtsp_lab, make_pipeline, caplog):
    caplog.set_level(logging.DEBUG)
    url = rtsp_lab.secure_url(password="hunter2-wrong")
    p = make_pipeline(url)
    snap = wait_state(p, StreamState.OFFLINE)
    assert "401" in snap.reason and "password" in snap.reason
    assert "hunter2-wrong" not in snap.url and MASK in snap.url
    assert "hunter2-wrong" not in snap.last_error
    assert "hunter2-wrong" not in caplog.text


def test_right_password_goes_live(rtsp_lab, make_pipeline):
    p = make_pipeline(rtsp_lab.secure_url(rtsp_lab.user, rtsp_lab.password))
    wait_state(p, StreamState.LIVE)
    assert rtsp_lab.password not in p.snapshot().url


def test_unknown_mount_is_404(rtsp_lab, make_pipeline):
    p = make_pipeline(rtsp_lab.url(1).rsplit("/", 1)[0] + "/no-such-camera")
    snap = wait_state(p, StreamState.OFFLINE)
    assert "404" in snap.reason


def test_http_404_for_missing_playlist(nginx_lab, make_pipeline):
    p = make_pipeline(f"http://127.0.0.1:{nginx_lab.http_port}/hls/missing/index.m3u8")
    snap = wait_state(p, StreamState.OFFLINE)
    assert "404" in snap.reason


def test_nothing_listening_is_connection_refused(make_pipeline):
    p = make_pipeline(f"rtsp://127.0.0.1:{free_port()}/cam1")
    snap = wait_state(p, StreamState.OFFLINE)
    assert "refused" in snap.reason
    # retries with backoff, counted
    wait_for(lambda: p.snapshot().reconnects_total >= 2, 20, what="retries")


def test_unresolvable_host_is_dns(make_pipeline):
    p = make_pipeline("rtsp://camera.invalid/stream1")
    snap = wait_state(p, StreamState.OFFLINE)
    assert "DNS" in snap.reason


def test_pipeline_threads_stop_cleanly(rtsp_lab, rtmp_lab, make_pipeline):
    threaded = PipelineOptions(open_timeout_s=5, read_timeout_s=4, threaded_decode=True)
    ps = [make_pipeline(rtsp_lab.url(4), "a"), make_pipeline(rtmp_lab.url, "b", options=threaded)]
    for p in ps:
        wait_state(p, StreamState.LIVE)
    names = {t.name for p in ps for t in p.threads()}
    assert names == {"camera:a:demux", "camera:b:demux", "camera:b:decode"}
    for p in ps:
        assert p.stop() is True
    alive = [t.name for t in threading.enumerate() if t.name.startswith(("camera:a", "camera:b"))]
    assert alive == []
    assert all(p.snapshot().state is StreamState.IDLE for p in ps)


def test_worker_threads_run_nicer_than_the_gui_thread(rtsp_lab, make_pipeline):
    """Under full load the kernel must schedule the GUI thread first (app/priority.py)."""
    opts = PipelineOptions(open_timeout_s=5, read_timeout_s=4, threaded_decode=True, worker_nice=7)
    p = make_pipeline(rtsp_lab.url(1), "nice", options=opts)
    wait_state(p, StreamState.LIVE)
    base = thread_nice(threading.get_native_id())
    assert base is not None
    for t in p.threads():
        assert thread_nice(t.native_id) == min(19, base + 7), t.name
    assert thread_nice(threading.get_native_id()) == base  # the caller (the GUI thread in the app) is untouched


@pytest.mark.parametrize("threaded", [False, True], ids=["inline-decode", "threaded-decode"])
def test_leaving_keyframes_only_resumes_at_a_keyframe(rtsp_lab, make_pipeline, threaded):
    """A P-frame after skipped pictures would smear the tile for up to a GOP: decoding restarts at a keyframe
    (also with a decode queue, where a keyframe queued before the switch is followed by skipped P-frames)."""
    opts = PipelineOptions(open_timeout_s=5, read_timeout_s=4, threaded_decode=threaded)
    p = make_pipeline(rtsp_lab.url(2), "kf", options=opts)
    wait_state(p, StreamState.LIVE)
    frames: list[bool] = []
    p.add_frame_sink(lambda frame, _t: frames.append(bool(frame.key_frame)), max_fps=1000)
    wait_for(lambda: len(frames) > 20 and not all(frames), 20, what="full-rate frames (keyframes and others)")
    p.set_keyframes_only(True)
    wait_for(lambda: p.snapshot().fps_decoded < 4, 30, what="keyframe-only decoding (GOP 1 s)")
    during = len(frames)
    wait_for(lambda: len(frames) >= during + 2, 10, what="keyframes while keyframe-only")
    assert all(frames[during:]), "keyframe-only mode decoded a non-keyframe"
    p.set_keyframes_only(False)
    after = len(frames)
    wait_for(lambda: len(frames) > after + 20, 20, what="full-rate decoding again")
    assert frames[after] is True, "decoding resumed on a P-frame whose references were skipped"
    assert not all(frames[after:]), "full-rate decoding did not resume"


def test_hung_server_is_stalled_then_live_again(rtsp_server_factory, make_pipeline):
    """Connected but no pictures (the server is frozen with SIGSTOP): STALLED, not OFFLINE; then LIVE again."""
    srv = rtsp_server_factory(mounts=1)
    opts = PipelineOptions(open_timeout_s=5, read_timeout_s=60, stall_after_s=1.5, backoff_initial_s=0.2)
    p = make_pipeline(srv.url(1), "hung", options=opts)
    wait_state(p, StreamState.LIVE)

    def polled(state):
        def check():
            p.poll()  # the supervisor's watchdog does this in the app
            s = p.snapshot()
            return s if s.state is state else None

        return check

    srv.pause()
    try:
        snap = wait_for(polled(StreamState.STALLED), 20, what="STALLED while the server is frozen")
        assert "no picture" in snap.reason and "connected" in snap.reason
        assert snap.stalls_total == 1
    finally:
        srv.resume()
    snap = wait_for(polled(StreamState.LIVE), 30, what="LIVE again once the server runs")
    assert snap.reconnects_total == 0  # the same connection carried on: no reconnect was needed


def test_rtsp_over_udp_when_selected(rtsp_lab, make_pipeline):
    """`"transport": "udp"` per camera: RTP over UDP on loopback reaches LIVE at the stream's size."""
    udp = PipelineOptions(open_timeout_s=8, read_timeout_s=6, transport="udp")
    p = make_pipeline(rtsp_lab.url(3), "udp", options=udp)
    snap = wait_state(p, StreamState.LIVE)
    assert (snap.width, snap.height) == (640, 360)
    wait_for(lambda: p.snapshot().frames_decoded_total > 15, 20, what="decoded frames over UDP")

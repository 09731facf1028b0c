"""The test lab itself: every server is checked from the outside, as Vigil will see it."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from tests.lab import (
    BLACKMAGIC_STATUS,
    HDD_MONITOR_STATUS,
    NginxServer,
    RtspServer,
    ServerStartError,
    free_port,
    http_get,
    port_open,
    rtsp_describe,
    servers,
    wait_port,
)

av = pytest.importorskip("av")

pytestmark = pytest.mark.lab

LOW_LATENCY = {"fflags": "nobuffer", "analyzeduration": "500000", "probesize": "262144"}


def decode(url: str, n: int = 3, timeout: float = 10.0, **options):
    """Open url with PyAV and decode n video frames; returns (container streams info, frames)."""
    opts = dict(LOW_LATENCY)
    if url.startswith("rtsp"):
        opts["rtsp_transport"] = "tcp"
    opts.update(options)
    frames = []
    with av.open(url, options=opts, timeout=timeout) as c:
        kinds = sorted(s.type for s in c.streams)
        for f in c.decode(video=0):
            frames.append(f)
            if len(frames) >= n:
                break
    return kinds, frames


def get_json(url: str, timeout: float = 5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers, r.read()


# --------------------------------------------------------------------------- helpers
def test_free_port_and_wait_port():
    p = free_port()
    assert 1024 < p < 65536 and not port_open(p)
    with pytest.raises(TimeoutError):
        wait_port(p, timeout=0.2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", p))
        s.listen()
        wait_port(p, timeout=2)


# --------------------------------------------------------------------------- RTSP
def test_rtsp_mounts_decode_at_size(rtsp_lab):
    assert rtsp_lab.url(1) == f"rtsp://127.0.0.1:{rtsp_lab.port}/cam1"
    _, frames = decode(rtsp_lab.url(1))
    assert (frames[-1].width, frames[-1].height) == (640, 360)
    _, frames4 = decode(rtsp_lab.url(4), n=1)
    assert (frames4[0].width, frames4[0].height) == (640, 360)
    assert rtsp_describe(rtsp_lab.url(9))[0] == 404  # only cam1..cam4 exist


def test_a_session_server_that_died_is_restarted_on_its_port(rtsp_lab):
    """A crash of the shared lab RTSP server (a known gst-rtsp-server assertion) costs one test, not all."""
    from tests.conftest import _alive

    port = rtsp_lab.port
    rtsp_lab.kill()
    assert not rtsp_lab.is_running()
    assert _alive(rtsp_lab) is rtsp_lab and rtsp_lab.is_running() and rtsp_lab.port == port
    _, frames = decode(rtsp_lab.url(1), n=1)
    assert (frames[0].width, frames[0].height) == (640, 360)


def test_rtsp_secure_mount_needs_password(rtsp_lab):
    url = rtsp_lab.secure_url()  # no credentials
    status, headers = rtsp_describe(url)
    assert status == 401 and headers["www-authenticate"].startswith("Basic")
    assert rtsp_describe(url, "admin", "wrong")[0] == 401
    assert rtsp_describe(url, "admin", "s3cret!")[0] == 200
    with pytest.raises(av.error.HTTPUnauthorizedError):
        decode(rtsp_lab.secure_url("admin", "wrong"), n=1)
    with pytest.raises(av.error.HTTPUnauthorizedError):
        decode(url, n=1)
    _, frames = decode(rtsp_lab.secure_url("admin", "s3cret!"), n=1)
    assert frames[0].width == 640


def test_rtsp_digest_auth(rtsp_server_factory):
    srv = rtsp_server_factory(mounts=1, size="320x180", auth_method="digest", overlay=False)
    status, headers = rtsp_describe(srv.secure_url())
    assert status == 401 and headers["www-authenticate"].startswith("Digest")
    with pytest.raises(av.error.HTTPUnauthorizedError):
        decode(srv.secure_url("admin", "nope"), n=1)
    _, frames = decode(srv.secure_url("admin", "s3cret!"), n=1)
    assert (frames[0].width, frames[0].height) == (320, 180)


def test_rtsp_clip_stream_copy(rtsp_server_factory, lab_clip):
    srv = rtsp_server_factory(mounts=3, clip=lab_clip)
    for i in (1, 3):
        _, frames = decode(srv.url(i), n=5)
        assert (frames[-1].width, frames[-1].height) == (640, 360)


def test_rtsp_kill_then_restart_same_port(rtsp_server_factory):
    srv = rtsp_server_factory(mounts=1, size="320x180", overlay=False)
    port = srv.port
    decode(srv.url(1), n=1)
    srv.kill()
    assert not srv.is_running() and not port_open(port)
    with pytest.raises(OSError):
        decode(srv.url(1), n=1, timeout=3)
    srv.restart()
    assert srv.is_running() and srv.port == port
    _, frames = decode(srv.url(1), n=1)
    assert frames[0].width == 320


# --------------------------------------------------------------------------- RTMP / HLS / nginx
def test_rtmp_video_and_audio(rtmp_lab, nginx_lab):
    assert rtmp_lab.url == f"rtmp://127.0.0.1:{nginx_lab.rtmp_port}/live/ch1"
    assert "ch1" in nginx_lab.published_streams()
    kinds, frames = decode(rtmp_lab.url, n=3, analyzeduration="1000000")
    assert kinds == ["audio", "video"]
    assert (frames[-1].width, frames[-1].height) == (640, 360)


def test_rtmp_publisher_kill_restart(rtmp_publisher_factory, nginx_lab):
    pub = rtmp_publisher_factory(size="320x180", audio=False)
    assert pub.stream_name in nginx_lab.published_streams()
    pub.kill()
    deadline = time.monotonic() + 5
    while pub.stream_name in nginx_lab.published_streams() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pub.stream_name not in nginx_lab.published_streams()
    pub.restart()
    _, frames = decode(pub.url, n=1)
    assert (frames[0].width, frames[0].height) == (320, 180)


def test_rtmp_clip_publisher(rtmp_publisher_factory, lab_clip):
    pub = rtmp_publisher_factory(clip=lab_clip)
    _, frames = decode(pub.url, n=2)
    assert frames[0].width == 640


def test_hls_ladder(hls_lab):
    status, body = http_get(hls_lab.master_url)
    master = body.decode()
    assert status == 200 and master.startswith("#EXTM3U")
    for name in ("480p", "360p", "240p"):
        assert f"{name}/index.m3u8" in master
        assert len(hls_lab.segments(name)) >= 2
    _, frames = decode(hls_lab.variant_url("360p"), n=2)
    assert (frames[-1].width, frames[-1].height) == (640, 360)
    _, frames = decode(hls_lab.variant_url("240p"), n=1)
    assert (frames[0].width, frames[0].height) == (426, 240)


def test_nginx_static_and_stat(nginx_lab):
    url = nginx_lab.put_static("broken/index.m3u8", "#EXTM3U\n#EXTINF:not-a-number,\nmissing.ts\n")
    status, body = http_get(url)
    assert status == 200 and body.startswith(b"#EXTM3U")
    assert http_get(nginx_lab.static_url("nope.m3u8"))[0] == 404
    with pytest.raises(av.error.FFmpegError):
        decode(url, n=1, timeout=3)
    assert "<rtmp>" in nginx_lab.rtmp_stat()


# --------------------------------------------------------------------------- fake analytics API
def test_fake_api_shapes(fake_api):
    status, headers, body = get_json(fake_api.url("/streams"))
    assert status == 200 and headers["Content-Type"] == "application/json"
    streams = json.loads(body)["streams"]
    assert len(streams) == 8
    first = streams[0]
    assert first == {"stream_id": "c73a1992f67961d1", "stream_node_num": 0, "stream_name": "LOKASI-A"}
    assert {s["stream_name"] for s in streams} == {"LOKASI-A", "LOKASI-B"}
    detail = json.loads(get_json(fake_api.url("/streams/0/c73a1992f67961d1"))[2])
    assert detail["stream_id"] == "c73a1992f67961d1" and detail["active"] is True
    assert detail["stream_stats"] == {
        "fps": 15,
        "frame_height": 646,
        "frame_width": 1146,
        "last_error_msg": "Stream is running..",
        "state": "RUNNING",
    }
    assert detail["status"] == {"pipelines": [{"state": "RUNNING"}]}
    with pytest.raises(urllib.error.HTTPError) as e:
        get_json(fake_api.url("/streams/0/0000000000000000"))
    assert e.value.code == 404


def test_fake_api_states(fake_api):
    fake_api.set_state(1, "STOPPED")
    fake_api.set_state(2, "ERROR", last_error_msg="RTSP 401")
    d1 = json.loads(get_json(fake_api.url(fake_api.detail_path(1)))[2])
    assert d1["active"] is False and d1["stream_stats"]["state"] == "STOPPED"
    assert d1["status"]["pipelines"][0]["state"] == "STOPPED"
    d2 = json.loads(get_json(fake_api.url(fake_api.detail_path(2)))[2])
    assert d2["stream_stats"]["last_error_msg"] == "RTSP 401" and d2["stream_stats"]["state"] == "ERROR"


def test_fake_api_faults(fake_api):
    streams = fake_api.url("/streams")
    fake_api.inject("/streams", "status", status=500, times=1)
    with pytest.raises(urllib.error.HTTPError) as e:
        get_json(streams)
    assert e.value.code == 500
    assert json.loads(get_json(streams)[2])["streams"]  # times=1: healthy again

    fake_api.inject("/streams", "malformed")
    with pytest.raises(ValueError):
        json.loads(get_json(streams)[2])

    fake_api.inject("/streams", "wrong_types")
    doc = json.loads(get_json(streams)[2])
    assert isinstance(doc["streams"], dict) and isinstance(doc["streams"]["0"]["stream_node_num"], str)

    fake_api.inject("/streams/*", "huge", size=5_000_000)
    body = get_json(fake_api.url(fake_api.detail_path(0)))[2]
    assert len(body) >= 4_900_000 and json.loads(body)["stream_id"] == "c73a1992f67961d1"

    fake_api.inject("/streams", "slow", delay=1.5)
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        get_json(streams, timeout=0.5)

    fake_api.inject("/streams", "close")
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        get_json(streams)

    fake_api.inject("/streams", "empty")
    assert get_json(streams)[2] == b""

    fake_api.clear_faults()
    t0 = time.monotonic()
    fake_api.latency = 0.3
    assert get_json(streams)[0] == 200 and time.monotonic() - t0 >= 0.3
    assert fake_api.requests_to("/streams") >= 8


def test_fake_api_kill_restart_same_port(fake_api):
    port = fake_api.port
    fake_api.kill()
    with pytest.raises(urllib.error.URLError):
        get_json(fake_api.url("/streams"), timeout=1)
    fake_api.restart()
    assert fake_api.port == port and get_json(fake_api.url("/streams"))[0] == 200


# --------------------------------------------------------------------------- JSON devices
def test_json_device_server(json_device_server):
    srv = json_device_server
    assert json.loads(get_json(srv.url("/status"))[2]) == BLACKMAGIC_STATUS
    assert json.loads(get_json(srv.url("/hdd"))[2]) == HDD_MONITOR_STATUS
    url = srv.set("/status", {"streaming": {"state": "Idle", "bitrate": 0}})
    assert json.loads(get_json(url)[2])["streaming"]["state"] == "Idle"
    req = urllib.request.Request(srv.url("/report"), data=b'{"node_id": "lokasi2"}', method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    assert srv.posted == [("/report", {"node_id": "lokasi2"})]
    srv.inject("/hdd", "status", status=503)
    with pytest.raises(urllib.error.HTTPError) as e:
        get_json(srv.url("/hdd"))
    assert e.value.code == 503
    srv.inject("/hdd", "body", body=b"<html>oops</html>", content_type="text/html")
    _, headers, body = get_json(srv.url("/hdd"))
    assert headers["Content-Type"] == "text/html" and body == b"<html>oops</html>"


# --------------------------------------------------------------------------- Prometheus / PostgreSQL / X
def test_prometheus_scrapes_loopback_target(prometheus_server_factory, json_device_server):
    json_device_server.inject(
        "/metrics", "body", body=b"vigil_lab_probe 42\n", content_type="text/plain; version=0.0.4"
    )
    prom = prometheus_server_factory(scrape_targets=[("127.0.0.1", json_device_server.port)])
    assert http_get(prom.url("/-/ready"))[0] == 200
    result = prom.wait_for("vigil_lab_probe", timeout=20)
    assert result[0]["value"][1] == "42"


def test_postgres_sqlalchemy(postgres_server):
    sa = pytest.importorskip("sqlalchemy")
    assert postgres_server.sqlalchemy_url.startswith("postgresql+psycopg2://vigil@127.0.0.1:")
    engine = sa.create_engine(postgres_server.sqlalchemy_url)
    try:
        with engine.begin() as c:
            c.execute(sa.text("CREATE TABLE IF NOT EXISTS lab_probe (id serial PRIMARY KEY, v text)"))
            c.execute(sa.text("INSERT INTO lab_probe (v) VALUES ('hello')"))
        with engine.connect() as c:
            assert c.execute(sa.text("SELECT current_database()")).scalar() == "vigil"
            assert c.execute(sa.text("SELECT count(*) FROM lab_probe WHERE v = 'hello'")).scalar() >= 1
    finally:
        engine.dispose()


def test_xvfb_display(xvfb):
    assert xvfb.display and xvfb.display.startswith(":")
    if not shutil.which("xdpyinfo"):
        pytest.skip("xdpyinfo (x11-utils) not installed")
    r = subprocess.run(["xdpyinfo", "-display", xvfb.display], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0 and "1920x1080" in r.stdout


def test_start_failure_reports_log_tail(lab_dir):
    srv = RtspServer(lab_dir, mounts=1, port=free_port(), clip="/nonexistent/clip.h264", name="rtsp_broken")
    with pytest.raises(ServerStartError, match="clip not found"):
        srv.start(timeout=10)
    assert not srv.is_running()


def test_port_collision_is_retried(lab_dir, monkeypatch):
    """Another session grabbing the port between free_port() and bind() must not fail the start."""
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    real_free_port = servers.free_port
    calls = []

    def flaky_free_port():
        calls.append(1)
        return busy.getsockname()[1] if len(calls) == 1 else real_free_port()

    monkeypatch.setattr(servers, "free_port", flaky_free_port)
    nginx = NginxServer(lab_dir, name="nginx_collision")
    try:
        nginx.start()
        assert nginx.is_running() and busy.getsockname()[1] not in (nginx.rtmp_port, nginx.http_port)
        assert "Address already in use" in nginx.log_tail(200)
    finally:
        nginx.stop()
        busy.close()

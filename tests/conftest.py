"""Pytest fixtures for Vigil's test lab (real servers on 127.0.0.1, see tests/lab/).

Session servers (started once, on first use): rtsp_lab, nginx_lab, rtmp_lab, hls_lab, postgres_server,
xvfb. Factories (function scope, everything they made is stopped after the test, even on failure):
rtsp_server_factory, rtmp_publisher_factory, prometheus_server_factory. In-process fakes (function
scope): fake_api, json_device_server.

Logs go to a temporary lab dir removed at the end, unless ``--lab-dir DIR`` or ``VIGIL_LAB_DIR=DIR``
is given (then they are kept there). When a lab program is missing the lab tests are skipped, unless
``VIGIL_LAB_STRICT=1`` or ``CI`` is set (then they fail: CI must not silently skip them).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

# Widget tests run headless by default; a test that wants a real X window passes the xvfb fixture's
# display to its own subprocess/env explicitly.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# a config saved by a test keeps its passwords in the file store next to it, never in the developer's own
# OS keyring (keyring's standard switch; tests/test_keystore.py drives a real Secret Service explicitly)
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")

from app.pipeline.pipeline import CameraPipeline
from app.recording.recorder import CameraRecorder
from app.recording.segments import DirectoryIndex, StoredMotionEvent
from tests.lab import (
    FakeAnalyticsApi,
    HlsLadder,
    JsonDeviceServer,
    LabError,
    NginxServer,
    PostgresServer,
    PrometheusServer,
    RtmpPublisher,
    RtspServer,
    Xvfb,
    make_clip,
    stop_all,
)
from tests.lab.fake_api import BLACKMAGIC_STATUS, HDD_MONITOR_STATUS

log = logging.getLogger("vigil.lab")


def pytest_addoption(parser):
    parser.addoption(
        "--lab-dir",
        default=os.environ.get("VIGIL_LAB_DIR") or None,
        help="keep the test lab's logs/config/clips in this directory (env VIGIL_LAB_DIR)",
    )


def pytest_configure(config):
    config.addinivalue_line("markers", "lab: needs the real loopback stream servers of tests/lab")


def _strict() -> bool:
    return bool(os.environ.get("VIGIL_LAB_STRICT") or os.environ.get("CI"))


def _start(server, timeout=None):
    """Start a lab server; missing programs skip the test (fail in strict/CI mode)."""
    try:
        return server.start(timeout)
    except LabError as e:
        if _strict() or not str(e).startswith("test lab needs missing program"):
            raise
        pytest.skip(str(e))


# --------------------------------------------------------------------------- dirs
@pytest.fixture(scope="session")
def lab_dir(request) -> Path:
    """Session directory for lab logs/configs/clips. World-traversable (nginx workers run as nobody)."""
    keep = request.config.getoption("--lab-dir")
    if keep:
        d = Path(keep).resolve()
        d.mkdir(parents=True, exist_ok=True)
        d = Path(tempfile.mkdtemp(prefix=time.strftime("run-%Y%m%d-%H%M%S-"), dir=d))
    else:
        d = Path(tempfile.mkdtemp(prefix="vigil-lab-"))
    d.chmod(0o755)
    log.info("lab dir: %s", d)
    yield d
    if not keep:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_clip(lab_dir) -> Path:
    """10 s 640x360@15 H.264 clip (mp4; .h264 sibling), GOP 1 s: for stream-copy servers."""
    try:
        return make_clip(lab_dir / "clips" / "clip_640x360_15.mp4")
    except LabError as e:
        if _strict():
            raise
        pytest.skip(str(e))


# --------------------------------------------------------------------------- session servers
def _alive(server):
    """A session server that died since the last test (gst-rtsp-server 1.22 can abort on an assertion in
    gst_rtsp_media_get_rates when clients come and go on a shared media) is started again, on the same
    port(s), so one lab crash fails at most the test that caused it, not every test after it. Said loudly."""
    if not server.is_running():
        log.warning("lab %s died during the session; restarting it. Log tail:\n%s", server.name, server.log_tail(8))
        _start(server)
    return server


@pytest.fixture(scope="session")
def _rtsp_lab_session(lab_dir):
    srv = RtspServer(lab_dir, mounts=4, size="640x360", fps=15)
    _start(srv)
    yield srv
    srv.stop()


@pytest.fixture
def rtsp_lab(_rtsp_lab_session):
    """RtspServer (one per session): /cam1../cam4 live 640x360@15 H.264 + /secure1 (Basic auth admin / s3cret!)."""
    return _alive(_rtsp_lab_session)


@pytest.fixture(scope="session")
def nginx_lab(lab_dir):
    """NginxServer: RTMP ingest (.rtmp_url(name)), /hls/, /rtmp_stat, /static/ (.put_static())."""
    srv = NginxServer(lab_dir)
    _start(srv)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def rtmp_lab(nginx_lab):
    """RtmpPublisher ch1: testsrc2 640x360@15 H.264 + AAC sine, .url = rtmp://127.0.0.1:P/live/ch1."""
    pub = RtmpPublisher(nginx_lab, name="ch1", size="640x360", fps=15)
    _start(pub)
    yield pub
    pub.stop()


@pytest.fixture(scope="session")
def hls_lab(nginx_lab):
    """HlsLadder 480p/360p/240p, 2 s segments, 6-segment window: .master_url, .variant_url(name)."""
    ladder = HlsLadder(nginx_lab, renditions=("480p", "360p", "240p"), segment_seconds=2, list_size=6)
    _start(ladder)
    yield ladder
    ladder.stop()


@pytest.fixture(scope="session")
def postgres_server(lab_dir):
    """PostgresServer (session): .sqlalchemy_url, .dsn, .port; database `vigil`, user `vigil`, trust auth."""
    srv = PostgresServer(lab_dir)
    _start(srv)
    yield srv
    srv.destroy()


@pytest.fixture(scope="session")
def _xvfb_session(lab_dir):
    srv = Xvfb(screen="1920x1080x24", run_dir=lab_dir)
    _start(srv)
    yield srv
    srv.stop()


@pytest.fixture
def xvfb(_xvfb_session):
    """Xvfb 1920x1080x24 on a free display (one per session). Sets nothing globally: use xvfb.display / .env()."""
    return _alive(_xvfb_session)


# --------------------------------------------------------------------------- factories
@pytest.fixture
def rtsp_server_factory(lab_dir, request):
    """make(**RtspServer kwargs) -> started RtspServer (own port); all stopped after the test."""
    made = []

    def make(mounts=1, size="640x360", fps=15, start=True, **kw):
        kw.setdefault("name", f"rtsp_{request.node.name[:40]}_{len(made)}".replace("/", "_"))
        srv = RtspServer(lab_dir, mounts=mounts, size=size, fps=fps, **kw)
        made.append(srv)
        if start:
            _start(srv)
        return srv

    yield make
    stop_all(reversed(made))


@pytest.fixture
def rtmp_publisher_factory(nginx_lab, request):
    """make(name=..., **RtmpPublisher kwargs) -> started publisher into nginx_lab; stopped after the test."""
    made = []

    def make(name=None, start=True, **kw):
        name = name or f"t{abs(hash(request.node.nodeid)) % 10**6}_{len(made)}"
        pub = RtmpPublisher(nginx_lab, name=name, **kw)
        made.append(pub)
        if start:
            _start(pub)
        return pub

    yield make
    stop_all(reversed(made))


@pytest.fixture
def prometheus_server_factory(lab_dir):
    """make(scrape_targets=[("127.0.0.1", port)], scrape_interval="1s") -> started PrometheusServer."""
    made = []

    def make(scrape_targets=(), scrape_interval="1s", **kw):
        kw.setdefault("name", f"prometheus_{len(made)}_{os.getpid()}_{time.monotonic_ns() % 10**6}")
        srv = PrometheusServer(lab_dir, scrape_targets=scrape_targets, scrape_interval=scrape_interval, **kw)
        made.append(srv)
        _start(srv)
        return srv

    yield make
    stop_all(reversed(made))


# --------------------------------------------------------------------------- in-process fakes
@pytest.fixture
def fake_api():
    """FakeAnalyticsApi with 8 RUNNING streams (LOKASI-A x4, LOKASI-B x4); .base_url, .inject(), .set_state()."""
    api = FakeAnalyticsApi(streams=8, per_location=4)
    api.start()
    yield api
    api.stop()


@pytest.fixture
def json_device_server():
    """JsonDeviceServer with /status (Blackmagic-like) and /hdd (hdd-monitor-like); .set(path, doc)."""
    srv = JsonDeviceServer({"/status": BLACKMAGIC_STATUS, "/hdd": HDD_MONITOR_STATUS})
    srv.start()
    yield srv
    srv.stop()


# A few recorded segments (made once per session by the real recorder from the lab clip): the player's
# widget tests (tests/widgets) and the playback model's tests (tests/recording) share them.
@pytest.fixture(scope="session")
def recorded(lab_clip, tmp_path_factory):
    """(root, index, segments): >= 3 closed 2 s segments of camera "play" + two motion events."""
    root = tmp_path_factory.mktemp("recordings")
    index = DirectoryIndex(root)
    pipe = CameraPipeline("play", "Play", f"file://{lab_clip}")
    rec = CameraRecorder("play", root, segment_seconds=2.0, reserve_mb=0, index=index)
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    deadline = time.monotonic() + 90
    try:
        while len(index.added) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        pipe.stop()
        rec.stop()
    segs = sorted(index.added, key=lambda s: s.start)
    assert len(segs) >= 4, rec.status()
    index.add_motion_event(
        StoredMotionEvent("play", segs[1].start + 0.5, segs[1].start + 1.5, 0.2, ((0.1, 0.1, 0.2, 0.2),))
    )
    index.add_motion_event(StoredMotionEvent("play", segs[2].start + 1.0, segs[2].start + 1.8, 0.1))
    return root, index, segs

"""Vigil's test lab: real stream servers on 127.0.0.1 that tests and benchmarks start and stop.

    sys.path.insert(0, repo_root)
    from tests.lab import RtspServer, NginxServer, RtmpPublisher, HlsLadder, HlsPackager, make_clip

See tests/lab/README.md for the apt packages, and tests/conftest.py for the pytest fixtures.
"""

from tests.lab import servers
from tests.lab.audio import PulseAudioServer, SinkRecorder
from tests.lab.fake_api import (
    BLACKMAGIC_STATUS,
    HDD_MONITOR_REPORT,
    HDD_MONITOR_STATUS,
    FakeAnalyticsApi,
    FakeStream,
    JsonDeviceServer,
)
from tests.lab.servers import (
    CodecSwitchHls,
    FfmpegRtmpListener,
    HlsLadder,
    HlsPackager,
    HlsSink2Packager,
    LabError,
    ManagedProcess,
    NginxServer,
    PostgresServer,
    PrometheusServer,
    RtmpPublisher,
    RtspServer,
    ServerStartError,
    TrayHost,
    VlcRtspServer,
    Xvfb,
    free_port,
    group_cpu_seconds,
    http_get,
    make_clip,
    port_open,
    require,
    rtsp_describe,
    stop_all,
    wait_port,
)

__all__ = [
    "BLACKMAGIC_STATUS",
    "HDD_MONITOR_REPORT",
    "HDD_MONITOR_STATUS",
    "CodecSwitchHls",
    "FakeAnalyticsApi",
    "FakeStream",
    "FfmpegRtmpListener",
    "HlsLadder",
    "HlsPackager",
    "HlsSink2Packager",
    "JsonDeviceServer",
    "LabError",
    "ManagedProcess",
    "NginxServer",
    "PostgresServer",
    "PrometheusServer",
    "PulseAudioServer",
    "RtmpPublisher",
    "RtspServer",
    "ServerStartError",
    "SinkRecorder",
    "TrayHost",
    "VlcRtspServer",
    "Xvfb",
    "free_port",
    "group_cpu_seconds",
    "http_get",
    "make_clip",
    "port_open",
    "require",
    "rtsp_describe",
    "servers",
    "stop_all",
    "wait_port",
]

"""Prometheus exporter: exposition checked by promtool, scraped by a real Prometheus, and `vigil --headless`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.config import AppConfig, CameraConfig, MetricsSettings
from app.metrics.exporter import MetricsExporter
from app.pipeline.state import HealthSnapshot, StreamState
from probes.analytics_api import AnalyticsApiProbe
from probes.base import ProbeResult, ProbeResults
from tests.helpers import fetch_metrics

REPO = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SEED_LEGACY_LINT = {
    'camera_stream_status_total non-counter metrics should not have "_total" suffix',
    'camera_stream_total non-counter metrics should not have "_total" suffix',
}


def snaps() -> dict[str, HealthSnapshot]:
    return {
        "lobby": HealthSnapshot(
            camera_id="lobby",
            name="Lobby",
            group="HQ",
            url="rtsp://admin:***@127.0.0.1/x",
            state=StreamState.LIVE,
            fps_received=15.0,
            fps_decoded=15.0,
            bitrate_bps=800_000,
            frames_decoded_total=1234,
            packets_received_total=1300,
            bytes_received_total=9_999,
            reconnects_total=2,
            stalls_total=1,
            time_to_first_frame_s=0.4,
            conditions=("FROZEN", "HLS_STALE"),
            audio_level_dbfs=-21.5,
            mean_luma=100.0,
        ),
        "gate": HealthSnapshot(camera_id="gate", name='Gate "north"', group="Depot", state=StreamState.OFFLINE),
    }


@pytest.fixture
def exporter(fake_api):
    results = ProbeResults()
    probe = AnalyticsApiProbe(fake_api.base_url)
    fake_api.set_state(1, "ERROR")
    fake_api.inject(fake_api.detail_path(2), "status", status=500)
    results.replace(probe.name, probe.run())
    results.replace(
        "hls:lobby",
        [
            ProbeResult(
                "hls",
                "lobby",
                ok=True,
                camera_id="lobby",
                metrics={
                    "playlist_valid": 1.0,
                    "abr_rung_count": 3,
                    "expected_rung_count": 3,
                    "validation_errors_total": 0,
                },
            ),
            ProbeResult(
                "hls_rendition",
                "lobby/854x480",
                ok=True,
                camera_id="lobby",
                labels={"rendition": "854x480", "resolution": "854x480"},
                metrics={
                    "segment_download_s": 0.02,
                    "segment_http_status": 200,
                    "media_sequence": 42,
                    "discontinuities_total": 1,
                    "stale": 0,
                },
            ),
        ],
    )
    results.replace(
        "net:lobby",
        [
            ProbeResult(
                "network",
                "lobby",
                ok=True,
                camera_id="lobby",
                labels={"host": "127.0.0.1", "port": "554"},
                metrics={"loss_ratio": 0.0, "connect_latency_s": 0.001},
            )
        ],
    )
    results.replace(
        "json:p",
        [
            ProbeResult(
                "json_device",
                "p",
                ok=True,
                labels={"preset": "web_presenter", "streaming_state": "Streaming"},
                metrics={"bitrate_bps": 6e6, "up": 1.0},
            )
        ],
    )
    exp = MetricsExporter(MetricsSettings(port=0), snaps, results)
    exp.start()
    yield exp
    exp.stop()


def test_exposition_has_seed_series_and_passes_promtool(exporter):
    text = fetch_metrics(exporter.port)
    assert 'camera_stream_status_up{node_num="0",source_host="127.0.0.1",state_text="RUNNING",' in text
    assert 'state_text="ERROR"' in text and 'state_text="API_ERROR"' in text
    assert 'camera_stream_total{stream_name="LOKASI-A"} 4.0' in text
    assert 'camera_stream_status_total{state_text="RUNNING",stream_name="LOKASI-A"} 2.0' in text
    assert "# TYPE stream_api_errors_total counter" in text
    assert 'stream_api_errors_total{source_host="127.0.0.1"} 1.0' in text
    assert 'stream_api_response_time_seconds{source_host="127.0.0.1"}' in text
    assert 'vigil_camera_up{camera_id="lobby",camera_name="Lobby",group="HQ"} 1.0' in text
    assert "# TYPE vigil_camera_frames_total counter" in text and "# TYPE vigil_camera_reconnects_total counter" in text
    assert (
        'vigil_camera_state{camera_id="gate",camera_name="Gate \\"north\\"",group="Depot",state="OFFLINE"} 1.0' in text
    )
    assert 'condition="FROZEN",group="HQ"} 1.0' in text and 'condition="HLS_STALE",group="HQ"} 1.0' in text
    assert 'vigil_hls_abr_rungs{camera_id="lobby"} 3.0' in text
    assert "vigil_hls_segment_download_time_seconds{" in text and "vigil_network_connect_latency_seconds{" in text
    assert 'vigil_device_value{device="p",field="bitrate_bps"} 6e+06' in text
    assert "s3cret" not in text and "admin:" not in text.replace("admin:***", "")
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    # The analytics exporter's two gauge names end in _total, which promtool's linter flags; they are kept verbatim so
    # existing dashboards keep working (docs/metrics.md). Nothing else may be reported.
    findings = {line for line in (r.stdout + r.stderr).splitlines() if line.strip()}
    assert findings == SEED_LEGACY_LINT, findings


def test_exposition_without_seed_series_passes_promtool_cleanly():
    exp = MetricsExporter(MetricsSettings(port=0), snaps, ProbeResults())
    text = exp.exposition().decode()
    assert "vigil_camera_up" in text
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr


def test_textfile_export_is_atomic_and_complete(tmp_path):
    path = tmp_path / "vigil.prom"
    exp = MetricsExporter(MetricsSettings(enabled=True, port=0, file_path=str(path), file_interval_s=0.2), snaps)
    exp.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not path.exists():
            time.sleep(0.05)
        text = path.read_text()
    finally:
        exp.stop()
    assert "vigil_camera_up" in text and not list(tmp_path.glob("*.tmp*"))
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_off_switch_and_busy_port():
    off = MetricsExporter(MetricsSettings(enabled=False), snaps)
    off.start()
    assert off.port is None
    off.stop()
    first = MetricsExporter(MetricsSettings(port=0), snaps)
    first.start()
    try:
        second = MetricsExporter(MetricsSettings(port=first.port), snaps)
        second.start()  # logs an error, does not raise: the wall keeps running
        assert second.port is None
        second.stop()
    finally:
        first.stop()


@pytest.mark.lab
def test_real_prometheus_scrapes_vigil(exporter, prometheus_server_factory):
    prom = prometheus_server_factory(scrape_targets=[("127.0.0.1", exporter.port)], scrape_interval="1s")
    res = prom.wait_for('vigil_camera_up{camera_id="lobby"}', timeout=30)
    assert res[0]["value"][1] == "1"
    res = prom.wait_for('camera_stream_status_up{state_text="ERROR"}', timeout=30)
    assert res[0]["metric"]["source_host"] == "127.0.0.1" and res[0]["value"][1] == "0"
    res = prom.wait_for("stream_api_errors_total", timeout=30)
    assert res[0]["value"][1] == "1"


@pytest.mark.lab
def test_headless_demo_serves_metrics(tmp_path):
    from tests.lab import free_port

    port = free_port()
    env = {**os.environ, "VIGIL_DATA_DIR": str(tmp_path / "data"), "QT_QPA_PLATFORM": "offscreen"}
    cmd = [
        sys.executable,
        str(REPO / "main.py"),
        "--headless",
        "--demo",
        "--duration",
        "60",
        "--metrics-port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
        "--config",
        str(tmp_path / "none.json"),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                text = fetch_metrics(port)
                if 'vigil_camera_up{camera_id="lobby",camera_name="Lobby",group="HQ"} 1.0' in text:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert 'vigil_camera_up{camera_id="lobby",camera_name="Lobby",group="HQ"} 1.0' in text
        assert "vigil_camera_frames_total{" in text and "vigil_camera_condition{" in text
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0, err[-2000:]


def test_config_defaults():
    cfg = AppConfig(cameras=[CameraConfig(name="x", url="rtsp://127.0.0.1/a")])
    assert (cfg.metrics.host, cfg.metrics.port, cfg.metrics.enabled) == ("127.0.0.1", 9898, True)


def test_grafana_dashboard_uses_only_exported_series(exporter):
    import json
    import re

    dash = json.loads((REPO / "resources/grafana/vigil-dashboard.json").read_text())
    text = fetch_metrics(exporter.port)
    exported = set(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
    names = {n for n, _ in exported} | {n + "_total" for n, t in exported if t == "counter"}
    used = {
        m
        for p in dash["panels"]
        for t in p["targets"]
        for m in re.findall(r"\b(?:vigil|camera|stream)_[a-z_]+", t["expr"])
    }
    used -= {"camera_id", "camera_name"}  # label names, not series
    assert used and used <= names, used - names

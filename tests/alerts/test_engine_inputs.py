"""AlertEngine inputs beyond camera states: a real HLS probe whose master cannot be fetched, disk watches on a
real folder, recorder errors (explicit times through evaluate_once; no sleeps)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from app.alerts import AlertEngine, Severity
from app.alerts.service import DiskWatch, merge_watches
from app.config import AlertSettings
from app.pipeline.state import HealthSnapshot, StreamState
from probes.hls import HlsProbe
from tests.lab import free_port
from tests.lab.disk import tiny_disk

T0 = 1_700_000_000.0


def test_unreachable_hls_master_becomes_an_alert_with_the_probe_words():
    url = f"http://127.0.0.1:{free_port()}/live/master.m3u8"  # nothing listens: connection refused
    results = HlsProbe("gate", url, timeout_s=2).run()
    # the health monitor merges camera-scoped conditions into the camera's snapshot (route_conditions)
    snap = HealthSnapshot(camera_id="gate", name="Gate", state=StreamState.LIVE, conditions=results[0].conditions)
    engine = AlertEngine(AlertSettings(debounce_s=0, clear_s=0), lambda: {"gate": snap}, None,
                         probe_results=lambda: results, sinks=[])  # fmt: skip
    (ev,) = engine.evaluate_once(T0)
    a = ev.alert
    assert (a.alertname, a.severity, a.camera_id) == ("HlsMasterError", Severity.MAJOR, "gate")
    assert a.summary.startswith("HLS master playlist of Gate cannot be used: master playlist:")
    assert "refused" in a.summary


def test_disk_watch_alerts_in_words_and_one_filesystem_is_one_alert(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    rec, data = tmp_path / "recordings" / "not-created-yet", tmp_path / "data"
    data.mkdir()
    watches = [DiskWatch(rec, f"recordings disk {rec}", free * 2, "recording stops below 500 MB")]
    engine = AlertEngine(AlertSettings(debounce_s=0, clear_s=0, disk_min_free_gb=0.001), lambda: {}, None,
                         disk_paths=[data], disk_watches=watches, sinks=[])  # fmt: skip
    (ev,) = engine.evaluate_once(T0)  # data (1 MB limit) and recordings (2x free) share the disk: one alert
    a = ev.alert
    assert (a.alertname, a.severity) == ("DiskFull", Severity.MAJOR)
    assert a.summary.startswith(f"disk nearly full on Vigil data disk {data} and recordings disk {rec}: ")
    assert "free, less than" in a.summary and a.summary.endswith("; recording stops below 500 MB")
    assert len(merge_watches([*watches, DiskWatch(data, "d", 1)])) == 1


def test_recorder_errors_become_recording_stopped_after_the_debounce():
    errors = {"lobby": "disk full: 12 MB free on /rec, recording stopped"}
    snaps = {"lobby": HealthSnapshot(camera_id="lobby", name="Lobby", group="HQ", state=StreamState.LIVE)}
    engine = AlertEngine(AlertSettings(debounce_s=30, clear_s=10), lambda: snaps, None,
                         recording_errors=lambda: dict(errors), sinks=[])  # fmt: skip
    assert engine.evaluate_once(T0) == [] and engine.evaluate_once(T0 + 29) == []
    (ev,) = engine.evaluate_once(T0 + 30)
    a = ev.alert
    assert (a.alertname, a.severity, a.group) == ("RecordingStopped", Severity.CRITICAL, "HQ")
    assert a.summary == "recording of Lobby stopped: disk full: 12 MB free on /rec, recording stopped"
    errors.clear()  # the recorder wrote again
    engine.evaluate_once(T0 + 31)
    (res,) = engine.evaluate_once(T0 + 41)
    assert res.kind == "cleared" and engine.active()[0].needs_attention  # nobody acknowledged it yet
    engine.acknowledge(a.id, "night shift")
    assert engine.active() == ()


def test_real_probes_of_devices_and_analytics_api_become_worded_alerts(fake_api, json_device_server):
    from probes.analytics_api import AnalyticsApiProbe
    from probes.json_device import JsonDeviceProbe

    fake_api.set_state(0, "ERROR", last_error_msg="Failed to open input stream: 401 Unauthorized")
    json_device_server.set("/status", {"streaming": {"state": "Idle", "bitrate": 0}})
    probes = [
        AnalyticsApiProbe(fake_api.base_url, timeout_s=5),
        JsonDeviceProbe("encoder", json_device_server.url("/status"), preset="web_presenter", timeout_s=5),
        JsonDeviceProbe("nas", f"http://127.0.0.1:{free_port()}/hdd", preset="storage_node", timeout_s=2),
    ]
    try:
        results = [r for p in probes for r in p.run()]
    finally:
        for p in probes:
            p.close()
    engine = AlertEngine(AlertSettings(debounce_s=0, clear_s=0), lambda: {}, None, probe_results=lambda: results,
                         sinks=[])  # fmt: skip
    got = {e.alert.alertname: e.alert.summary for e in engine.evaluate_once(T0)}
    assert set(got) == {"AnalyticsStreamError", "DeviceNotStreaming", "DeviceUnreachable"}, got
    assert got["AnalyticsStreamError"].startswith("analytics server reports ")
    assert got["AnalyticsStreamError"].endswith(" in error: Failed to open input stream: 401 Unauthorized")
    assert got["DeviceNotStreaming"] == "encoder is not streaming: device state 'Idle'"
    assert got["DeviceUnreachable"].startswith("nas does not answer: ") and "refused" in got["DeviceUnreachable"]


def test_recordings_disk_mounted_after_start_is_watched_on_its_own(tmp_path):
    """Watches are merged per filesystem at each check, not once at construction: a recordings root
    mounted later (an 8 MB tmpfs here) gets its own DiskFull alert."""
    data = tmp_path / "data"
    data.mkdir()
    free = shutil.disk_usage(data).free
    with tiny_disk(tmp_path, size_mb=8) as disk:
        if disk is None:
            if os.environ.get("VIGIL_LAB_STRICT") or os.environ.get("CI"):
                pytest.fail("a tmpfs cannot be mounted here: CI runs as root and must be able to")
            pytest.skip("mounting a tmpfs needs root")
        subprocess.run(["umount", str(disk)], check=True)  # the recordings disk is not mounted at start-up
        rec = disk / "recordings"
        watches = [DiskWatch(rec, f"recordings disk {rec}", 100e6)]
        assert free > 200e6
        engine = AlertEngine(AlertSettings(debounce_s=0, clear_s=0, disk_min_free_gb=0.001), lambda: {}, None,
                             disk_paths=[data], disk_watches=watches, sinks=[])  # fmt: skip
        assert engine.evaluate_once(T0) == []  # one disk with room for both limits
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
        (ev,) = engine.evaluate_once(T0 + 60)  # next disk check (every 30 s)
        a = ev.alert
        assert a.alertname == "DiskFull" and a.summary.startswith(f"disk nearly full on recordings disk {rec}: ")

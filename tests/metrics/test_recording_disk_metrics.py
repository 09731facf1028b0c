"""Recording disk figures (retention's DiskStatus) on /metrics: real RetentionService on a temp folder."""

from __future__ import annotations

import re
import time

from app.config import MetricsSettings, RecordingSettings
from app.metrics.exporter import MetricsExporter
from app.recording.retention import GB, RetentionService
from app.recording.segments import final_path, part_path
from tests.helpers import fetch_metrics


def _value(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, f"{name} missing"
    return float(m[1])


def test_days_available_and_disk_usage_are_exported(tmp_path):
    now = time.time()
    for h in range(24):  # one 1000-byte segment per hour over the last day
        part = part_path(tmp_path, "gate", now - (24 - h) * 3600)
        part.parent.mkdir(parents=True, exist_ok=True)
        final_path(part, 60).write_bytes(b"\0" * 1000)
    settings = RecordingSettings(max_age_days=30, min_free_gb=0, max_total_gb=48_000 / GB)
    svc = RetentionService(settings, tmp_path)
    exp = MetricsExporter(MetricsSettings(port=0), dict, disk_status=svc.status)
    exp.start()
    try:
        before = fetch_metrics(exp.port)
        svc.run_once()
        text = fetch_metrics(exp.port)
    finally:
        exp.stop()
    assert "vigil_recording_" not in before  # no figures (rather than zeros) until retention looked at the disk
    st = svc.status()
    assert st.days_available is not None and 1.5 < st.days_available < 2.5  # 48 kB cap / ~24 kB a day
    assert _value(text, "vigil_recording_days_available") == st.days_available
    assert _value(text, "vigil_recording_disk_free_bytes") == st.free_bytes > 0
    assert _value(text, "vigil_recording_disk_total_bytes") == st.total_bytes >= st.free_bytes
    assert _value(text, "vigil_recording_bytes") == 24_000 and _value(text, "vigil_recording_segments") == 24
    assert _value(text, "vigil_recording_retention_targets_met") == 1.0
    assert "# TYPE vigil_recording_segments_deleted_total counter" in text
    assert _value(text, "vigil_recording_oldest_segment_timestamp_seconds") == st.oldest


def test_a_failing_disk_status_does_not_break_thefetch_metrics():
    def broken():
        raise OSError("disk gone")

    exp = MetricsExporter(MetricsSettings(port=0), dict, disk_status=broken)
    text = exp.exposition().decode()
    assert "vigil_scrape_duration_seconds" in text and "vigil_recording_" not in text

from __future__ import annotations

import csv
import json

from app.store.export import export_history
from app.store.records import AlertRecord, HealthSampleRecord

T0 = 1_700_000_000.0


def test_export_csv_and_json(store, tmp_path):
    store.record_state_change("cam1", T0, "IDLE", "OFFLINE", "cannot open rtsp://admin:pw123@10.1.1.1/x")
    store.record_state_change("cam1", T0 + 60, "OFFLINE", "LIVE", "receiving pictures")
    store.record_state_change("cam2", T0, "IDLE", "LIVE", "")
    for i in range(10):
        store.submit(HealthSampleRecord("cam1", T0 + 60 + i, "LIVE", 25, 1e6, 30))
    store.record_alert(AlertRecord("a1", "CameraOffline", "cam1", "CRITICAL", "resolved", "cam1 offline", T0, T0 + 60,
                                   resolved_at=T0 + 60, resolved_by="auto"))  # fmt: skip
    assert store.flush(30)
    res = store.query(export_history, tmp_path / "out.json", T0 - 10, T0 + 120, ["cam1"], now=T0 + 120).result(30)
    doc = json.loads((tmp_path / "out.json").read_text())
    assert (res.events, res.samples, res.alerts) == (2, 10, 1)
    assert [e["new_state"] for e in doc["events"]] == ["OFFLINE", "LIVE"]
    assert "pw123" not in (tmp_path / "out.json").read_text()
    (av,) = doc["availability"]
    assert av["camera_id"] == "cam1" and av["down_s"] == 60 and av["up_s"] == 60
    res = store.query(export_history, tmp_path / "out.csv", T0 - 10, T0 + 120, None, now=T0 + 120).result(30)
    assert len(res.files) == 4
    rows = list(csv.DictReader((tmp_path / "out_events.csv").read_text().splitlines()))
    assert {r["camera_id"] for r in rows} == {"cam1", "cam2"}
    alerts = list(csv.DictReader((tmp_path / "out_alerts.csv").read_text().splitlines()))
    assert alerts[0]["alertname"] == "CameraOffline" and alerts[0]["resolved_by"] == "auto"

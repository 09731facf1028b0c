"""A real Prometheus Alertmanager (Debian ``prometheus-alertmanager``, 127.0.0.1, ``resolve_timeout`` 20 s)
fed by a real composed Vigil watching a real lab RTSP stream that goes down for 2 minutes.

Alertmanager ends an alert that is not posted again within ``resolve_timeout`` ("Clients are expected to
continuously re-send alerts as long as they are still active", prometheus.io/docs/alerting/latest/clients/).
Before the re-send, Vigil posted on state changes only: a CameraOffline posted once was gone from
``GET /api/v2/alerts`` after 20.1 s here (after 5 min with Alertmanager's default), and on-call was paged
"resolved" while the camera was still down. With ``alerts.webhook_resend_s`` 5 s it must stay active for
the whole outage (sampled every second, 120 s) and resolve in Alertmanager only after the stream is back;
Alertmanager's own notifications (a webhook receiver on 127.0.0.1: what on-call is paged with) say
"resolved" only after that too. Wall time about 2.5 min.
"""

from __future__ import annotations

import time

import pytest

from app import compose
from app.config import AlertSettings, AppConfig, CameraConfig
from app.paths import Paths
from app.pipeline.state import StreamState
from tests.alerts.webhook_receiver import WebhookReceiver
from tests.helpers import wait_for
from tests.lab.servers import AlertmanagerServer

OUTAGE_S = 120.0


@pytest.fixture
def paged():
    """What Alertmanager notifies (its webhook_configs receiver): on-call's pager."""
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def alertmanager(lab_dir, paged, request):
    am = AlertmanagerServer(lab_dir, resolve_timeout="20s", webhook_url=paged.url.replace("/api/v2/alerts", "/hook"),
                            name=f"alertmanager_{request.node.name[:40]}")  # fmt: skip
    am.start()  # a missing prometheus-alertmanager fails the test (scripts/setup.sh installs it)
    yield am
    am.stop()


def _pages(paged: WebhookReceiver, status: str) -> list[float]:
    """Indexes (in arrival order) of Alertmanager's notifications that carry the gate camera with *status*."""
    out = []
    for i, r in enumerate(paged.requests):
        body = r.body or {}
        for a in body.get("alerts", []):
            if a.get("labels", {}).get("camera") == "gate" and a.get("status") == status:
                out.append(i)
    return out


def test_a_two_minute_outage_stays_firing_in_alertmanager_and_resolves_after_recovery(
    tmp_path, rtsp_server_factory, alertmanager, paged
):
    camera = rtsp_server_factory(mounts=1)
    alerts = AlertSettings(debounce_s=2, clear_s=2, webhook_urls=[alertmanager.alerts_url], webhook_resend_s=5,
                           disk_min_free_gb=0)  # fmt: skip
    config = AppConfig(cameras=[CameraConfig(name="Gate", url=camera.url(1))], alerts=alerts)
    config.metrics.port = 0
    config.pipeline.backoff_cap_s = 2
    rt = compose.build_runtime(config, Paths(tmp_path / "vigil.json", tmp_path, tmp_path / "rec", tmp_path / "l"))
    rt.start()
    try:
        wait_for(lambda: rt.supervisor.snapshots()["gate"].state is StreamState.LIVE, timeout=60, what="Gate LIVE")
        camera.stop()  # the camera goes away
        wait_for(lambda: alertmanager.active(alertname="CameraOffline", camera="gate"), timeout=60,
                 what="CameraOffline active in Alertmanager")  # fmt: skip
        t0 = time.monotonic()
        gaps, samples = [], 0
        while (elapsed := time.monotonic() - t0) < OUTAGE_S:
            if not alertmanager.active(alertname="CameraOffline", camera="gate"):
                gaps.append(round(elapsed, 1))
            samples += 1
            time.sleep(1.0)
        assert rt.supervisor.snapshots()["gate"].state.is_down  # the outage really lasted
        assert samples >= 60 and gaps == [], f"CameraOffline missing from Alertmanager at {gaps} s"
        assert _pages(paged, "firing") and _pages(paged, "resolved") == []  # on-call: firing, never resolved
        hook = rt.alerts.sinks[1]
        assert hook.resent_total >= 20 and hook.failed_total == 0
        # the camera comes back: the alarm clears in Vigil, endsAt goes to Alertmanager, which resolves it
        back_at = len(paged.requests)
        camera.start()
        wait_for(lambda: rt.supervisor.snapshots()["gate"].state is StreamState.LIVE, timeout=60, what="Gate back")
        wait_for(lambda: not alertmanager.active(alertname="CameraOffline", camera="gate"), timeout=30,
                 what="CameraOffline resolved in Alertmanager")  # fmt: skip
        (ended,) = [a for a in rt.alerts.active() if a.alertname == "CameraOffline"]
        assert ended.status.value == "cleared"  # the condition ended; still to be acknowledged in Vigil
        wait_for(lambda: _pages(paged, "resolved"), timeout=30, what="Alertmanager's resolved notification")
        assert min(_pages(paged, "resolved")) >= back_at
    finally:
        rt.stop()

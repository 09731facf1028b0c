"""A JSON device's text fields become metric labels: a URL inside free text must lose its password.

Real JsonDeviceServer on loopback, real JsonDeviceProbe, real exporter scraped over HTTP.
"""

from __future__ import annotations

from app.config import MetricsSettings
from app.metrics.collector import text_label
from app.metrics.exporter import MetricsExporter
from probes.base import ProbeResults
from probes.json_device import JsonDeviceProbe
from tests.helpers import fetch_metrics

PW = "Dev1cePw"
PW2 = "Sec0ndPw"


def test_text_label_forms():
    assert text_label(f"rtsp://admin:{PW}@10.0.0.5/x?token={PW}") == "rtsp://10.0.0.5/x"
    assert text_label(f"source: rtsp://admin:{PW}@h/x") == "source: rtsp://admin:***@h/x"
    two = text_label(f"rtsp://a:{PW}@h/x,rtsp://b:{PW2}@g/y")  # no space: still two URLs
    assert PW not in two and PW2 not in two
    assert PW not in text_label(f"rtsp://h/rtsp://admin:{PW}@g/x")  # a URL inside a URL's path
    assert text_label("Streaming") == "Streaming"


def test_device_text_fields_with_urls_expose_no_password(json_device_server):
    url = json_device_server.set(
        "/report",
        {
            "source": f"source: rtsp://admin:{PW}@10.0.0.7/live",
            "pair": f"main rtsp://admin:{PW}@10.0.0.7/1 backup rtsp://ops:{PW2}@10.0.0.8/2",
            "cam": f"rtsp://admin:{PW}@10.0.0.7:554/ch1",
        },
    )
    probe = JsonDeviceProbe("rec", url, fields={"source": "source", "pair": "pair", "cam": "cam"}, timeout_s=5)
    try:
        results = ProbeResults()
        results.replace(probe.name, probe.run())
    finally:
        probe.close()
    exp = MetricsExporter(MetricsSettings(port=0), dict, results)
    exp.start()
    try:
        text = fetch_metrics(exp.port)
    finally:
        exp.stop()
    states = [line for line in text.splitlines() if line.startswith("vigil_device_state{")]
    assert len(states) == 3, states
    assert 'value="rtsp://10.0.0.7:554/ch1"' in text
    assert 'value="source: rtsp://admin:***@10.0.0.7/live"' in text
    assert PW not in text and PW2 not in text

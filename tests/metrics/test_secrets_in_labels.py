"""Credentials never reach a display string, a log line or a metric label (app/secrets.py).

A catalogue of the URL forms cameras and DVRs use in the field, checked through mask_url (display),
label_url (metric labels) and scrub (free text); then the real exporter on loopback, fed by a real
CameraPipeline configured with credentials, must not expose the password nor the user name.
"""

from __future__ import annotations

import pytest

from app.config import MetricsSettings
from app.metrics.exporter import MetricsExporter
from app.pipeline.pipeline import CameraPipeline
from app.secrets import label_url, mask_url, scrub
from tests.helpers import fetch_metrics

PW = "S3cr3t_pw"  # contains '_' on purpose: the DVR path form separates fields with '_'
USER = "opsadmin"

# (raw URL, mask_url result, label_url result)
CATALOGUE = [
    (f"rtsp://{USER}:{PW}@10.0.0.5:554/ch1", f"rtsp://{USER}:***@10.0.0.5:554/ch1", "rtsp://10.0.0.5:554/ch1"),
    (f"rtsp://{USER}@10.0.0.5/ch1", f"rtsp://{USER}@10.0.0.5/ch1", "rtsp://10.0.0.5/ch1"),
    (f"rtsp://{USER}:p%40{PW}@cam/x", f"rtsp://{USER}:***@cam/x", "rtsp://cam/x"),
    (f"rtsp://{USER}:a@b{PW}@cam/x", f"rtsp://{USER}:***@cam/x", "rtsp://cam/x"),  # raw '@' in the password
    (
        f"rtsp://host/stream?user={USER}&password={PW}",
        f"rtsp://host/stream?user={USER}&password=***",
        "rtsp://host/stream",
    ),
    (
        f"http://cam:8080/videostream.cgi?loginuse={USER}&loginpas={PW}",
        f"http://cam:8080/videostream.cgi?loginuse={USER}&loginpas=***",
        "http://cam:8080/videostream.cgi",
    ),
    (
        f"http://cam/snap.cgi?usr={USER}&pwd={PW}&x=1",
        f"http://cam/snap.cgi?usr={USER}&pwd=***&x=1",
        "http://cam/snap.cgi",
    ),
    (f"http://cam/x.m3u8?token={PW}&a=1", "http://cam/x.m3u8?token=***&a=1", "http://cam/x.m3u8"),
    (f"rtsp://cam/x?PassWord={PW}#frag", "rtsp://cam/x?PassWord=***#frag", "rtsp://cam/x"),
    (
        f"rtsp://10.0.0.9:554/user={USER}_password={PW}_channel=1_stream=0.sdp?real_stream",
        f"rtsp://10.0.0.9:554/user={USER}_password=***_channel=1_stream=0.sdp?real_stream",
        "rtsp://10.0.0.9:554/user=***_password=***_channel=1_stream=0.sdp",
    ),
    (f"rtsp://cam/live;password={PW};ch=2", "rtsp://cam/live;password=***;ch=2", "rtsp://cam/live;password=***;ch=2"),
    (
        f"rtmp://ingest/live/stream_key={PW}/x",
        "rtmp://ingest/live/stream_key=***/x",
        "rtmp://ingest/live/stream_key=***/x",
    ),
    (f"rtsp://{USER}:{PW}@[::1]:8554/x", f"rtsp://{USER}:***@[::1]:8554/x", "rtsp://[::1]:8554/x"),
    (
        "rtsp://cam/cam/realmonitor?channel=1&subtype=0",
        "rtsp://cam/cam/realmonitor?channel=1&subtype=0",
        "rtsp://cam/cam/realmonitor",
    ),  # fully masked query: nothing to hide, still no query in the label
    ("demo://lobby", "demo://lobby", "demo://lobby"),
    ("", "", ""),
]


@pytest.mark.parametrize(("url", "masked", "label"), CATALOGUE)
def test_mask_url_and_label_url_catalogue(url, masked, label):
    assert mask_url(url) == masked
    assert label_url(url) == label
    assert label_url(mask_url(url)) == label  # the collector labels the pipeline's already masked URL
    assert PW not in mask_url(url) and PW not in label_url(url)
    assert USER not in label_url(url)


def test_label_url_of_an_unparsable_url_hides_everything():
    assert label_url(f"rtsp://{USER}:{PW}@[bad/x") == "invalid URL"
    assert PW not in mask_url(f"rtsp://{USER}:{PW}@[bad/x")


def test_scrub_masks_every_form_in_free_text():
    text = (
        f"Error opening rtsp://{USER}:{PW}@cam/1: 401; retry rtsp://10.0.0.9/user={USER}_password={PW}_channel=1 "
        f'and rtsp://h/s?password={PW}&x=1 (password={PW}) "token={PW}"'
    )
    out = scrub(text)
    assert PW not in out, out
    assert "channel=1" in out and "x=1" in out  # only the secrets go


def test_metrics_expose_no_password_and_no_user_name():
    """Real CameraPipeline (its snapshot carries the masked URL) + real exporter scraped over loopback."""
    urls = [u for u, _, _ in CATALOGUE if PW in u]
    pipelines = [CameraPipeline(f"cam{i}", f"Camera {i}", u, group="Depot") for i, u in enumerate(urls)]

    def snapshots():
        return {p.camera_id: p.snapshot() for p in pipelines}

    exp = MetricsExporter(MetricsSettings(port=0), snapshots)
    exp.start()
    try:
        text = fetch_metrics(exp.port)
    finally:
        exp.stop()
    info = [line for line in text.splitlines() if line.startswith("vigil_camera_info{")]
    assert len(info) == len(urls)
    assert 'url="rtsp://10.0.0.5:554/ch1"' in text
    assert 'url="rtsp://10.0.0.9:554/user=***_password=***_channel=1_stream=0.sdp"' in text
    assert PW not in text and "S3cr3t" not in text
    assert USER not in text

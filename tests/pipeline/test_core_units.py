"""Pure tests of the core pieces: no threads, no servers."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from app.config import AppConfig, CameraConfig, ConfigError, load_config, parse_config, save_config
from app.logs import ScrubSecrets
from app.pipeline.frames import Frame, FrameRateMeter, LatestFrameSlot, RateMeter, fit_size
from app.pipeline.pipeline import backoff_delay
from app.pipeline.source import SourceError, build_spec, classify_error, demo_outage_active
from app.pipeline.state import StreamState
from app.secrets import mask_url, scrub


# ----------------------------------------------------------------- secrets
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:s3cret!@10.0.0.5:554/ch1", "rtsp://admin:***@10.0.0.5:554/ch1"),
        ("rtsp://admin@10.0.0.5/ch1", "rtsp://admin@10.0.0.5/ch1"),
        ("http://cam/x.m3u8?token=abc123&a=1", "http://cam/x.m3u8?token=***&a=1"),
        ("rtmp://host/live/ch1", "rtmp://host/live/ch1"),
        ("rtsp://u:p%40ss@h/x", "rtsp://u:***@h/x"),
    ],
)
def test_mask_url(url, expected):
    assert mask_url(url) == expected


def test_scrub_masks_urls_and_literal_secrets():
    text = "failed to open rtsp://admin:pa55word@cam/1 (password pa55word)"
    out = scrub(text, ("pa55word",))
    assert "pa55word" not in out and "admin:***@" in out


def test_log_filter_scrubs_every_record():
    import logging

    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "opening %s", ("rtsp://a:topsecret@h/1",), None)
    ScrubSecrets().filter(rec)
    assert "topsecret" not in rec.getMessage()


# ----------------------------------------------------------------- config
def test_config_defaults_and_id_slug():
    cam = CameraConfig(name="Lobby Cam #2", url="rtsp://h/1")
    assert cam.id == "lobby-cam-2"
    assert cam.tile_url == "rtsp://h/1"
    cam2 = CameraConfig(name="x", url="rtsp://h/main", sub_url="rtsp://h/sub")
    assert cam2.tile_url == "rtsp://h/sub"


def test_config_rejects_bad_url_in_words_without_password():
    with pytest.raises(ConfigError) as e:
        parse_config({"cameras": [{"name": "a", "url": "ftp://u:pw123@h/x"}]})
    msg = str(e.value)
    assert "cameras.0.url" in msg and "not a stream address Vigil can open" in msg and "pw123" not in msg
    assert "rtsp://" in msg and ".m3u8" in msg and "lavfi" not in msg and "demo:" not in msg  # operator kinds only


def test_config_rejects_unknown_keys_and_duplicate_ids():
    with pytest.raises(ConfigError, match=r"cameras\.0\.urll"):
        parse_config({"cameras": [{"name": "a", "url": "rtsp://h/1", "urll": "x"}]})
    with pytest.raises(ConfigError, match="two cameras have the id 'a'"):
        parse_config({"cameras": [{"name": "a", "url": "rtsp://h/1"}, {"name": "A", "url": "rtsp://h/2"}]})


def test_config_unknown_template_is_an_error():
    with pytest.raises(ConfigError, match="template 'nope'"):
        parse_config({"cameras": [{"name": "a", "url": "rtsp://h/1", "template": "nope"}]})


def test_config_migrates_version_0(tmp_path):
    p = tmp_path / "old.json"
    p.write_text(json.dumps({"streams": [{"name": "Gate", "uri": "rtsp://h/1"}]}))
    cfg = load_config(p)
    assert cfg.schema_version == 1 and cfg.cameras[0].url == "rtsp://h/1"


def test_config_newer_schema_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="newer"):
        parse_config({"schema_version": 99})


def test_config_invalid_json_says_where(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text('{"cameras": [ }')
    with pytest.raises(ConfigError, match="line 1, column"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.json")


def test_config_save_is_atomic_and_round_trips(tmp_path):
    p = tmp_path / "sub" / "vigil.json"
    cfg = AppConfig(cameras=[CameraConfig(name="Gate", url="rtsp://u:pw@h/1", thresholds={"min_fps": 10})])
    save_config(cfg, p)
    again = load_config(p)
    assert again == cfg
    assert again.thresholds_for(again.cameras[0]).min_fps == 10
    # no temp file left behind; the password went to the secret store beside it (no OS keyring in tests)
    assert sorted(f.name for f in p.parent.iterdir()) == ["vigil.json", "vigil.secrets.json"]
    assert "pw@" not in p.read_text()


# ----------------------------------------------------------------- frames and rates
def _frame(slot, w=4, h=2):
    return Frame(slot.next_seq(), np.zeros((h, w, 4), np.uint8), w, h, 0.0)


def test_latest_frame_slot_drops_and_counts_stale():
    slot = LatestFrameSlot()
    assert slot.peek() is None
    f1 = _frame(slot)
    slot.put(f1)
    slot.put(_frame(slot))  # f1 never read: stale
    slot.put(f3 := _frame(slot))
    assert slot.stale == 2
    got = slot.peek(0)
    assert got is f3
    assert slot.peek(got.seq) is None  # nothing newer
    slot.put(_frame(slot))
    assert slot.stale == 2  # f3 had been read


def test_rate_meter_window():
    m = RateMeter(window_s=5)
    for i in range(100):
        m.add(1, now=i * 0.1)  # 10 events/s for 10 s
    assert m.rate(now=10.0) == pytest.approx(10, rel=0.05)
    assert m.rate(now=30.0) == 0.0


def test_frame_rate_reads_the_stream_not_the_delivery():
    m = FrameRateMeter(window_s=5)
    # 30 fps for 10 s; pictures 4.0-6.0 s arrive together at 6.0 s (a TCP stall and its backlog)
    for i in range(300):
        pts = i / 30
        m.add(pts, now=6.0 if 4.0 <= pts < 6.0 else pts)
        if pts >= 6.0:
            assert m.rate(now=pts) == pytest.approx(30, rel=0.02), pts
    clock = RateMeter(window_s=5)
    for i in range(300):
        pts = i / 30
        clock.add(1, now=6.0 if 4.0 <= pts < 6.0 else pts)
    assert clock.rate(now=6.5) > 1.1 * 30  # what the clock alone read: the backlog counted as a burst
    assert m.rate(now=30.0) == 0.0  # nothing received in the window: a stall reads 0


def test_frame_rate_gap_between_connections_is_not_stream_time():
    m = FrameRateMeter(window_s=5)
    for i in range(45):
        m.add(100 + i / 15, now=i / 15)  # 15 fps for 3 s
    m.new_run()  # a 1.5 s reopen; the new stream's timestamps start at 0
    for i in range(30):
        m.add(i / 15, now=4.5 + i / 15)
    assert m.rate(now=6.5) == pytest.approx(15, rel=0.02)
    m2 = FrameRateMeter(window_s=5)
    for i in range(150):
        m2.add(i / 15 if i < 75 else 500 + i / 15, now=i / 15)  # a jump without a reopen (a discontinuity)
    assert m2.rate(now=7.0) == pytest.approx(15, rel=0.02)


def test_frame_rate_lost_pictures_and_missing_timestamps():
    m = FrameRateMeter(window_s=5)
    for i in range(150):
        if i % 3 != 2:  # a third of the pictures never arrive (UDP loss, an encoder dropping frames)
            m.add(i / 15, now=i / 15)
    assert m.rate(now=10.0) == pytest.approx(10, rel=0.05)
    untimed = FrameRateMeter(window_s=5)
    for i in range(100):
        untimed.add(None, now=i * 0.1)
    assert untimed.rate(now=10.0) == pytest.approx(10, rel=0.05)  # the clock's count
    frozen = FrameRateMeter(window_s=5)
    for i in range(100):
        frozen.add(0.0, now=i * 0.1)  # every picture stamped 0: the timestamps span no time
    assert frozen.rate(now=10.0) == pytest.approx(10, rel=0.05)


@pytest.mark.parametrize(
    ("src", "box", "out"),
    [((640, 360), (320, 320), (320, 180)), ((640, 360), (100, 100), (100, 56)), ((640, 480), (0, 10), (0, 0)),
     ((320, 180), (3840, 2160), (640, 360))],
)  # fmt: skip
def test_fit_size(src, box, out):
    assert fit_size(*src, *box) == out


def test_backoff_grows_with_jitter_and_is_capped():
    rng = random.Random(1)
    delays = [backoff_delay(a, 0.5, 30.0, rng) for a in range(12)]
    assert 0.4 <= delays[0] <= 0.6
    assert delays[3] > delays[1]
    assert max(delays) <= 30.0 and delays[-1] >= 24.0


# ----------------------------------------------------------------- sources
def test_build_spec_per_protocol():
    rtsp = build_spec("rtsp://h/1", transport="tcp")
    assert rtsp.options["rtsp_transport"] == "tcp" and not rtsp.paced
    assert build_spec("rtsp://h/1", transport="udp").options["rtsp_transport"] == "udp"
    assert "rw_timeout" in build_spec("rtmp://h/live/a").options
    hls = build_spec("http://h/a.m3u8")
    # live HLS: one segment behind the newest, paced to its timestamps, reopened when the playlist "ends"
    assert hls.options["live_start_index"] == "-2" and hls.paced and hls.hls and not hls.loops
    assert build_spec("http://h/cam.ts").paced and not build_spec("http://h/cam.ts").hls
    demo = build_spec("demo://x?pattern=life&outage=5/20")
    assert demo.format == "lavfi" and demo.paced and demo.outage == (5.0, 20.0)
    assert build_spec("rtsp://u:pw99@h/1").secrets == ("pw99",)
    with pytest.raises(SourceError):
        build_spec("demo://x?pattern=nope")


def test_demo_outage_schedule():
    assert not demo_outage_active((5, 20), now=100.0)  # 100 % 20 = 0
    assert demo_outage_active((5, 20), now=116.0)
    assert not demo_outage_active(None)


def test_classify_error_words():
    import av

    assert "refused" in classify_error(ConnectionRefusedError(111, "Connection refused")).reason
    e = classify_error(av.error.HTTPUnauthorizedError(1, "Server returned 401", "rtsp://a:pw@h/"), ("pw",))
    assert e.state is StreamState.OFFLINE and "401" in e.reason and "pw@" not in e.detail
    assert classify_error(av.error.HTTPNotFoundError(1, "x")).reason.startswith("404")
    # words come from the message, never from the URL it quotes (a CI run once got a free port 38401)
    refused = av.error.ConnectionRefusedError(111, "Connection refused", "rtsp://127.0.0.1:38401/cam1")
    assert classify_error(refused).reason.startswith("connection refused")
    io_error = av.error.FFmpegError(5, "Input/output error", "http://127.0.0.1:40403/live/404/index.m3u8")
    assert classify_error(io_error).reason == "network error: Input/output error"
    assert classify_error(av.error.FFmpegError(5, "method DESCRIBE failed: 401 Unauthorized")).reason.startswith("401")
    assert classify_error(av.error.FFmpegError(5, "Server returned 403 Forbidden (access denied)")).reason.startswith(
        "403"
    )
    assert classify_error(av.error.DecoderNotFoundError(1, "x")).state is StreamState.ERROR

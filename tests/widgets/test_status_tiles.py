"""Status tiles: streams known only from the analytics API appear on the wall after the cameras.

Real parts: the lab's fake analytics API on loopback, the real AnalyticsApiProbe on a real
ProbeScheduler (the runtime's "probes" service), a real MainWindow with a real demo camera.
"""

from __future__ import annotations

from app.pipeline.state import HealthSnapshot, StreamState
from probes.analytics_api import AnalyticsApiProbe
from probes.base import ProbeResult, ProbeResults
from probes.scheduler import ProbeScheduler
from tests.widgets.conftest import demo_cam, make_config
from widgets.arrangement import WallArrangement
from widgets.overlay_text import overlay_text
from widgets.status_tiles import status_snapshots

WAIT = 20_000


def api_id(fake_api, i: int) -> str:
    s = fake_api.stream(i)
    return f"api:127.0.0.1/{s.stream_node_num}/{s.stream_id}"


def tile_of(win, tile_id):
    return next((t for t in win.wall.tiles if t.camera_id == tile_id), None)


def test_api_streams_appear_as_status_tiles_and_follow_the_api(qtbot, make_window, fake_api):
    fake_api.set_state(0, "ERROR", last_error_msg="Failed to open input stream")
    sched = ProbeScheduler(workers=2)
    sched.add(AnalyticsApiProbe(fake_api.base_url, interval_s=0.3, timeout_s=5))
    win = make_window(make_config([demo_cam("Lobby")], "3x3"), probes=sched)
    wall = win.wall
    qtbot.waitUntil(lambda: sum(1 for t in wall.tiles if t.camera_id.startswith("api:")) == 8, timeout=WAIT)
    assert wall.tiles[0].camera_id == "lobby"  # cameras first, status tiles after them
    assert all(t.camera_id.startswith("api:") for t in wall.tiles[1:])
    err = tile_of(win, api_id(fake_api, 0))
    o = err.overlay()
    assert o.state == "ERROR" and o.down and o.stamp == "API: ERROR"
    assert "Failed to open input stream" in o.reason and o.title.startswith("LOKASI-A")
    live = tile_of(win, api_id(fake_api, 1)).overlay()
    assert live.state == "LIVE" and live.stamp == "API: RUNNING" and not live.down
    assert "15 fps" in live.details and "1146x646" in live.details
    assert not err.has_picture() and win.frames.demanded_size(err.camera_id) == (0, 0)  # nothing to decode
    qtbot.waitUntil(lambda: win.api_label.text() == "API streams: 7/8 running", timeout=WAIT)

    # the API changes its mind: the tiles follow at the health rate
    fake_api.set_state(0, "RUNNING", last_error_msg="Stream is running..")
    fake_api.set_state(2, "STOPPED")
    qtbot.waitUntil(lambda: err.overlay().state == "LIVE", timeout=WAIT)
    assert err.overlay().stamp == "API: RUNNING" and err.overlay().reason == "Stream is running.."
    stopped = tile_of(win, api_id(fake_api, 2))
    qtbot.waitUntil(lambda: stopped.overlay().stamp == "API: STOPPED", timeout=WAIT)
    assert stopped.overlay().state == "IDLE"
    assert win.live_label.text() in ("The camera is live", "The camera is not live")  # API streams apart

    # the server stops answering: one server tile says why instead of the streams silently vanishing
    fake_api.inject("/streams", "status", status=500)
    server_id = "api-server:127.0.0.1"
    qtbot.waitUntil(lambda: tile_of(win, server_id) is not None, timeout=WAIT)
    so = tile_of(win, server_id).overlay()
    assert so.state == "ERROR" and "HTTP 500" in so.reason
    assert not any(t.camera_id.startswith("api:") for t in wall.tiles)
    fake_api.clear_faults()
    qtbot.waitUntil(lambda: tile_of(win, api_id(fake_api, 0)) is not None, timeout=WAIT)
    assert tile_of(win, server_id) is None


def test_status_tiles_page_after_cameras_and_are_not_saved_or_swapped():
    arr = WallArrangement(["a", "b", "c"], "2x2")
    assert arr.set_status_ids(["api:h/0/x", "api:h/0/y"]) and not arr.set_status_ids(["api:h/0/x", "api:h/0/y"])
    assert arr.page(0) == ["a", "b", "c", "api:h/0/x"] and arr.page(1) == ["api:h/0/y", "", "", ""]
    assert arr.page_count == 2 and arr.locate("api:h/0/y") == (1, 0)
    assert [p.camera_ids for p in arr.to_pages()] == [["a", "b", "c", ""]]  # status tiles are not saved
    assert not arr.swap(0, 0, 3)  # a status tile keeps its place
    assert arr.swap(0, 0, 2) and arr.order == ["c", "b", "a"]


def test_status_snapshots_order_and_words_without_qt():
    res = ProbeResults()
    labels = {"source_host": "10.0.0.9", "stream_id": "abcdef0123", "stream_name": "GATE", "last_error_msg": ""}
    res.replace("analytics:x", [
        ProbeResult("analytics_server", "x", ok=False, state="API_ERROR", error="/streams: connection refused",
                    labels={"source_host": "10.0.0.9"}),
        ProbeResult("analytics_stream", "10.0.0.9/0/abcdef0123", ok=True, state="RUNNING", labels=labels,
                    metrics={"up": 1.0, "active": 1.0, "fps": 12.5, "frame_width": 640, "frame_height": 360}),
    ])  # fmt: skip
    snaps = status_snapshots(res)
    assert list(snaps) == ["api-server:x", "api:10.0.0.9/0/abcdef0123"]
    o = overlay_text(snaps["api:10.0.0.9/0/abcdef0123"])
    assert o.state == "LIVE" and o.details.startswith("12.5 fps · 640x360 · API checked ")
    s = overlay_text(snaps["api-server:x"])
    assert s.down and "connection refused" in s.reason and s.title == "Analytics server x · 10.0.0.9"
    assert status_snapshots(None) == {} and status_snapshots(object()) == {}  # never raises
    cam = overlay_text(HealthSnapshot("cam", "Cam", state=StreamState.OFFLINE, reason="refused"))
    assert cam.stamp.startswith("OFFLINE since ")  # camera tiles keep their own words

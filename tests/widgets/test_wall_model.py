"""Pure rules of the wall: arrangement (paging, swap, restore), overlay words, degradation policy. No Qt."""

from __future__ import annotations

import time

from app.config import WallPage
from app.pipeline.state import HealthSnapshot, StreamState
from widgets.arrangement import WallArrangement
from widgets.degrade import DegradationPolicy, TileLoad
from widgets.overlay_text import overlay_text

IDS = [f"c{i}" for i in range(10)]


def test_pages_follow_layout_capacity():
    arr = WallArrangement(IDS, "2x2")
    assert arr.page_count == 3
    assert arr.page(0) == ["c0", "c1", "c2", "c3"]
    assert arr.page(2) == ["c8", "c9", "", ""]
    arr.layout = "4x4"
    assert arr.page_count == 1
    assert arr.page(0)[:10] == IDS and arr.page(0)[10:] == [""] * 6
    assert arr.locate("c9") == (0, 9)


def test_swap_and_restore_round_trip():
    arr = WallArrangement(IDS, "3x3")
    arr.swap(0, 0, 4)
    arr.swap(1, 0, 3)  # page 2: c9 moves to tile 3, leaving an empty tile 0
    pages = arr.to_pages()
    again = WallArrangement(IDS, "3x3", pages)
    assert again.order == arr.order
    assert again.page(0)[0] == "c4" and again.page(0)[4] == "c0"
    assert again.page(1)[:4] == ["", "", "", "c9"]


def test_restore_drops_unknown_and_appends_new_cameras():
    saved = [WallPage(camera_ids=["c2", "gone", "c1", "c2"])]
    arr = WallArrangement(["c1", "c2", "c3"], "2x2", saved)
    assert arr.order == ["c2", "", "c1", "", "c3"]
    arr.sync_cameras(["c1", "c3", "c4"])
    assert arr.order == ["c4", "", "c1", "", "c3"]  # a new camera takes the first empty tile


def test_overlay_offline_is_stamped_with_time_and_reason():
    since = time.mktime((2026, 1, 2, 14, 3, 12, 0, 0, -1))
    snap = HealthSnapshot(camera_id="a", name="Gate", group="Depot", state=StreamState.OFFLINE, state_since=since,
                          reason="connection refused: nothing listening at that address")  # fmt: skip
    t = overlay_text(snap)
    assert t.down and t.state == "OFFLINE"
    assert t.stamp == "OFFLINE since 14:03:12"
    assert "connection refused" in t.reason
    assert t.title == "Gate · Depot"
    assert t.details == ""  # no stale fps/bitrate for a down camera


def test_overlay_live_shows_figures_and_conditions():
    snap = HealthSnapshot(camera_id="a", name="Lobby", state=StreamState.LIVE, fps_received=15.0, bitrate_bps=820_000,
                          width=640, height=360, codec="H.264", latency_ms=45, conditions=("FROZEN",),
                          keyframes_only=True)  # fmt: skip
    t = overlay_text(snap)
    assert not t.down
    assert t.details == "15 fps · 820 kbit/s · 640x360 · H.264 · delay 45 ms"
    assert t.conditions == ("FROZEN",)
    assert t.keyframes_only
    assert t.color == "#1fa64a"


def test_overlay_disabled_and_stalled():
    assert overlay_text(HealthSnapshot(camera_id="a", name="A", reason="disabled")).stamp == "DISABLED"
    t = overlay_text(HealthSnapshot(camera_id="a", name="A", state=StreamState.STALLED, state_since=time.time()))
    assert t.down and t.stamp.startswith("STALLED since ")


def test_degradation_policy_degrades_slow_tile_and_restores_after_hold():
    pol = DegradationPolicy(hold_s=10)
    slow = {"a": TileLoad(15, 6, False), "b": TileLoad(15, 15, False)}
    assert pol.update(0, slow, False) == (set(), set())  # one strike is not enough
    assert pol.update(0.5, slow, False) == ({"a"}, set())
    held = {"a": TileLoad(15, 2, True), "b": TileLoad(15, 15, False)}
    assert pol.update(5, held, False) == (set(), set())
    assert pol.update(11, held, False) == (set(), {"a"})
    # falls behind again right after its restore: held twice as long
    pol.update(12, slow, False)
    assert pol.update(12.5, slow, False) == ({"a"}, set())
    assert pol.update(25, held, False) == (set(), set())
    assert pol.update(33, held, False) == (set(), {"a"})


def test_degradation_policy_sheds_busiest_tile_when_wall_is_behind():
    pol = DegradationPolicy()
    loads = {"a": TileLoad(10, 10, False), "b": TileLoad(25, 25, False)}
    assert pol.update(0, loads, True) == ({"b"}, set())
    assert pol.update(1, loads, False) == (set(), set())  # held, no restore yet

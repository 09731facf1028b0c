"""Pure rules for putting cameras from the camera tree on the wall: place (swap or replace), fill a page
with a group, and new cameras taking the first empty tile. No Qt."""

from __future__ import annotations

from widgets.arrangement import WallArrangement
from widgets.camera_groups import entries, group_path, ids_under, matches, natural_key, row_state

IDS = [f"c{i}" for i in range(10)]


def test_placing_a_camera_already_on_the_wall_swaps_it_with_the_tile_camera():
    arr = WallArrangement(IDS, "2x2")
    assert arr.place(0, 1, "c6")  # c6 was on page 2, tile 2
    assert arr.page(0) == ["c0", "c6", "c2", "c3"]
    assert arr.page(1) == ["c4", "c5", "c1", "c7"]  # the tile's camera took c6's old place
    assert sorted(c for c in arr.order if c) == sorted(IDS)  # never shown twice, nobody lost


def test_placing_a_camera_on_its_own_tile_changes_nothing():
    arr = WallArrangement(IDS, "2x2")
    assert not arr.place(0, 2, "c2")
    assert not arr.place(0, 0, "")
    assert arr.order == IDS


def test_placing_on_an_empty_tile_moves_the_camera_there_and_leaves_its_old_tile_empty():
    arr = WallArrangement(["a", "b", "c"], "2x2")
    assert arr.place(1, 1, "a")  # page 2 is all empty tiles
    assert arr.order == ["", "b", "c", "", "", "a"]
    assert arr.page_count == 2


def test_a_camera_not_in_the_arrangement_replaces_the_tile_and_the_replaced_one_takes_the_first_gap():
    arr = WallArrangement([], "2x2")
    arr.order = ["a", "", "b", "c"]  # e.g. a named view holding only some cameras
    assert arr.place(0, 3, "x")
    assert arr.order == ["a", "c", "b", "x"]  # c went to the first empty tile, nothing vanished
    assert arr.place(0, 0, "y")  # no gap left: the replaced camera goes to the end
    assert arr.order == ["y", "c", "b", "x", "a"]


def test_a_group_fills_the_page_and_the_page_cameras_move_where_the_group_was():
    arr = WallArrangement(IDS, "2x2")
    assert arr.fill_page(0, ["c5", "c9", "c2"])
    assert arr.page(0) == ["c5", "c9", "c2", "c3"]  # from the page's first tile, in the given order
    # c0 and c1 moved to the tiles c5 and c9 left (wall order); c2 was on the page already
    assert arr.order == ["c5", "c9", "c2", "c3", "c4", "c0", "c6", "c7", "c8", "c1"]
    assert not arr.fill_page(0, ["c5", "c9", "c2"])  # already there


def test_a_group_larger_than_the_page_fills_it_with_its_first_cameras():
    arr = WallArrangement(IDS, "2x2")
    assert arr.fill_page(1, ["c0", "c1", "c2", "c3", "c9"])
    assert arr.page(1) == ["c0", "c1", "c2", "c3"]
    assert arr.page(0) == ["c4", "c5", "c6", "c7"]
    assert "c9" in arr.page(2)


def test_a_group_partly_outside_the_arrangement_keeps_every_replaced_camera():
    arr = WallArrangement([], "2x2")
    arr.order = ["a", "b", "c", "d", "g1"]
    assert arr.fill_page(0, ["g1", "g2", "g3"])
    assert arr.page(0) == ["g1", "g2", "g3", "d"]
    assert sorted(arr.order) == sorted(["a", "b", "c", "d", "g1", "g2", "g3"])
    assert arr.order[4] == "a"  # the tile g1 left


def test_placing_on_a_status_tile_puts_the_camera_there_and_status_tiles_follow():
    arr = WallArrangement(["a", "b"], "2x2")
    arr.set_status_ids(["api:1", "api:2"])
    assert arr.all_ids == ["a", "b", "api:1", "api:2"]
    assert arr.place(0, 3, "a")
    assert arr.all_ids == ["", "b", "", "a", "api:1", "api:2"]
    assert not arr.place(0, 0, "api:1")  # a status tile is not placed
    assert arr.to_pages()[0].camera_ids == ["", "b", "", "a"]


def test_a_new_camera_takes_the_first_empty_tile_not_the_end():
    arr = WallArrangement(["a", "b", "c"], "3x3")
    arr.order = ["a", "", "b", "", "", "", "", "", "", "c"]  # page 1 has free tiles, c is on page 2
    arr.sync_cameras(["a", "b", "c", "d", "e"])
    assert arr.order == ["a", "d", "b", "e", "", "", "", "", "", "c"]
    arr.order = ["a", "b"]
    arr.sync_cameras(["a", "b", "z"])
    assert arr.order == ["a", "b", "z"]  # no gap: at the end


def test_a_camera_placed_on_the_chosen_empty_tile_keeps_it_on_sync():
    arr = WallArrangement(["a"], "2x2")
    arr.order = ["a", "", "", "new"]  # MainWindow._camera_added puts it on the double-clicked tile first
    arr.sync_cameras(["a", "new"])
    assert arr.order == ["a", "", "", "new"]


class Cam:
    def __init__(self, cid: str, name: str, group: str = "", enabled: bool = True) -> None:
        self.id, self.name, self.group, self.enabled = cid, name, group, enabled


def test_groups_split_into_site_and_group_levels_and_names_sort_naturally():
    assert group_path("HQ / Lobby") == ("HQ", "Lobby")
    assert group_path("HQ / Floor 2 / Lobby") == ("HQ", "Floor 2", "Lobby")
    assert group_path("") == ("Ungrouped",) and group_path("  ") == ("Ungrouped",)
    assert natural_key("Cam 2") < natural_key("cam 10")
    items = entries([Cam("c10", "Cam 10", "HQ / Lobby"), Cam("c2", "Cam 2", "HQ / Lobby"), Cam("d", "Dock", "Depot"),
                     Cam("g", "Gate", "HQ / Car park"), Cam("u", "Loose")])  # fmt: skip
    assert [e.camera_id for e in items] == ["d", "g", "c2", "c10", "u"]
    assert ids_under(items, ("HQ",)) == ["g", "c2", "c10"]
    assert ids_under(items, ("HQ", "Lobby")) == ["c2", "c10"]


def test_search_matches_every_word_in_name_group_or_state_word():
    (e,) = entries([Cam("a", "Gate", "HQ / Car park")])
    assert matches("", e, "LIVE")
    assert matches("gate", e, "LIVE") and matches("car PARK", e, "LIVE") and matches("hq offline", e, "OFFLINE")
    assert not matches("hq offline", e, "LIVE")
    assert not matches("lobby", e, "LIVE")


def test_row_state_words_are_the_tile_words_and_disabled_is_said():
    from dataclasses import replace

    from app.pipeline.state import HealthSnapshot, StreamState

    (e,) = entries([Cam("a", "Gate", "HQ")])
    (off,) = entries([Cam("a", "Gate", "HQ", enabled=False)])
    assert row_state(off, None).word == "DISABLED"
    assert row_state(e, None).word == "IDLE" and "not checked" in row_state(e, None).reason
    snap = HealthSnapshot(camera_id="a", name="Gate", state=StreamState.OFFLINE, state_since=1.0, down_since=1.0,
                          reason="connection refused: nothing listening at that address")  # fmt: skip
    st = row_state(e, snap)
    assert st.emphasis and "down" in st.search  # light stamp colour; found by "down"
    reconnect = replace(snap, state=StreamState.CONNECTING, reconnect_attempt=2)
    assert row_state(e, reconnect).word == "CONNECTING" and "OFFLINE" in row_state(e, reconnect).search
    assert st.word == "OFFLINE" and st.reason.startswith("OFFLINE since") and "connection refused" in st.reason.lower()
    live = HealthSnapshot(camera_id="a", name="Gate", state=StreamState.LIVE, fps_received=15.0, width=640, height=360)
    assert row_state(e, live).word == "LIVE" and row_state(e, live).reason == "Pictures arriving (640x360)."
    # the figures move every tick; the row's words do not, so a steady camera's row is not touched
    assert row_state(e, live) == row_state(e, replace(live, fps_received=14.2, bitrate_bps=9e5))

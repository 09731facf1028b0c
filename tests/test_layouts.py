"""Wall layouts as data (app/layouts.py): every layout tiles its grid exactly, big tiles come first, the
arrow keys move by cell geometry, and the config refuses an unknown layout in words."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import ViewConfig, WallConfig
from app.layouts import (
    LAYOUTS,
    NUMBER_KEY_LAYOUTS,
    Cell,
    Layout,
    cell_rects,
    layout_capacity,
    neighbour,
    tiling_problems,
)
from widgets.arrangement import LAYOUT_KEYS, WallArrangement, layout_grid


@pytest.mark.parametrize("key", list(LAYOUTS))
def test_every_layout_tiles_its_grid_exactly_without_overlap_or_hole(key):
    lay = LAYOUTS[key]
    assert tiling_problems(lay) == []
    cols, rows = lay.grid
    assert sum(c.cols * c.rows for c in lay.cells) == cols * rows
    assert lay.key == key and lay.label


def test_the_check_finds_an_overlap_a_hole_and_a_tile_outside():
    bad = Layout("bad", "bad", (2, 2), (Cell(0, 0, 2, 1), Cell(1, 0), Cell(0, 1), Cell(2, 1)))
    problems = tiling_problems(bad)
    assert any("overlap" in p for p in problems)
    assert any("no tile covers column 1, row 1" in p for p in problems)
    assert any("outside" in p for p in problems)


def test_saved_keys_are_unchanged_and_keep_their_number_keys():
    assert NUMBER_KEY_LAYOUTS == LAYOUT_KEYS == ("1", "2x2", "3x3", "4x4", "5x5", "6x6", "8x4", "8x8")
    for key in NUMBER_KEY_LAYOUTS:
        cols, rows = layout_grid(key)
        assert layout_capacity(key) == cols * rows
    assert {"3x2", "4x3", "1+5", "1+7", "1+12", "2+8"} <= set(LAYOUTS)


@pytest.mark.parametrize(
    ("key", "capacity", "big"),
    [
        ("1+5", 6, [Cell(0, 0, 2, 2)]),
        ("1+7", 8, [Cell(0, 0, 3, 3)]),
        ("1+12", 13, [Cell(1, 1, 2, 2)]),
        ("2+8", 10, [Cell(0, 0, 2, 2), Cell(2, 0, 2, 2)]),
    ],
)
def test_big_tiles_come_first_so_the_first_cameras_are_the_big_ones(key, capacity, big):
    lay = LAYOUTS[key]
    assert layout_capacity(key) == capacity
    assert list(lay.cells[: len(big)]) == big
    small = lay.cells[len(big) :]
    assert all(c.cols == c.rows == 1 for c in small)
    assert list(small) == sorted(small, key=lambda c: (c.row, c.col))  # reading order


def test_labels_are_words_for_the_menu():
    assert LAYOUTS["1+5"].label == "1 large + 5"
    assert LAYOUTS["2+8"].label == "2 large + 8"
    assert LAYOUTS["4x4"].label == "4 by 4 (16 cameras)"


def test_cell_rects_share_edges_and_a_big_tile_spans_its_cells():
    rects = cell_rects("1+5", 1920, 1080)
    assert rects[0] == (0, 0, 1280, 720)  # 2 of 3 columns, 2 of 3 rows
    assert rects[1] == (1280, 0, 640, 360)
    assert rects[5] == (1280, 720, 640, 360)
    assert sum(w * h for _, _, w, h in rects) == 1920 * 1080
    odd = cell_rects("3x3", 1001, 700)
    assert odd[0][2] + odd[1][2] + odd[2][2] == 1001  # no pixel lost to rounding


def test_arrows_on_a_plain_grid_move_and_wrap_as_before():
    # 3x3: index = row * 3 + col
    assert neighbour("3x3", 0, 1, 0) == 1
    assert neighbour("3x3", 1, 0, 1) == 4
    assert neighbour("3x3", 2, 1, 0) == 0  # wraps in its row
    assert neighbour("3x3", 3, -1, 0) == 5
    assert neighbour("3x3", 1, 0, -1) == 7  # wraps in its column
    assert neighbour("8x4", 7, 0, 1) == 15


def test_arrows_in_a_spanning_layout_go_to_the_nearest_tile_on_that_side():
    # 1+5: 0 = big (0,0 2x2); 1 = (2,0); 2 = (2,1); 3 = (0,2); 4 = (1,2); 5 = (2,2)
    assert neighbour("1+5", 0, 1, 0) == 1  # beside its top row
    assert neighbour("1+5", 0, 0, 1) == 3  # below its left column
    assert neighbour("1+5", 2, -1, 0) == 0
    assert neighbour("1+5", 4, 0, -1) == 0
    assert neighbour("1+5", 3, 1, 0) == 4
    assert neighbour("1+5", 1, 1, 0) == 0  # wraps to the big tile in the same rows
    # 1+12: the big tile in the middle is reached from every side
    big = 0
    left_mid = LAYOUTS["1+12"].cells.index(Cell(0, 1))
    top_mid = LAYOUTS["1+12"].cells.index(Cell(1, 0))
    assert neighbour("1+12", left_mid, 1, 0) == big
    assert neighbour("1+12", top_mid, 0, 1) == big
    # 2+8: right from the first big tile is the second big tile
    assert neighbour("2+8", 0, 1, 0) == 1
    assert neighbour("2+8", 1, 0, 1) == LAYOUTS["2+8"].cells.index(Cell(2, 2))


def test_an_arrangement_pages_by_the_number_of_tiles_not_the_grid():
    arr = WallArrangement([f"c{i}" for i in range(8)], "1+5")
    assert arr.capacity == 6 and arr.page_count == 2
    assert arr.page(1) == ["c6", "c7", "", "", "", ""]


def test_config_refuses_an_unknown_layout_in_words_listing_the_valid_ones():
    with pytest.raises(ValidationError) as e:
        WallConfig(layout="7x7")
    text = str(e.value)
    assert "unknown layout '7x7'" in text and "1+5" in text and "8x8" in text
    assert WallConfig(layout="2+8").layout == "2+8"
    with pytest.raises(ValidationError, match="unknown layout"):
        ViewConfig(id="v", name="Gate", layout="big")


def test_config_refuses_two_views_with_the_same_id():
    v = ViewConfig(id="v1", name="A", layout="1+5")
    with pytest.raises(ValidationError, match="two views have the id 'v1'"):
        WallConfig(views=[v, v.model_copy(update={"name": "B"})])

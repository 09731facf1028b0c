"""Named views without Qt (app/views.py): the private file (0600, unreadable = words, never overwritten
until the operator saves) and the pure operations of a ViewBook."""

from __future__ import annotations

import json
import stat

import pytest

from app.config import ViewConfig
from app.views import (
    ViewBook,
    load_private_views,
    page_camera_ids,
    private_views_path,
    save_private_views,
    unique_name,
)


def test_no_file_yet_is_no_views_and_no_problem(tmp_path):
    loaded = load_private_views(private_views_path(tmp_path))
    assert loaded.views == () and loaded.problem == ""


def test_private_views_round_trip_in_a_file_only_this_user_can_read(tmp_path):
    path = private_views_path(tmp_path)
    book = ViewBook().create("Gate", "1+5", ["a", "b", "", "c:x"]).create("Dock", "2x2", ["d"])
    save_private_views(path, book.private, set_aside_unreadable=False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_private_views(path)
    assert loaded.problem == ""
    assert [v.name for v in loaded.views] == ["Gate", "Dock"]
    assert loaded.views[0].camera_ids == ["a", "b"]  # status tiles and trailing empty tiles are not kept
    assert loaded.views == book.private


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b'{"views": [', "line 1, column 12"),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b'{"something": 1}', 'no "views" list'),
        (b'{"views": [{"id": "v", "name": "A", "layout": "9x9"}]}', "unknown layout"),
    ],
)
def test_an_unreadable_file_is_said_in_words_and_kept_until_the_operator_saves(tmp_path, content, words):
    path = private_views_path(tmp_path)
    path.write_bytes(content)
    loaded = load_private_views(path)
    assert loaded.views == ()
    assert words in loaded.problem and str(path) in loaded.problem and "until you save a view" in loaded.problem
    assert path.read_bytes() == content  # loading never touches it
    # the operator saves: the old file is set aside, not overwritten
    view = ViewConfig(id="v1", name="Lobby", layout="2x2", camera_ids=["x"])
    save_private_views(path, [view], set_aside_unreadable=True)
    assert path.with_name("private-views.json.unreadable").read_bytes() == content
    assert json.loads(path.read_text())["views"][0]["name"] == "Lobby"


def test_a_file_that_cannot_be_opened_is_words_not_a_crash(tmp_path):
    path = private_views_path(tmp_path)
    path.mkdir()  # a folder where the file should be: reading fails with an OSError
    loaded = load_private_views(path)
    assert loaded.views == () and "could not be read" in loaded.problem


def test_names_are_unique_case_insensitively_and_cleaned():
    assert unique_name("Gate", ["gate"]) == "Gate (2)"
    assert unique_name("Gate", ["Gate", "Gate (2)"]) == "Gate (3)"
    assert unique_name("  Gate \n North ", []) == "Gate North"
    assert unique_name("", []) == "View"
    assert len(unique_name("x" * 200, ["x" * 80])) == 80


def test_create_rename_duplicate_delete():
    book = ViewBook().create("Gate", "1+5", ["a", "b"])
    vid = book.newest_id(shared=False)
    book = book.create("Gate", "2x2", ["c"])
    assert [v.name for v in book.ordered] == ["Gate", "Gate (2)"]
    book = book.rename(vid, "Entrance")
    assert book.find(vid).name == "Entrance" and book.find(vid).camera_ids == ["a", "b"]
    assert book.rename(vid, "gate (2)").find(vid).name == "gate (2) (2)"  # never two that read the same
    copy = book.duplicate(vid)
    new_id = copy.newest_id(shared=False)
    assert new_id != vid and copy.find(new_id).name == "Entrance (copy)"
    assert copy.find(new_id).layout == "1+5" and copy.find(new_id).camera_ids == ["a", "b"]
    gone = copy.delete(vid)
    assert gone.find(vid) is None and len(gone.ordered) == 2
    with pytest.raises(KeyError):
        gone.delete(vid)


def test_sharing_moves_a_view_between_the_config_and_the_private_file_keeping_its_id():
    book = ViewBook().create("Gate", "1+5", ["a"])
    vid = book.newest_id(shared=False)
    shared = book.set_shared(vid, True)
    assert shared.private == () and [v.id for v in shared.shared] == [vid] and shared.is_shared(vid)
    assert shared.set_shared(vid, True) is shared  # already there: nothing changes
    back = shared.set_shared(vid, False)
    assert back.shared == () and back.private[0].id == vid


def test_shared_views_come_first_in_menu_order():
    book = ViewBook().create("Mine", "2x2", ["a"]).create("Site", "2x2", ["b"], shared=True)
    assert [v.name for v in book.ordered] == ["Site", "Mine"]


def test_editing_tiles_keeps_the_place_and_refuses_an_unknown_layout():
    book = ViewBook().create("A", "2x2", ["a"]).create("B", "2x2", ["b"])
    a = book.ordered[0].id
    edited = book.edit_tiles(a, "1+5", ["b", "a", ""])
    assert [v.name for v in edited.ordered] == ["A", "B"]
    assert edited.find(a).layout == "1+5" and edited.find(a).camera_ids == ["b", "a"]
    with pytest.raises(ValueError):
        book.edit_tiles(a, "nope", [])


def test_page_camera_ids_drop_status_tiles_and_trailing_gaps():
    assert page_camera_ids(["", "a", "api:x", "b", "", ""]) == ["", "a", "", "b"]

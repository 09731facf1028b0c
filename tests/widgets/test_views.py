"""Spanning layouts and named views in a real window (real Runtime, demo cameras): the big tile's
geometry, views saved where they live (private file 0600 / the config), restored after a restart,
switched by Ctrl+1/Ctrl+2, edits never touching wall.pages, and the tour cycling views."""

from __future__ import annotations

import json
import stat

from PySide6.QtCore import Qt

from app.config import load_config
from app.views import private_views_path
from tests.widgets.conftest import demo_cam, make_config

WAIT = 30_000


def cams(n: int):
    pats = ["testsrc2", "smptehdbars", "zoneplate", "life", "cellauto", "gradients", "mandelbrot", "colorspectrum"]
    return [demo_cam(f"Cam {i}", pats[i % len(pats)]) for i in range(n)]


def saved_file(tmp_path) -> dict:
    return json.loads((tmp_path / "vigil.json").read_text())


def wait_saved(qtbot, tmp_path, check):
    """The config is written on the runtime's saving thread: wait until the file says what *check* wants."""

    def ok() -> bool:
        try:
            return check(saved_file(tmp_path))
        except (OSError, ValueError, KeyError, IndexError):
            return False

    qtbot.waitUntil(ok, timeout=WAIT)


def press(qtbot, win, key):
    qtbot.keyClick(win, key, Qt.KeyboardModifier.ControlModifier)


def activate(qtbot, win):
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=WAIT)


def test_the_1_plus_5_layout_puts_the_big_tile_first_with_2x2_cells(qtbot, make_window):
    win = make_window(make_config(cams(6), "1+5"), size=(1500, 900))
    wall = win.wall
    assert len(wall.tiles) == 6 and wall.tiles[0].camera_id == "cam-0"
    w, h = wall.width(), wall.height()
    big, small = wall.tiles[0].geometry(), wall.tiles[1].geometry()
    # the big tile spans 2 of the 3 columns and 2 of the 3 rows; small tiles 1 of each (2 px gap)
    assert abs(big.width() - (2 * w // 3 - 2)) <= 1 and abs(big.height() - (2 * h // 3 - 2)) <= 1
    assert abs(small.width() - (w // 3 - 2)) <= 1 and abs(small.height() - (h // 3 - 2)) <= 1
    assert big.topLeft().x() == 0 and small.x() >= big.right()
    bottom = [wall.tiles[i].geometry() for i in (3, 4, 5)]
    assert all(g.y() > big.bottom() for g in bottom) and bottom[0].x() == 0
    # no two tiles overlap
    rects = [t.geometry() for t in wall.tiles]
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1 :])
    # the big tile demands the bigger picture, and gets it
    qtbot.waitUntil(lambda: all(t.has_picture() for t in wall.tiles), timeout=WAIT)
    assert win.frames.demanded_size("cam-0") == (big.width(), big.height())
    assert win.frames.demanded_size("cam-1") == (small.width(), small.height())
    qtbot.waitUntil(lambda: wall.tiles[0]._array.shape[1] > 1.5 * wall.tiles[1]._array.shape[1], timeout=WAIT)
    # arrows move by geometry: Right from the big tile goes to the tile beside its top row
    wall.setFocus()
    qtbot.keyClick(wall, Qt.Key.Key_Right)
    assert wall.selected == 1
    qtbot.keyClick(wall, Qt.Key.Key_Left)
    assert wall.selected == 0
    qtbot.keyClick(wall, Qt.Key.Key_Down)
    assert wall.selected == 3


def test_the_layout_submenu_lists_every_layout_in_words(qtbot, make_window):
    win = make_window(make_config(cams(3), "3x3"))
    texts = {k: a.text() for k, a in win.layout_actions.items()}
    assert texts["1+5"] == "1 large + 5" and texts["2+8"] == "2 large + 8"
    assert texts["4x4"].endswith("\t4")  # the first eight keep their number keys
    win.layout_actions["2+8"].trigger()
    assert win.wall.layout_name == "2+8" and len(win.wall.tiles) == 10
    assert win.layout_actions["2+8"].isChecked()
    assert win.layout_actions["2+8"].parent() is not None


def test_views_are_saved_where_they_live_and_come_back_after_a_restart(qtbot, make_window, tmp_path):
    config = make_config(cams(6), "2x2")
    win = make_window(config)
    pages_before = [p.camera_ids for p in win.arrangement.to_pages()]
    # a private view from page 2 of the 2x2 wall
    win.wall.set_page(1)
    private_id = win.new_view_from_page("Loading bay")
    assert private_id and win.view_id == private_id
    assert [t.camera_id for t in win.wall.tiles] == ["cam-4", "cam-5", "", ""]
    path = private_views_path(tmp_path)
    qtbot.waitUntil(path.exists, timeout=WAIT)
    win._private_saved.result(timeout=10)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["views"][0]["name"] == "Loading bay"
    assert "View: Loading bay (private)" in win.page_label.text()
    # a shared view in a spanning layout from all cameras' first page
    win.show_view("")
    win.wall.set_layout("1+5")
    shared_id = win.new_view_from_page("Gate overview", shared=True)
    wait_saved(qtbot, tmp_path, lambda d: d["wall"]["views"][0]["name"] == "Gate overview")
    saved = saved_file(tmp_path)["wall"]
    assert saved["views"][0]["layout"] == "1+5"
    assert saved["views"][0]["camera_ids"] == ["cam-0", "cam-1", "cam-2", "cam-3", "cam-4", "cam-5"]
    assert all(v["id"] != private_id for v in saved["views"])  # the private one is not in the config
    assert [v["id"] for v in json.loads(path.read_text())["views"]] == [private_id]
    assert "View: Gate overview (shared with all workstations)" in win.page_label.text()
    # the menu: shared first (marked), then private; hotkeys in that order
    texts = [a.text() for a in win.views_menu.actions()]
    assert texts.index("Gate overview — shared") < texts.index("Loading bay")
    assert win.view_actions[shared_id].shortcut().toString() == "Ctrl+1"
    assert win.view_actions[private_id].shortcut().toString() == "Ctrl+2"
    assert win.view_actions[""].shortcut().toString() == "Ctrl+0"
    # the all-cameras wall's saved pages are its own
    assert saved["pages"][0]["camera_ids"][:4] == pages_before[0][:4]

    # restart: the same config file and data folder
    win.shutdown()
    win.runtime.stop()
    win2 = make_window(load_config(tmp_path / "vigil.json"))
    assert [v.name for v in win2.views.ordered] == ["Gate overview", "Loading bay"]
    assert win2.view_id == "" and win2.views_problem_label.isHidden()
    activate(qtbot, win2)
    press(qtbot, win2, Qt.Key.Key_1)
    assert win2.view_id == shared_id and win2.wall.layout_name == "1+5"
    assert [t.camera_id for t in win2.wall.tiles] == ["cam-0", "cam-1", "cam-2", "cam-3", "cam-4", "cam-5"]
    press(qtbot, win2, Qt.Key.Key_2)
    assert win2.view_id == private_id and win2.wall.layout_name == "2x2"
    assert [t.camera_id for t in win2.wall.tiles] == ["cam-4", "cam-5", "", ""]
    # demands follow the view: the shown cameras convert frames, the others stop
    qtbot.waitUntil(lambda: win2.frames.demanded_size("cam-4") != (0, 0), timeout=WAIT)
    assert win2.frames.demanded_size("cam-0") == (0, 0)
    qtbot.waitUntil(lambda: win2.wall.tiles[0].has_picture(), timeout=WAIT)
    assert "View: Loading bay" in win2.page_label.text()
    press(qtbot, win2, Qt.Key.Key_0)
    # back to all cameras, in the layout it was saved with (1+5, chosen before the shared view was made)
    assert win2.view_id == "" and win2.wall.layout_name == "1+5" and win2.wall.arrangement is win2.arrangement
    assert win2.page_label.text().startswith("Page 1/1 · 1+5")


def test_editing_a_view_saves_the_view_and_never_changes_wall_pages(qtbot, make_window, tmp_path):
    win = make_window(make_config(cams(4), "2x2"))
    win.save_arrangement()  # the all-cameras wall saved once, as it is
    wait_saved(qtbot, tmp_path, lambda d: d["wall"]["pages"][0]["camera_ids"] == ["cam-0", "cam-1", "cam-2", "cam-3"])
    shared_id = win.new_view_from_page("Yard", shared=True)
    private_id = win.new_view_from_page("Mine")
    # swap in the private view: saved to the private file
    win.wall.swap_tiles(0, 3)
    assert [t.camera_id for t in win.wall.tiles] == ["cam-3", "cam-1", "cam-2", "cam-0"]
    win._private_saved.result(timeout=10)
    qtbot.waitUntil(
        lambda: json.loads(private_views_path(tmp_path).read_text())["views"][0]["camera_ids"][0] == "cam-3",
        timeout=WAIT,
    )
    # swap and change the layout in the shared view: saved to the config's views
    win.show_view(shared_id)
    win.wall.swap_tiles(0, 1)
    win.wall.set_layout("1+5")
    wait_saved(qtbot, tmp_path, lambda d: d["wall"]["views"][0]["layout"] == "1+5")
    saved = saved_file(tmp_path)["wall"]
    assert saved["views"][0]["camera_ids"] == ["cam-1", "cam-0", "cam-2", "cam-3"]
    # ... and the all-cameras wall is untouched, in the file and on screen
    assert saved["pages"][0]["camera_ids"] == ["cam-0", "cam-1", "cam-2", "cam-3"] and saved["layout"] == "2x2"
    assert win.arrangement.order == ["cam-0", "cam-1", "cam-2", "cam-3"] and win.arrangement.layout == "2x2"
    win.show_view("")
    assert [t.camera_id for t in win.wall.tiles] == ["cam-0", "cam-1", "cam-2", "cam-3"]
    assert win.layout_actions["2x2"].isChecked()
    # the camera tree's placement goes through the wall's arrangement too (the view's when one is shown)
    win.show_view(private_id)
    win.wall.place_cameras(1, ["cam-0"])  # already in the view: swaps with tile 1
    assert win.views.find(private_id).camera_ids[:2] == ["cam-3", "cam-0"]
    assert win.arrangement.order == ["cam-0", "cam-1", "cam-2", "cam-3"]


def test_rename_duplicate_share_and_delete_from_the_menu_actions(qtbot, make_window, tmp_path):
    win = make_window(make_config(cams(4), "2x2"))
    vid = win.new_view_from_page("Front")
    dlg = win.ask_rename_view()
    dlg.setTextValue("Front door")
    dlg.accept()
    assert win.views.find(vid).name == "Front door"
    copy = win.duplicate_view()
    assert win.view_id == copy and win.views.find(copy).name == "Front door (copy)"
    assert win.set_view_shared(True)
    assert win.views.is_shared(copy) and win.view_id == copy
    wait_saved(qtbot, tmp_path, lambda d: d["wall"]["views"][0]["id"] == copy)
    win._private_saved.result(timeout=10)
    assert [v["id"] for v in json.loads(private_views_path(tmp_path).read_text())["views"]] == [vid]
    menu_texts = [a.text() for a in win.views_menu.actions()]
    assert "Front door (copy) — shared" in menu_texts
    assert next(a for a in win.views_menu.actions() if a.text() == "Make private").isEnabled()
    box = win.ask_delete_view()
    assert "every workstation" in box.text()
    box.button(box.StandardButton.Yes).click()
    assert win.views.find(copy) is None and win.view_id == ""
    wait_saved(qtbot, tmp_path, lambda d: d["wall"]["views"] == [])


def test_an_unreadable_private_file_is_said_and_kept_until_the_operator_saves(qtbot, make_window, tmp_path):
    path = private_views_path(tmp_path)
    path.write_text('{"views": [{"id": "v", "name": "Broken"', encoding="utf-8")
    win = make_window(make_config(cams(2), "2x2"))
    assert win.views.ordered == ()
    assert win.views_problem_label.isVisible()
    words = win.views_problem_label.text()
    assert "could not be read" in words and "until you save a view" in words
    win.show_view("")
    assert path.read_text(encoding="utf-8").endswith('"Broken"')  # not written over by anything but a save
    win.new_view_from_page("Fresh")
    win._private_saved.result(timeout=10)
    qtbot.waitUntil(lambda: not win.views_problem_label.isVisible(), timeout=WAIT)
    assert path.with_name("private-views.json.unreadable").read_text(encoding="utf-8").endswith('"Broken"')
    assert json.loads(path.read_text())["views"][0]["name"] == "Fresh"


def test_the_tour_cycles_the_views_when_there_are_views(qtbot, make_window):
    win = make_window(make_config(cams(8), "2x2"))
    win._last_input = 0.0
    win._tour_step()
    assert win.wall.page == 1 and win.view_id == ""  # no views yet: pages, as before
    a = win.new_view_from_page("A")
    win.show_view("")
    b = win.new_view_from_page("B", shared=True)
    win.show_view("")
    win._last_input = 0.0
    win.set_tour(True)
    assert win.tour_action.text() == "Tour (cycle views)"
    seen = []
    for _ in range(3):
        win._tour_step()
        seen.append(win.view_id)
    assert seen == [b, a, b]  # menu order: shared first; round and round, never the all-cameras pages
    qtbot.keyClick(win.wall, Qt.Key.Key_Right)  # the operator's input pauses it, as on pages
    win._tour_step()
    assert win.view_id == b


def test_a_new_critical_alarm_outside_the_shown_view_turns_the_tour_to_its_camera(qtbot, make_window):
    from types import SimpleNamespace

    win = make_window(make_config(cams(8), "2x2"))
    vid = win.new_view_from_page("Front")  # cam-0 .. cam-3
    win.set_tour(True)
    win.set_alarm_attention("", [], {"cam-6"})
    assert "1 alarming outside this view" in win.page_label.text()
    inside = SimpleNamespace(camera_id="cam-2", started_at=1.0)
    win.set_alarm_attention("Cam 2 down", [inside], {"cam-2", "cam-6"})
    assert win.view_id == vid  # the view shows that camera: it stays
    outside = SimpleNamespace(camera_id="cam-6", started_at=2.0)
    win.set_alarm_attention("Cam 6 down", [inside, outside], {"cam-2", "cam-6"})
    assert win.view_id == "" and win.wall.page == 1 and "cam-6" in [t.camera_id for t in win.wall.tiles]

"""The Cameras dock with pytest-qt against a real Runtime and real demo pipelines: grouping, state words,
search, drops onto wall tiles (real QDragEnterEvent/QDropEvent carrying the tree's own mime data, because Qt
drag and drop cannot be driven by QTest mouse moves offscreen), Enter, and the arrangement saved."""

from __future__ import annotations

import json

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.config import CameraConfig, load_config
from app.pipeline.state import StreamState
from tests.widgets.conftest import demo_cam, make_config
from widgets.tile import CAMERAS_MIME

WAIT = 30_000
LIVE_IDS = ["gate", "lobby-10", "lobby-2", "dock", "loose"]


def cameras() -> list[CameraConfig]:
    return [
        demo_cam("Gate", "testsrc2", group="HQ / Car park", id="gate"),
        demo_cam("Lobby 10", "life", group="HQ / Lobby", id="lobby-10"),
        demo_cam("Lobby 2", "zoneplate", group="HQ / Lobby", id="lobby-2"),
        demo_cam("Dock", "smptehdbars", group="Depot", id="dock"),
        demo_cam("Loose", "gradients", group="", id="loose"),
        CameraConfig(id="yard", name="Yard", group="Depot", url="rtsp://127.0.0.1:9/nothing-listens"),
        demo_cam("Spare", "cellauto", group="Depot", id="spare", enabled=False),
    ]


def window(make_window, layout: str = "3x3"):
    win = make_window(make_config(cameras(), layout), size=(1600, 900))
    return win, win.camera_tree


def wait_live(qtbot, tree) -> None:
    qtbot.waitUntil(lambda: all(tree.state_word(c) == "LIVE" for c in LIVE_IDS), timeout=WAIT)


def select(tree, *items) -> None:
    tree.view.clearSelection()
    for it in items:
        it.setSelected(True)


def drop_on(tile, tree):
    """What a real drag does: the view's model builds the mime data of the selected rows (both columns), the
    tile gets a drag-enter, then the drop."""
    view = tree.view
    mime = view.model().mimeData(view.selectionModel().selectedIndexes())
    assert view.model().supportedDragActions() == Qt.DropAction.CopyAction  # a move would delete the rows
    pos = QPointF(tile.rect().center())
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(tile, enter)
    assert enter.isAccepted() and tile.drop_target  # highlighted as for a swap
    ev = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(tile, ev)
    assert ev.isAccepted() and ev.dropAction() == Qt.DropAction.CopyAction and not tile.drop_target
    return json.loads(bytes(mime.data(CAMERAS_MIME)).decode())


def saved_order(win, tmp_path) -> list[str]:
    assert win.runtime.flush_saves()
    pages = load_config(tmp_path / "vigil.json").wall.pages
    assert [c for p in win.runtime.config.wall.pages for c in p.camera_ids] == [c for p in pages for c in p.camera_ids]
    return [c for p in pages for c in p.camera_ids]


def test_tree_groups_by_site_and_group_and_shows_the_tile_state_words(qtbot, make_window):
    win, tree = window(make_window)
    assert win.docks["Cameras"].widget() is tree
    assert win.dockWidgetArea(win.docks["Cameras"]) == Qt.DockWidgetArea.LeftDockWidgetArea
    top = [tree.view.topLevelItem(i).text(0) for i in range(tree.view.topLevelItemCount())]
    assert top == ["Depot", "HQ", "Ungrouped"]
    hq = tree.group_item("HQ")
    assert [hq.child(i).text(0) for i in range(hq.childCount())] == ["Car park", "Lobby"]
    lobby = tree.group_item("HQ", "Lobby")
    assert [lobby.child(i).text(0) for i in range(lobby.childCount())] == ["Lobby 2", "Lobby 10"]  # natural order
    assert tree.item("loose").parent() is tree.group_item("Ungrouped")
    wait_live(qtbot, tree)
    assert tree.item("gate").text(1) == "LIVE" and "Pictures arriving" in tree.item("gate").toolTip(1)
    assert tree.state_word("spare") == "DISABLED" and "Switched off" in tree.item("spare").toolTip(0)
    # the refused camera: the same word as its tile's badge, the reason in the tooltip
    yard_tile = next(t for t in win.wall.tiles if t.camera_id == "yard")
    qtbot.waitUntil(lambda: tree.state_word("yard") in ("OFFLINE", "CONNECTING", "ERROR"), timeout=WAIT)
    qtbot.waitUntil(lambda: tree.state_word("yard") == yard_tile.overlay().state, timeout=WAIT)
    assert "refused" in tree.item("yard").toolTip(0).lower() or "since" in tree.item("yard").toolTip(0)
    assert tree.group_item("HQ").text(1) == "all 3 live"
    assert tree.group_item("Depot").text(1) == "1 of 2 not live"  # the disabled camera is not counted


def test_health_ticks_touch_only_rows_whose_words_changed(qtbot, make_window):
    win, tree = window(make_window)
    wait_live(qtbot, tree)
    rebuilds = tree.rebuilds
    before = {c: tree.row_updates[c] for c in LIVE_IDS}
    for _ in range(3):
        with qtbot.waitSignal(win.frames.health_updated, timeout=WAIT):
            pass
    assert {c: tree.row_updates[c] for c in LIVE_IDS} == before  # steady live cameras: rows not touched
    assert tree.rebuilds == rebuilds  # the camera list did not change: no rebuild


def test_search_filters_by_name_group_and_state_word(qtbot, make_window):
    win, tree = window(make_window)
    wait_live(qtbot, tree)
    qtbot.keyClicks(tree.search, "LOBBY")
    assert tree.visible_ids() == ["lobby-2", "lobby-10"]
    assert tree.group_item("Depot").isHidden() and not tree.group_item("HQ", "Lobby").isHidden()
    tree.search.setText("depot disabled")
    assert tree.visible_ids() == ["spare"]
    tree.search.setText("car park")
    assert tree.visible_ids() == ["gate"]
    tree.search.setText("live")
    assert tree.visible_ids() == ["dock", "gate", "lobby-2", "lobby-10", "loose"]
    # a reconnecting camera is still found by "offline" (its tile's stamp), and "down" finds every camera
    # without pictures, whichever moment of its reconnect cycle the tick caught
    qtbot.waitUntil(lambda: tree.state_word("yard") in ("OFFLINE", "CONNECTING"), timeout=WAIT)
    for q in ("down", "offline", "depot down"):
        tree.search.setText(q)
        for _ in range(3):
            with qtbot.waitSignal(win.frames.health_updated, timeout=WAIT):
                pass
            assert tree.visible_ids() == ["yard"], (q, tree.state_word("yard"))
    tree.search.setText("no such camera")
    assert tree.visible_ids() == [] and tree.note.isVisible() and "no such camera" in tree.note.text()
    tree.search.clear()
    assert len(tree.visible_ids()) == 7 and not tree.note.isVisible()


def test_typing_in_the_list_goes_to_the_search_box_and_down_goes_back(qtbot, make_window):
    win, tree = window(make_window)
    tree.view.setFocus()
    tree.view.setCurrentItem(tree.item("dock"))
    qtbot.keyClicks(tree.view, "lo")
    assert tree.search.text() == "lo" and win.focusWidget() is tree.search
    assert tree.visible_ids() == ["lobby-2", "lobby-10", "loose"]
    qtbot.keyClick(tree.search, Qt.Key.Key_Down)
    assert win.focusWidget() is tree.view and tree.view.currentItem() is tree.item("lobby-2")


def test_dragging_a_camera_onto_a_tile_swaps_it_there_and_is_saved(qtbot, make_window, tmp_path):
    win, tree = window(make_window)
    wall = win.wall
    assert [t.camera_id for t in wall.tiles[:4]] == ["gate", "lobby-10", "lobby-2", "dock"]
    select(tree, tree.item("dock"))
    assert drop_on(wall.tiles[0], tree) == ["dock"]
    assert wall.tiles[0].camera_id == "dock" and wall.tiles[3].camera_id == "gate"  # swapped: never twice
    assert wall.selected == 0
    order = saved_order(win, tmp_path)
    assert order[:4] == ["dock", "lobby-10", "lobby-2", "gate"]
    assert tree.item("dock") is not None and tree.view.topLevelItemCount() == 3  # a copy: the rows stay
    # tile-to-tile swap still works
    wall.swap_tiles(0, 1)
    assert wall.tiles[0].camera_id == "lobby-10" and wall.tiles[1].camera_id == "dock"


def test_dropping_a_group_fills_the_page_and_moves_the_page_cameras_to_its_tiles(qtbot, make_window, tmp_path):
    win, tree = window(make_window, "2x2")
    wall = win.wall
    wall.next_page()  # page 2: loose, yard, spare
    assert wall.page == 1 and [t.camera_id for t in wall.tiles] == ["loose", "yard", "spare", ""]
    select(tree, tree.group_item("HQ"))
    assert drop_on(wall.tiles[3], tree) == ["gate", "lobby-2", "lobby-10"]  # tree order: by name in each group
    assert wall.page == 1 and [t.camera_id for t in wall.tiles] == ["gate", "lobby-2", "lobby-10", ""]
    # page 1's tiles the group left now hold the cameras that were on page 2, in wall order
    assert saved_order(win, tmp_path) == ["loose", "yard", "spare", "dock", "gate", "lobby-2", "lobby-10", ""]
    # a filtered group gives only the cameras the search shows
    tree.search.setText("dock")
    select(tree, tree.group_item("Depot"))
    wall.previous_page()
    assert drop_on(wall.tiles[2], tree) == ["dock"]  # one camera: placed on the dropped tile
    assert [t.camera_id for t in wall.tiles] == ["loose", "yard", "dock", "spare"]


def test_enter_or_double_click_places_the_camera_on_the_selected_tile(qtbot, make_window, tmp_path):
    win, tree = window(make_window)
    wall = win.wall
    wall.select(5)
    assert wall.tiles[5].camera_id == "yard"
    tree.view.setFocus()
    tree.view.setCurrentItem(tree.item("gate"))
    qtbot.keyClick(tree.view, Qt.Key.Key_Return)
    assert wall.tiles[5].camera_id == "gate" and wall.tiles[0].camera_id == "yard"
    assert saved_order(win, tmp_path)[:6] == ["yard", "lobby-10", "lobby-2", "dock", "loose", "gate"]
    wall.select(1)
    tree._on_double_click(tree.item("spare"), 0)  # what itemDoubleClicked delivers
    assert wall.tiles[1].camera_id == "spare" and wall.tiles[6].camera_id == "lobby-10"
    # Enter on a group row opens or closes it, it places nothing
    g = tree.group_item("Depot")
    tree.view.setCurrentItem(g)
    qtbot.keyClick(tree.view, Qt.Key.Key_Return)
    assert not g.isExpanded() and wall.tiles[1].camera_id == "spare"


def test_tree_follows_the_camera_list_and_a_new_camera_takes_the_first_empty_tile(qtbot, make_window):
    win, tree = window(make_window)
    tree.group_item("Depot").setExpanded(False)
    rebuilds = tree.rebuilds
    config = win.runtime.config.model_copy(deep=True)
    config.cameras = [c for c in config.cameras if c.id != "loose"]
    config.cameras.append(demo_cam("Lobby 3", "life", group="HQ / Lobby", id="lobby-3"))
    assert win.apply_config(config)
    assert tree.item("loose") is None and tree.group_item("Ungrouped") is None
    lobby = tree.group_item("HQ", "Lobby")
    assert [lobby.child(i).text(0) for i in range(lobby.childCount())] == ["Lobby 2", "Lobby 3", "Lobby 10"]
    assert tree.rebuilds == rebuilds + 1
    assert not tree.group_item("Depot").isExpanded()  # the operator's collapsed group stays collapsed
    assert win.wall.tiles[4].camera_id == "lobby-3"  # loose's empty tile, not the end of the wall
    qtbot.waitUntil(lambda: tree.state_word("lobby-3") == StreamState.LIVE.value, timeout=WAIT)

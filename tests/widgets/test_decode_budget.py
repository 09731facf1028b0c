"""The wall degrades before it starves: tiles past the decode budget show keyframes only, marked K."""

from __future__ import annotations

from tests.widgets.conftest import demo_cam, make_config
from widgets.degrade import keyframes_only_plan, over_budget


def test_over_budget_keeps_priority_tiles_at_full_rate():
    tiles = [("a", 15.0), ("b", 15.0), ("c", 0.0), ("d", 25.0), ("e", 5.0)]
    assert over_budget(tiles, 30) == {"c", "d", "e"}  # c counts as 15 until measured
    assert over_budget(tiles, 1000) == set()
    assert over_budget(tiles, 35) == {"c", "d"}  # e (5 fps) still fits after a and b


def test_keyframes_only_plan_weighs_switch_focus_budget_and_falling_behind():
    plan = keyframes_only_plan(
        ["idle", "was-kf"],
        forced={"forced", "forced-focused"},
        focused={"focused", "forced-focused", "focused-over"},
        over_budget={"over", "focused-over", "over-behind"},
        falling_behind={"behind", "over-behind"},
    )
    assert plan == {
        "idle": False,  # named by no input: full rate
        "was-kf": False,  # told keyframes-only before, no reason any more: back to full rate
        "forced": True,
        "forced-focused": True,  # the operator's switch wins over focus
        "focused": False,
        "focused-over": False,  # focus wins over the budget
        "over": True,
        "over-behind": True,
        "behind": True,
    }
    assert keyframes_only_plan([], forced=set(), focused=set(), over_budget=set(), falling_behind=set()) == {}


class FakePipeline:
    def __init__(self) -> None:
        self.told: list[bool] = []

    def set_keyframes_only(self, on: bool) -> None:
        self.told.append(on)


class FakeSupervisor:
    def __init__(self, *cameras: str) -> None:
        self.pipes = {cid: FakePipeline() for cid in cameras}

    def subscribe(self, _fn) -> None:
        pass

    def pipeline(self, camera_id: str, variant: str = "tile"):
        return self.pipes.get(camera_id) if variant == "tile" else None


def test_frame_service_tells_a_pipeline_only_when_its_answer_changes(qapp):
    from widgets.frame_service import FrameService

    sup = FakeSupervisor("a", "b")
    frames = FrameService(sup)
    a = sup.pipes["a"]
    frames.set_forced_keyframes("a", True)
    frames.set_forced_keyframes("a", True)  # again: nothing new to tell
    assert a.told == [True]
    frames.exempt("a", True)  # focus does not override the operator's switch
    frames.exempt("a", False)
    assert a.told == [True] and sup.pipes["b"].told == []
    frames.set_forced_keyframes("a", False)
    assert a.told == [True, False]
    frames._budget_kf = {"b"}  # what a health tick found
    frames._apply_keyframes_only()
    assert sup.pipes["b"].told == [True]
    frames.exempt("b", True)  # focused: full rate at once, and the stale budget reason is gone
    assert sup.pipes["b"].told == [True, False] and frames._budget_kf == set()
    frames.exempt("b", False)
    assert sup.pipes["b"].told == [True, False]  # the next health tick decides again
    frames.set_forced_keyframes("b", True)
    sup.pipes["b"] = replaced = FakePipeline()  # a config edit restarted the camera: the new one starts full
    frames._apply_keyframes_only()
    assert replaced.told == [True]
    frames.deleteLater()


def test_wall_over_budget_tiles_decode_keyframes_only_and_say_so(make_window, qtbot):
    cams = [demo_cam(f"Cam {i}") for i in range(6)]
    win = make_window(make_config(cams, layout="3x3"))
    win.frames.budget_fps = 25  # room for two 10 fps tiles at full rate
    win.wall.select(3)
    tiles = {t.camera_id: t for t in win.wall.tiles if t.camera_id}
    selected = win.wall.tiles[3].camera_id

    def split():
        kf = {cid for cid in tiles if win.runtime.supervisor.pipeline(cid).snapshot().keyframes_only}
        return kf if len(kf) == 4 else None

    kf = qtbot.waitUntil(lambda: split() is not None, timeout=30_000) or split()
    assert selected not in kf, "the selected tile keeps full rate"
    assert "cam-0" not in kf, "then the first tile in wall order"
    qtbot.waitUntil(lambda: all(tiles[c].overlay().keyframes_only for c in kf), timeout=10_000)
    # a bigger budget gives every tile its full rate back
    win.frames.budget_fps = 1000
    qtbot.waitUntil(lambda: split() is None and not any(
        win.runtime.supervisor.pipeline(c).snapshot().keyframes_only for c in tiles), timeout=10_000)  # fmt: skip

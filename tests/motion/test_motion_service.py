"""MotionService settings: a pipeline restart (``register`` again) and a live edit (``update_settings``)
adopt the same settings the same way. No threads, no Qt."""

from __future__ import annotations

from app.config import MotionSettings
from app.motion.detector import MotionParams
from app.motion.service import MotionService


def test_live_edit_and_restart_adopt_width_colour_and_boxes_alike():
    svc = MotionService(classifier=object())  # a classifier is loaded: colour pictures may be wanted
    cam = svc.register("gate", MotionParams(), 320, want_colour=False, show_boxes=False)
    assert (cam.analysis_width, cam.want_colour, svc.state("gate").show_boxes) == (320, False, False)

    edited = MotionSettings(enabled=True, analysis_width=160, classify=True, show_boxes=True, sensitivity=0.9)
    assert svc.update_settings("gate", edited) is True
    assert (cam.analysis_width, cam.want_colour, cam.show_boxes) == (160, True, True)
    assert svc.state("gate").show_boxes is True
    assert cam.detector.params == MotionParams.from_settings(edited)

    # the pipeline restarts with other settings: the same fields change, the state follows the boxes
    again = svc.register("gate", MotionParams(sensitivity=0.2), 480, want_colour=False, show_boxes=False)
    assert again is cam
    assert (cam.analysis_width, cam.want_colour, svc.state("gate").show_boxes) == (480, False, False)


def test_live_edit_wants_colour_only_when_a_classifier_is_loaded():
    svc = MotionService()  # no classifier: classify=True cannot be honoured until a restart loads one
    cam = svc.register("gate", MotionParams(), 320)
    assert svc.update_settings("gate", MotionSettings(classify=True, analysis_width=256)) is True
    assert (cam.analysis_width, cam.want_colour) == (256, False)
    assert svc.update_settings("nobody", MotionSettings()) is False

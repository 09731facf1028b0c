"""Object classifier: load and run a tiny ONNX model the test builds (real OpenCV DNN inference)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from app.motion.classifier import ClassifierError, ObjectClassifier
from app.motion.detector import Region

# two detections: a person (class 15) on the left at 0.9, a car (7) on the right at 0.3
ROWS = np.array([[0, 15, 0.9, 0.1, 0.2, 0.3, 0.8], [0, 7, 0.3, 0.6, 0.5, 0.9, 0.9]], np.float32)


def build_model(path):
    """image [1,3,300,300] -> ReduceMean (uses the input) * 0 + constant detections [1,1,2,7]."""
    const = helper.make_tensor("dets", TensorProto.FLOAT, [1, 1, 2, 7], ROWS.flatten().tolist())
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0])
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["m"], keepdims=1),  # [1,1,1,1]
        helper.make_node("Mul", ["m", "zero"], ["mz"]),
        helper.make_node("Add", ["dets", "mz"], ["detection_out"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny_ssd",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 300, 300])],
        [helper.make_tensor_value_info("detection_out", TensorProto.FLOAT, [1, 1, 2, 7])],
        initializer=[const, zero],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_loads_and_classifies_with_confidence_threshold(tmp_path):
    clf = ObjectClassifier.load(build_model(tmp_path / "tiny.onnx"), confidence=0.5)
    dets = clf.detect(np.zeros((300, 300, 3), np.uint8))
    assert [(d.label, d.raw_label) for d in dets] == [("person", "person")]
    assert dets[0].confidence == pytest.approx(0.9)
    assert dets[0].box == pytest.approx((0.1, 0.2, 0.2, 0.6))
    low = ObjectClassifier.load(tmp_path / "tiny.onnx", confidence=0.2)
    assert {d.label for d in low.detect(np.zeros((300, 300, 3), np.uint8))} == {"person", "vehicle"}


def test_only_detections_overlapping_motion_regions_are_kept(tmp_path):
    clf = ObjectClassifier.load(build_model(tmp_path / "tiny.onnx"), confidence=0.2)
    img = np.zeros((300, 300, 3), np.uint8)
    right = Region(0.7, 0.6, 0.1, 0.1, 0.01)
    assert [d.label for d in clf.classify(img, (right,))] == ["vehicle"]


def test_missing_or_broken_model_says_so(tmp_path):
    with pytest.raises(ClassifierError, match="does not exist"):
        ObjectClassifier.load(tmp_path / "nope.caffemodel", tmp_path / "nope.prototxt")
    (tmp_path / "m.caffemodel").write_bytes(b"x")
    with pytest.raises(ClassifierError, match="needs its config"):
        ObjectClassifier.load(tmp_path / "m.caffemodel")
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ClassifierError, match="cannot load"):
        ObjectClassifier.load(tmp_path / "bad.onnx")

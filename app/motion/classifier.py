"""Optional object classification of motion regions with a MobileNet-SSD model through OpenCV DNN.

The model files must already be on disk (Caffe ``.caffemodel`` + ``.prototxt``, TensorFlow ``.pb`` +
``.pbtxt``, or ``.onnx``); nothing is downloaded. Without a model the feature is off and says so
(:class:`ClassifierError` with the reason, logged once by the wiring). Output convention is the SSD
``DetectionOutput`` layer: ``[1, 1, N, 7]`` rows of ``(image, class id, confidence, x1, y1, x2, y2)``
with normalised corners. Labels are the 20 PASCAL VOC classes MobileNet-SSD was trained on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

VOC_LABELS = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
              "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
              "tvmonitor")  # fmt: skip
# what an operator cares about, in words
GROUPS = {"person": "person", "car": "vehicle", "bus": "vehicle", "motorbike": "vehicle", "bicycle": "vehicle",
          "train": "vehicle", "dog": "animal", "cat": "animal", "horse": "animal", "cow": "animal",
          "sheep": "animal", "bird": "animal"}  # fmt: skip


log = logging.getLogger(__name__)


class ClassifierError(Exception):
    """No usable model; the message says which file and why."""


def classifier_for(settings) -> ObjectClassifier | None:
    """The camera's object classifier for its ``MotionSettings``, or None (and a log line saying why)
    when classification is off or no model is usable. The motion service's classifier factory."""
    if not settings.classify:
        return None
    if not settings.classifier_model:
        log.warning("object classification is on but no model file is configured: motion is not classified")
        return None
    try:
        return ObjectClassifier.load(settings.classifier_model, settings.classifier_config,
                                     confidence=settings.classifier_confidence)  # fmt: skip
    except ClassifierError as e:
        log.error("%s: motion is not classified", e)
        return None


@dataclass(frozen=True, slots=True)
class Detection:
    label: str  # grouped label: person / vehicle / animal / the raw class
    raw_label: str
    confidence: float
    box: tuple[float, float, float, float]  # normalised x, y, w, h


class ObjectClassifier:
    INPUT_SIZE = 300

    def __init__(self, net, confidence: float = 0.5, labels: tuple[str, ...] = VOC_LABELS) -> None:
        self.net = net
        self.confidence = confidence
        self.labels = labels

    @classmethod
    def load(cls, model: str | Path, config: str | Path | None = None, confidence: float = 0.5) -> ObjectClassifier:
        model = Path(model).expanduser()
        if not model.is_file():
            raise ClassifierError(f"object classifier model {model} does not exist")
        if config and not Path(config).expanduser().is_file():
            raise ClassifierError(f"object classifier config {config} does not exist")
        if model.suffix in (".caffemodel", ".pb") and not config:
            raise ClassifierError(f"object classifier model {model.name} needs its config file (.prototxt/.pbtxt)")
        try:
            net = cv2.dnn.readNet(str(model), str(Path(config).expanduser()) if config else "")
        except cv2.error as e:
            raise ClassifierError(f"OpenCV cannot load the object classifier {model.name}: {str(e)[-200:]}") from None
        if net.empty():
            raise ClassifierError(f"object classifier {model.name} loaded empty")
        return cls(net, confidence)

    def detect(self, bgr: np.ndarray) -> list[Detection]:
        blob = cv2.dnn.blobFromImage(bgr, 0.007843, (self.INPUT_SIZE, self.INPUT_SIZE), 127.5)
        self.net.setInput(blob)
        out = np.asarray(self.net.forward()).reshape(-1, 7)
        dets = []
        for _, cls_id, conf, x1, y1, x2, y2 in out:
            if conf < self.confidence:
                continue
            i = int(cls_id)
            raw = self.labels[i] if 0 <= i < len(self.labels) else f"class {i}"
            if raw == "background":
                continue
            x1, y1, x2, y2 = (float(min(max(v, 0.0), 1.0)) for v in (x1, y1, x2, y2))
            dets.append(Detection(GROUPS.get(raw, raw), raw, float(conf), (x1, y1, x2 - x1, y2 - y1)))
        return dets

    def classify(self, bgr: np.ndarray, regions=()) -> list[Detection]:
        """Detections overlapping a motion region (all detections when no regions are given)."""
        dets = self.detect(bgr)
        if not regions:
            return dets
        return [d for d in dets if any(_overlaps(d.box, (r.x, r.y, r.w, r.h)) for r in regions)]


def _overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]

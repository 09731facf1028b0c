"""Motion detection: a pure detector on grey ndarrays (detector.py), an optional object classifier
(classifier.py) and the service that feeds it from the camera pipelines (service.py)."""

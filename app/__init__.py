"""Vigil core: pipelines, probes wiring, store, alerts, export. Imports no Qt (see pyproject import-linter)."""

__version__ = "0.1.0"

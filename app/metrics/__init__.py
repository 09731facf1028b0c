"""Prometheus export: a collector that reads snapshots/probe results at scrape time, and its HTTP server.

Pipelines and probes never import prometheus_client; only this package does.
"""

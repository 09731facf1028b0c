"""Wires issue #4's parts into a Runtime: picture/audio health, the probe scheduler, the Prometheus exporter.

Called once by the composition root (``main.build_runtime``), for the window and ``--headless`` alike::

    runtime = Runtime(...)
    install_monitoring(runtime)

* ``HealthMonitor`` is attached to every tile pipeline through ``supervisor.add_pipeline_hook``.
* ``ProbeScheduler`` ("probes" service) runs every probe from ``probes.registry.build_probes`` on one
  bounded pool; camera-scoped findings (NETWORK_DOWN, HLS_*) are routed into the camera's conditions.
* ``MetricsExporter`` ("metrics" service) serves /metrics from the snapshots and probe results.

The wall finds the probe-only status tiles (analytics-server streams) through the "probes" service:
``dict(runtime.services)["probes"].results.snapshots()`` (id -> HealthSnapshot, ids start with ``api:``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.health.picture import HealthMonitor
from app.metrics.exporter import MetricsExporter
from probes.base import ProbeResult
from probes.registry import build_probes
from probes.scheduler import ProbeScheduler

if TYPE_CHECKING:
    from app.runtime import Runtime

# probe kind -> condition source name in the camera's merged conditions
_CAMERA_SOURCES = {"network": "network", "hls": "hls", "hls_rendition": "hls"}


@dataclass
class Monitoring:
    health: HealthMonitor
    scheduler: ProbeScheduler
    exporter: MetricsExporter


def route_conditions(health: HealthMonitor, probe, results: list[ProbeResult]) -> None:
    """Merge a camera-scoped probe's conditions into that camera's snapshot."""
    by_cam: dict[tuple[str, str], set[str]] = {}
    for r in results:
        source = _CAMERA_SOURCES.get(r.kind)
        if source and r.camera_id:
            by_cam.setdefault((r.camera_id, source), set()).update(r.conditions)
    for (cam, source), conds in by_cam.items():
        health.set_external(cam, source, tuple(sorted(conds)))


def install_monitoring(runtime: Runtime) -> Monitoring:
    config = runtime.config
    health = HealthMonitor(runtime.supervisor).install()
    scheduler = ProbeScheduler(workers=config.probes.workers)
    for probe in build_probes(config):
        scheduler.add(probe)
    scheduler.add_listener(lambda probe, results: route_conditions(health, probe, results))

    def stats() -> dict[str, tuple[int, int]]:
        return {n: (c, scheduler.failures_total.get(n, 0)) for n, c in dict(scheduler.runs_total).items()}

    def disk_status():
        # looked up at scrape time: the "retention" service (app.recording.wiring) may be installed in any order
        from app.recording.wiring import find_service  # lazy: recording's imports only when scraped

        svc = find_service(runtime, "retention")
        return svc.status() if svc is not None else None

    exporter = MetricsExporter(config.metrics, runtime.supervisor.snapshots, scheduler.results, stats, disk_status)
    runtime.add_service("probes", scheduler)
    runtime.add_service("metrics", exporter)
    return Monitoring(health, scheduler, exporter)

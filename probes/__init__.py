"""Background health probes (HLS, analytics-server API, JSON devices, network), no Qt.

One module per probe kind, one common result type (:class:`probes.base.ProbeResult`), one registry
(:data:`probes.registry.PROBE_KINDS`) and one bounded pool (:class:`probes.scheduler.ProbeScheduler`).
"""

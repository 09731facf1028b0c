"""The registry: config names -> probe builders. ``build_probes(config)`` is the one place that turns
the ``probes`` config section (and the cameras) into probe objects for the :class:`ProbeScheduler`.

=================  ==========================================  ==========================
config name        what it builds                              results (kind)
=================  ==========================================  ==========================
``hls``            one :class:`HlsProbe` per camera whose URL  ``hls``, ``hls_rendition``
                   (or sub-URL) is an ``http(s)://...m3u8``
``analytics_api``  one :class:`AnalyticsApiProbe` per server   ``analytics_server``,
                   in ``probes.analytics_servers``             ``analytics_stream``
``json_device``    one :class:`JsonDeviceProbe` per entry in   ``json_device``
                   ``probes.json_devices`` (preset or fields)
``network``        one :class:`NetworkProbe` per network       ``network``
                   camera: ICMP to its host, TCP to its
                   ``probe_port`` - never a stream port
=================  ==========================================  ==========================
"""

from __future__ import annotations

from collections.abc import Callable

from app.config import AppConfig
from probes.analytics_api import AnalyticsApiProbe
from probes.base import Probe
from probes.hls import HlsProbe, is_hls_url
from probes.json_device import JsonDeviceProbe
from probes.network import NetworkProbe, probe_target, stream_ports


def _hls(config: AppConfig) -> list[Probe]:
    p = config.probes
    out: list[Probe] = []
    for cam in config.cameras:
        if not cam.enabled:
            continue
        url = cam.url if is_hls_url(cam.url) else (cam.sub_url if cam.sub_url and is_hls_url(cam.sub_url) else None)
        if url:
            out.append(
                HlsProbe(
                    cam.id,
                    url,
                    expected_renditions=cam.expected_renditions,
                    expected_codecs=cam.expected_codecs,
                    expected_bandwidth_kbps=cam.expected_bandwidth_kbps,
                    interval_s=p.hls_interval_s,
                    timeout_s=p.http_timeout_s,
                    tolerance=p.hls_duration_tolerance,
                    download_segments=p.hls_download_segments,
                )
            )
    return out


def _analytics(config: AppConfig) -> list[Probe]:
    p = config.probes
    return [
        AnalyticsApiProbe(
            s.base_url,
            name=s.name,
            interval_s=p.analytics_interval_s,
            parallelism=p.analytics_parallelism,
            max_streams=p.analytics_max_streams,
            timeout_s=p.http_timeout_s,
            cafile=s.cafile,
        )
        for s in p.analytics_servers
    ]


def _json_devices(config: AppConfig) -> list[Probe]:
    p = config.probes
    return [
        JsonDeviceProbe(
            d.name, d.url, preset=d.preset, fields=d.fields, interval_s=d.interval_s, timeout_s=p.http_timeout_s
        )
        for d in p.json_devices
    ]


def _network(config: AppConfig) -> list[Probe]:
    """The host of every network camera: ICMP echo and the camera's ``probe_port``. The stream's own port is
    never probed (a second connection there turned single-client cameras' streams away); its reachability
    comes from the pipeline's own connection (``app/health/reachability.py``)."""
    p = config.probes
    if not p.network_enabled:
        return []
    out: list[Probe] = []
    for cam in config.cameras:
        target = probe_target(cam) if cam.enabled else None
        if target is None or (target[1] is None and not p.network_icmp):
            continue  # not a network camera, or nothing to measure (the stream's connection decides alone)
        host, port = target
        out.append(
            NetworkProbe(
                cam.id,
                host,
                port,
                interval_s=p.network_interval_s,
                attempts=p.network_attempts,
                icmp=p.network_icmp,
                stream_ports=stream_ports(cam),
            )
        )
    return out


PROBE_KINDS: dict[str, Callable[[AppConfig], list[Probe]]] = {
    "hls": _hls,
    "analytics_api": _analytics,
    "json_device": _json_devices,
    "network": _network,
}


def build_probes(config: AppConfig, kinds: tuple[str, ...] | None = None) -> list[Probe]:
    out: list[Probe] = []
    for name, builder in PROBE_KINDS.items():
        if kinds is None or name in kinds:
            out.extend(builder(config))
    return out

"""``VigilCollector``: builds every series from the latest health snapshots and probe results at scrape time.

Nothing is pushed into prometheus_client objects by the pipelines (Frigate's pattern): a scrape reads
``supervisor.snapshots()`` and ``ProbeResults.all()`` - both immutable - and yields metric families.
Counters come from monotonic counts kept by their owners (pipeline snapshot ``*_total`` fields, the
analytics probe's error count), so they are real counters (``# TYPE ... counter``) that only reset
when Vigil restarts, which Prometheus' ``rate()`` handles.

Labels never carry a password or a user name: cameras are labelled by id/name/group, hosts by host name
only, and URLs (``vigil_camera_info{url}``, URL-valued device fields) go through ``app.secrets.label_url``
(``scheme://host:port/path``, path secrets masked); a device text field that only quotes URLs (free text,
several URLs) goes through ``app.secrets.scrub`` instead (:func:`text_label`).
Series names and labels of the video-analytics server exporter are kept exactly (``camera_stream_status_up``
etc.) so existing Grafana dashboards keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from app.pipeline.state import Condition, HealthSnapshot, StreamState
from app.secrets import label_url, scrub
from probes.base import ProbeResult, ProbeResults

log = logging.getLogger(__name__)

_CAM = ["camera_id", "camera_name", "group"]


def _cam_labels(s: HealthSnapshot) -> list[str]:
    return [s.camera_id, s.name, s.group]


def text_label(value: str) -> str:
    """A device's text field as a label value, with no credential in it.

    A value that is exactly one URL with a host gets :func:`label_url` (no user, no query); anything
    else (free text that quotes one or several URLs, "source: rtsp://admin:pw@h/x") goes through
    :func:`scrub`, which masks every ``user:pw@`` and secret parameter wherever it stands.
    """
    if "://" not in value and "=" not in value:
        return value
    if value.count("://") == 1 and not any(c.isspace() for c in value):
        try:
            parts = urlsplit(value)
            one_url = bool(parts.scheme) and bool(parts.hostname) and value.startswith(parts.scheme + "://")
        except ValueError:
            one_url = False
        if one_url:
            return label_url(value)
    return scrub(value)


class VigilCollector(Collector):
    def __init__(
        self,
        snapshots: Callable[[], dict[str, HealthSnapshot]],
        results: ProbeResults | None = None,
        scheduler_stats: Callable[[], dict[str, tuple[int, int]]] | None = None,
        disk_status: Callable[[], object | None] | None = None,
        store_status: Callable[[], object | None] | None = None,
    ) -> None:
        self._snapshots = snapshots
        self._results = results
        self._scheduler_stats = scheduler_stats
        # app.recording.retention.RetentionService.status (a frozen DiskStatus), read duck-typed at scrape
        # time so this module does not depend on the recording package
        self._disk_status = disk_status
        # app.store.Store.status (a frozen WriterStatus; never blocks), read duck-typed like disk_status
        self._store_status = store_status
        self.scrapes_total = 0

    def describe(self) -> Iterable:
        return []  # families depend on the config; no describe-time collection

    def collect(self) -> Iterable:
        t0 = time.perf_counter()
        self.scrapes_total += 1
        try:
            snaps = self._snapshots()
        except Exception:
            log.exception("metrics: reading snapshots failed")
            snaps = {}
        yield from self._cameras(snaps)
        results = self._results.all() if self._results is not None else []
        yield from self._analytics(results)
        yield from self._hls(results)
        yield from self._network(results)
        yield from self._devices(results)
        yield from self._probes(results)
        yield from self._recording()
        yield from self._history()
        g = GaugeMetricFamily("vigil_scrape_duration_seconds", "Time to build this exposition (previous scrape)")
        g.add_metric([], time.perf_counter() - t0)
        yield g

    # ----------------------------------------------------------------------- cameras (pipelines)

    def _cameras(self, snaps: dict[str, HealthSnapshot]) -> Iterable:
        up = GaugeMetricFamily("vigil_camera_up", "1 if the camera's tile stream is LIVE", labels=_CAM)
        state = GaugeMetricFamily(
            "vigil_camera_state", "Current stream state (1 for the current one)", labels=[*_CAM, "state"]
        )
        cond = GaugeMetricFamily(
            "vigil_camera_condition", "Picture/stream condition active (1) or not (0)", labels=[*_CAM, "condition"]
        )
        gauges = {
            "fps_received": GaugeMetricFamily("vigil_camera_fps_received", "Stream frame rate", labels=_CAM),
            "fps_decoded": GaugeMetricFamily("vigil_camera_fps_decoded", "Frames decoded per second", labels=_CAM),
            "bitrate_bps": GaugeMetricFamily("vigil_camera_bitrate_bps", "Video bitrate, bits per second", labels=_CAM),
            "latency_ms": GaugeMetricFamily("vigil_camera_latency_seconds", "Packet to frame latency", labels=_CAM),
            "keyframe_interval_s": GaugeMetricFamily(
                "vigil_camera_keyframe_interval_seconds", "Seconds between keyframes", labels=_CAM
            ),
            "time_to_first_frame_s": GaugeMetricFamily(
                "vigil_camera_time_to_first_frame_seconds", "Connect to first decoded frame", labels=_CAM
            ),
            "audio_level_dbfs": GaugeMetricFamily("vigil_camera_audio_level_dbfs", "Audio RMS level", labels=_CAM),
            "mean_luma": GaugeMetricFamily("vigil_camera_mean_luma", "Mean picture luma 0-255", labels=_CAM),
            "state_since": GaugeMetricFamily(
                "vigil_camera_state_since_seconds", "UNIX time of the last state change", labels=_CAM
            ),
        }
        counters = {
            "frames_decoded_total": CounterMetricFamily("vigil_camera_frames", "Frames decoded", labels=_CAM),
            "packets_received_total": CounterMetricFamily("vigil_camera_packets", "Video packets", labels=_CAM),
            "bytes_received_total": CounterMetricFamily("vigil_camera_received_bytes", "Video bytes", labels=_CAM),
            "reconnects_total": CounterMetricFamily("vigil_camera_reconnects", "Reconnects", labels=_CAM),
            "stalls_total": CounterMetricFamily("vigil_camera_stalls", "Times the picture stalled", labels=_CAM),
            "frames_dropped_total": CounterMetricFamily(
                "vigil_camera_frames_dropped", "Frames dropped (decoder behind or not shown)", labels=_CAM
            ),
            "decode_errors_total": CounterMetricFamily("vigil_camera_decode_errors", "Decode errors", labels=_CAM),
        }
        info = GaugeMetricFamily(
            "vigil_camera_info", "Stream description", labels=[*_CAM, "codec", "resolution", "url"]
        )
        for s in snaps.values():
            lab = _cam_labels(s)
            up.add_metric(lab, 1.0 if s.state is StreamState.LIVE else 0.0)
            for st in StreamState:
                state.add_metric([*lab, st.value], 1.0 if s.state is st else 0.0)
            active = set(s.conditions)
            for c in Condition:
                cond.add_metric([*lab, c.value], 1.0 if c.value in active else 0.0)
            for c in sorted(active - {c.value for c in Condition}):
                cond.add_metric([*lab, c], 1.0)
            for field, fam in gauges.items():
                v = getattr(s, field)
                if v is None:
                    continue
                if field == "latency_ms":
                    v = v / 1000.0
                fam.add_metric(lab, float(v))
            for field, fam in counters.items():
                fam.add_metric(lab, float(getattr(s, field)))
            # scheme://host:port/path only: no user name, no query, path secrets masked (app.secrets)
            info.add_metric([*lab, s.codec, s.resolution, label_url(s.url)], 1.0)
        yield up
        yield state
        yield cond
        yield info
        yield from gauges.values()
        yield from counters.values()

    # ----------------------------------------------------------------------- analytics-exporter series

    def _analytics(self, results: list[ProbeResult]) -> Iterable:
        status = GaugeMetricFamily(
            "camera_stream_status_up",
            "Status aktif stream kamera (1=RUNNING and active, 0=DOWN/other)",
            labels=["stream_id", "stream_name", "node_num", "state_text", "source_host"],
        )
        total = GaugeMetricFamily(
            "camera_stream_total", "Total cameras per location (stream_name)", labels=["stream_name"]
        )
        breakdown = GaugeMetricFamily(
            "camera_stream_status_total", "Cameras per state_text per location", labels=["stream_name", "state_text"]
        )
        resp = GaugeMetricFamily(
            "stream_api_response_time_seconds", "Mean API response time per host (seconds)", labels=["source_host"]
        )
        errors = CounterMetricFamily(
            "stream_api_errors", "API errors per host since start (list and detail requests)", labels=["source_host"]
        )
        fps = GaugeMetricFamily(
            "camera_stream_fps",
            "fps reported by the analytics server",
            labels=["stream_id", "stream_name", "source_host"],
        )
        skipped = GaugeMetricFamily(
            "vigil_analytics_skipped_entries",
            "Entries of the server's /streams list not checked in the last cycle, by reason (no_stream_id, "
            "no_node_num, not_an_object, unusable_value, over_limit)",
            labels=["source_host", "reason"],
        )
        per_name: dict[str, int] = {}
        per_state: dict[tuple[str, str], int] = {}
        resp_by_host: dict[str, float] = {}
        err_by_host: dict[str, float] = {}
        for r in results:
            if r.kind == "analytics_server":
                host = r.labels.get("source_host", r.target)
                resp_by_host[host] = r.metrics.get("response_time_s", 0.0)
                err_by_host[host] = err_by_host.get(host, 0.0) + r.metrics.get("errors_total", 0.0)
                for key, n in r.metrics.items():
                    if key.startswith("skipped:"):  # probes.analytics_api: one per reason, 0 included
                        skipped.add_metric([host, key.partition(":")[2]], n)
            elif r.kind == "analytics_stream":
                lab = r.labels
                sname = lab.get("stream_name", "UNKNOWN_STREAM")
                status.add_metric(
                    [lab.get("stream_id", ""), sname, lab.get("node_num", ""), r.state, lab.get("source_host", "")],
                    r.metrics.get("up", 0.0),
                )
                per_name[sname] = per_name.get(sname, 0) + 1
                per_state[(sname, r.state)] = per_state.get((sname, r.state), 0) + 1
                if "fps" in r.metrics:
                    fps.add_metric([lab.get("stream_id", ""), sname, lab.get("source_host", "")], r.metrics["fps"])
        for n, c in per_name.items():
            total.add_metric([n], c)
        for (n, st), c in per_state.items():
            breakdown.add_metric([n, st], c)
        for h, v in resp_by_host.items():
            resp.add_metric([h], v)
        for h, v in err_by_host.items():
            errors.add_metric([h], v)
        yield from (status, total, breakdown, resp, errors, fps, skipped)

    # ----------------------------------------------------------------------- HLS (packager-monitor series)

    def _hls(self, results: list[ProbeResult]) -> Iterable:
        valid = GaugeMetricFamily(
            "vigil_hls_playlist_validation_is_valid",
            "1 if master + media playlists pass validation",
            labels=["camera_id"],
        )
        verr = CounterMetricFamily(
            "vigil_hls_playlist_validation_errors", "Probe cycles that found a playlist problem", labels=["camera_id"]
        )
        rungs = GaugeMetricFamily("vigil_hls_abr_rungs", "Renditions in the master playlist", labels=["camera_id"])
        expected = GaugeMetricFamily("vigil_hls_abr_expected_rungs", "Renditions expected", labels=["camera_id"])
        rl = ["camera_id", "rendition", "resolution"]
        rend = GaugeMetricFamily("vigil_hls_rendition_bandwidth_bps", "BANDWIDTH advertised per rendition", labels=rl)
        dl = GaugeMetricFamily("vigil_hls_segment_download_time_seconds", "Newest segment download time", labels=rl)
        status = GaugeMetricFamily("vigil_hls_segment_http_status", "HTTP status of the newest segment", labels=rl)
        pstatus = GaugeMetricFamily("vigil_hls_playlist_http_status", "HTTP status of the media playlist", labels=rl)
        seg_bytes = GaugeMetricFamily("vigil_hls_segment_bytes", "Size of the newest segment", labels=rl)
        seq = GaugeMetricFamily("vigil_hls_media_sequence", "EXT-X-MEDIA-SEQUENCE", labels=rl)
        stale = GaugeMetricFamily("vigil_hls_playlist_stale", "1 if not updated within 1.5x target duration", labels=rl)
        extinf = GaugeMetricFamily("vigil_hls_extinf_violations", "Segments with EXTINF out of tolerance", labels=rl)
        tdur = GaugeMetricFamily("vigil_hls_target_duration_seconds", "EXT-X-TARGETDURATION", labels=rl)
        disc = CounterMetricFamily("vigil_hls_discontinuities", "Discontinuities seen", labels=rl)
        seqerr = CounterMetricFamily("vigil_hls_media_sequence_errors", "Media sequence went backwards", labels=rl)
        rok = GaugeMetricFamily("vigil_hls_rendition_up", "1 if the rendition's playlist could be read", labels=rl)
        for r in results:
            if r.kind == "hls":
                valid.add_metric([r.target], r.metrics.get("playlist_valid", 0.0))
                verr.add_metric([r.target], r.metrics.get("validation_errors_total", 0.0))
                rungs.add_metric([r.target], r.metrics.get("abr_rung_count", 0.0))
                expected.add_metric([r.target], r.metrics.get("expected_rung_count", 0.0))
            elif r.kind == "hls_rendition":
                lab = [r.camera_id, r.labels.get("rendition", ""), r.labels.get("resolution", "")]
                m = r.metrics
                rok.add_metric(lab, 1.0 if r.ok else 0.0)
                for fam, key in ((rend, "bandwidth_bps"), (dl, "segment_download_s"), (status, "segment_http_status"),
                                 (pstatus, "playlist_http_status"), (seg_bytes, "segment_bytes"),
                                 (seq, "media_sequence"), (stale, "stale"), (extinf, "extinf_violations"),
                                 (tdur, "target_duration_s"), (disc, "discontinuities_total"),
                                 (seqerr, "sequence_errors_total")):  # fmt: skip
                    if key in m:
                        fam.add_metric(lab, m[key])
        yield from (valid, verr, rungs, expected, rend, dl, status, pstatus, seg_bytes, seq, stale, extinf, tdur)
        yield from (disc, seqerr, rok)

    # ----------------------------------------------------------------------- recording disk (retention)

    def _recording(self) -> Iterable:
        if self._disk_status is None:
            return
        try:
            st = self._disk_status()
        except Exception:
            log.exception("metrics: reading the recording disk status failed")
            return
        if st is None or not st.last_run:
            return  # retention has not looked at the disk yet: no figures rather than zeros
        days = GaugeMetricFamily(
            "vigil_recording_days_available",
            "Days of recording the disk holds at the recent write rate (retention policy applied)",
        )
        if st.days_available is not None:
            days.add_metric([], float(st.days_available))
        yield days
        for name, doc, v in (
            ("vigil_recording_disk_total_bytes", "Size of the disk holding the recordings root", st.total_bytes),
            ("vigil_recording_disk_free_bytes", "Free space on that disk after the last cleanup", st.free_bytes),
            ("vigil_recording_bytes", "Bytes of recorded segments kept", st.recordings_bytes),
            ("vigil_recording_segments", "Recorded segments kept", st.segments),
            ("vigil_recording_retention_last_run_timestamp_seconds", "UNIX time of the last cleanup", st.last_run),
            ("vigil_recording_retention_targets_met", "0 if locked/open segments keep the disk above the target",
             0.0 if st.error else 1.0),
        ):  # fmt: skip
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], float(v))
            yield g
        if st.oldest is not None:
            g = GaugeMetricFamily("vigil_recording_oldest_segment_timestamp_seconds", "Start of the oldest segment")
            g.add_metric([], float(st.oldest))
            yield g
        c = CounterMetricFamily("vigil_recording_segments_deleted", "Segments deleted by retention since start")
        c.add_metric([], float(st.deleted_total))
        yield c

    # ----------------------------------------------------------------------- history store

    def _history(self) -> Iterable:
        """``vigil_history_*``: is history being written, and what is held, written, dropped."""
        if self._store_status is None:
            return
        try:
            st = self._store_status()
        except Exception:
            log.exception("metrics: reading the history store status failed")
            return
        if st is None:
            return
        for name, doc, v in (
            ("vigil_history_write_ok", "1 if history is being written to the database, 0 during an outage "
             "(locked, full, read-only, server gone) or with history off", 0.0 if st.not_written else 1.0),
            ("vigil_history_records_pending", "Records queued or held, not yet in the database", st.queued),
        ):  # fmt: skip
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], float(v))
            yield g
        if st.outage_since is not None:
            g = GaugeMetricFamily("vigil_history_outage_start_timestamp_seconds",
                                  "UNIX time history stopped being written (only during an outage)")  # fmt: skip
            g.add_metric([], float(st.outage_since))
            yield g
        for name, doc, v in (
            ("vigil_history_records_written", "Records written to the database since start", st.written_total),
            ("vigil_history_records_dropped", "Records dropped since start (queue full, or history off)",
             st.dropped_total),
            ("vigil_history_records_rejected", "Records the database refused as invalid (skipped)",
             st.rejected_total),
            ("vigil_history_write_failures", "Failed attempts to open or write the database", st.failed_attempts),
            ("vigil_history_records_replayed", "Records written at start from the journal of the last stop",
             st.replayed),
        ):  # fmt: skip
            c = CounterMetricFamily(name, doc)
            c.add_metric([], float(v))
            yield c

    # ----------------------------------------------------------------------- network, devices, probes

    def _network(self, results: list[ProbeResult]) -> Iterable:
        lab = ["camera_id", "host", "port"]
        up = GaugeMetricFamily("vigil_network_up", "1 if the camera host answers (TCP, even refused)", labels=lab)
        lat = GaugeMetricFamily("vigil_network_connect_latency_seconds", "Median TCP connect time", labels=lab)
        loss = GaugeMetricFamily("vigil_network_loss_ratio", "Share of TCP connects without an answer", labels=lab)
        icmp = GaugeMetricFamily("vigil_network_icmp_rtt_seconds", "ICMP echo round trip (when permitted)", labels=lab)
        for r in results:
            if r.kind != "network":
                continue
            lv = [r.camera_id, r.labels.get("host", ""), r.labels.get("port", "")]
            up.add_metric(lv, 0.0 if "NETWORK_DOWN" in r.conditions else 1.0)
            loss.add_metric(lv, r.metrics.get("loss_ratio", 1.0))
            if "connect_latency_s" in r.metrics:
                lat.add_metric(lv, r.metrics["connect_latency_s"])
            if "icmp_rtt_s" in r.metrics:
                icmp.add_metric(lv, r.metrics["icmp_rtt_s"])
        yield from (up, lat, loss, icmp)

    def _devices(self, results: list[ProbeResult]) -> Iterable:
        up = GaugeMetricFamily(
            "vigil_device_up", "1 if the device answered with usable JSON", labels=["device", "preset"]
        )
        val = GaugeMetricFamily("vigil_device_value", "Numeric field of a JSON device", labels=["device", "field"])
        txt = GaugeMetricFamily(
            "vigil_device_state", "Text field of a JSON device (value label)", labels=["device", "field", "value"]
        )
        cond = GaugeMetricFamily("vigil_device_condition", "Device condition active", labels=["device", "condition"])
        for r in results:
            if r.kind != "json_device":
                continue
            up.add_metric([r.target, r.labels.get("preset", "")], 1.0 if r.ok else 0.0)
            for k, v in r.metrics.items():
                val.add_metric([r.target, k], v)
            for k, v in r.labels.items():
                if k not in ("device", "preset", "url"):
                    # a device may report camera URLs (hdd-monitor's "streams"): never a credential in a label
                    txt.add_metric([r.target, k, text_label(v)], 1.0)
            for c in r.conditions:
                cond.add_metric([r.target, c], 1.0)
        yield from (up, val, txt, cond)

    def _probes(self, results: list[ProbeResult]) -> Iterable:
        lab = ["kind", "target"]
        lat = GaugeMetricFamily("vigil_probe_latency_seconds", "Duration of the probe's last run", labels=lab)
        ok = GaugeMetricFamily("vigil_probe_success", "1 if the last probe run got a usable answer", labels=lab)
        age = GaugeMetricFamily("vigil_probe_last_run_timestamp_seconds", "UNIX time of the last result", labels=lab)
        for r in results:
            if r.kind in ("analytics_stream", "hls_rendition"):
                continue  # per-item; their parent result carries the probe's latency
            lat.add_metric([r.kind, r.target], r.latency_s)
            ok.add_metric([r.kind, r.target], 1.0 if r.ok else 0.0)
            age.add_metric([r.kind, r.target], r.at)
        yield from (lat, ok, age)
        if self._scheduler_stats is not None:
            runs = CounterMetricFamily("vigil_probe_runs", "Probe runs since start", labels=["probe"])
            fails = CounterMetricFamily("vigil_probe_crashes", "Probe runs that raised (bugs)", labels=["probe"])
            for name, (n, f) in self._scheduler_stats().items():
                runs.add_metric([name], n)
                fails.add_metric([name], f)
            yield from (runs, fails)

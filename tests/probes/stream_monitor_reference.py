"""Test oracle: the monitored system's own Prometheus exporter for its analytics servers' stream API.

``fetch_metrics`` below is copied unchanged (only ruff-formatted) from the exporter that sites ran before
Vigil ("stream_monitor.py" of the stream-monitoring deployment notes, prometheus-client 0.20 + requests).
``tests/probes/test_analytics_parity.py`` runs it and Vigil's analytics probe against the same loopback
server and compares the series. Only ``API_BASE_URLS`` differs: the tests set it to their server. The
exporter's HTTP handler and background thread are left out (the tests call ``fetch_metrics`` directly).
"""
# ruff: noqa

import requests
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import threading
import time
from time import perf_counter

# ---------- KONFIGURASI ----------
API_BASE_URLS: list[str] = []  # set by the tests (the field copy lists the sites' servers)

EXPORTER_PORT = 9898
UPDATE_INTERVAL = 60  # detik
# ----------------------------------

latest_registry = CollectorRegistry(auto_describe=False)
registry_lock = threading.Lock()

_error_accumulator = {}
_error_accumulator_lock = threading.Lock()


def fetch_metrics():
    """Ambil data dari semua server API dan perbarui metrics registry."""
    global latest_registry
    local_registry = CollectorRegistry(auto_describe=False)

    # ---- Definisi Metrics ----
    STREAM_STATUS = Gauge(
        "camera_stream_status_up",
        "Status aktif stream kamera (1=RUNNING, 0=DOWN/Lainnya)",
        ["stream_id", "stream_name", "node_num", "state_text", "source_host"],
        registry=local_registry,
    )

    STREAM_TOTAL = Gauge(
        "camera_stream_total", "Total jumlah kamera per lokasi (stream_name)", ["stream_name"], registry=local_registry
    )

    STREAM_STATUS_BREAKDOWN = Gauge(
        "camera_stream_status_total",
        "Jumlah kamera per status_text per lokasi",
        ["stream_name", "state_text"],
        registry=local_registry,
    )

    API_RESPONSE_TIME = Gauge(
        "stream_api_response_time_seconds",
        "Rata-rata durasi response API per host (detik)",
        ["source_host"],
        registry=local_registry,
    )

    API_ERRORS_TOTAL = Gauge(
        "stream_api_errors_total", "Jumlah total error API per host", ["source_host"], registry=local_registry
    )
    # ---------------------------

    for base_url in API_BASE_URLS:
        source_host = base_url.split("//")[1].split(":")[0]
        per_host_durations = []
        per_host_error_count = 0

        try:
            start_list = perf_counter()
            streams_response = requests.get(f"{base_url}/streams", timeout=10)
            duration_list = perf_counter() - start_list
            streams_response.raise_for_status()
            streams_data = streams_response.json()
            per_host_durations.append(duration_list)
        except requests.exceptions.RequestException as e:
            print(f"[WARN] {source_host} gagal ambil daftar streams: {e}")
            with _error_accumulator_lock:
                _error_accumulator[source_host] = _error_accumulator.get(source_host, 0) + 1
            API_ERRORS_TOTAL.labels(source_host=source_host).set(_error_accumulator[source_host])
            API_RESPONSE_TIME.labels(source_host=source_host).set(0)
            continue

        # hitung kamera per stream_name
        stream_name_count = {}
        stream_name_state_count = {}

        for stream in streams_data.get("streams", []):
            stream_id = stream.get("stream_id")
            node_num = stream.get("stream_node_num")
            stream_name = stream.get("stream_name", "UNKNOWN_STREAM")
            if not stream_id or node_num is None:
                continue

            stream_name_count[stream_name] = stream_name_count.get(stream_name, 0) + 1

            detail_url = f"{base_url}/streams/{node_num}/{stream_id}"
            labels = {
                "stream_id": stream_id,
                "stream_name": stream_name,
                "node_num": str(node_num),
                "source_host": source_host,
            }

            try:
                start_detail = perf_counter()
                detail_response = requests.get(detail_url, timeout=10)
                duration_detail = perf_counter() - start_detail
                detail_response.raise_for_status()
                detail_data = detail_response.json()
                per_host_durations.append(duration_detail)

                state_text = detail_data.get("stream_stats", {}).get("state", "UNKNOWN")
                if state_text == "UNKNOWN" and detail_data.get("status") and detail_data["status"].get("pipelines"):
                    state_text = detail_data["status"]["pipelines"][0].get("state", "UNKNOWN")

                is_active = detail_data.get("active", False)
                metric_value = 1 if state_text == "RUNNING" and is_active else 0
                labels["state_text"] = state_text
                STREAM_STATUS.labels(**labels).set(metric_value)

                # hitung breakdown
                key = (stream_name, state_text)
                stream_name_state_count[key] = stream_name_state_count.get(key, 0) + 1

            except requests.exceptions.RequestException as e:
                labels["state_text"] = "API_ERROR"
                STREAM_STATUS.labels(**labels).set(0)
                key = (stream_name, "API_ERROR")
                stream_name_state_count[key] = stream_name_state_count.get(key, 0) + 1
                with _error_accumulator_lock:
                    _error_accumulator[source_host] = _error_accumulator.get(source_host, 0) + 1
                print(f"[WARN] {source_host} gagal ambil detail {stream_name}: {e}")

        # set metrik total kamera per lokasi
        for sn, total in stream_name_count.items():
            STREAM_TOTAL.labels(stream_name=sn).set(total)

        # set breakdown per state
        for (sn, state_text), total in stream_name_state_count.items():
            STREAM_STATUS_BREAKDOWN.labels(stream_name=sn, state_text=state_text).set(total)

        # set response time avg per host
        avg_time = sum(per_host_durations) / len(per_host_durations) if per_host_durations else 0.0
        API_RESPONSE_TIME.labels(source_host=source_host).set(avg_time)

        # set error total per host
        with _error_accumulator_lock:
            total_err = _error_accumulator.get(source_host, 0)
        API_ERRORS_TOTAL.labels(source_host=source_host).set(total_err)

    # swap registry atomically
    with registry_lock:
        latest_registry = local_registry

    print(f"[{time.strftime('%H:%M:%S')}] Metrics updated successfully.")

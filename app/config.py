"""Vigil's one typed configuration model: load, validate, migrate and save atomically in one place.

The file is JSON (``vigil.json`` under the platform's config directory, or ``--config PATH``).
Every section is a pydantic model with ``extra="forbid"`` so a typo is an error with a line to fix,
not a silently ignored setting. Feature modules read their own section; nothing else parses the file.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from app.keystore import Keystore, SecretStoreError, references_in, resolve_secrets, strip_secrets
from app.layouts import LAYOUTS, unknown_layout_words
from app.secrets import MISSING_WORDS, mask_url

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
SUPPORTED_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "file", "lavfi", "demo")
# what an operator is told a camera URL may be (the internal lavfi:/demo: sources are not advertised)
URL_KINDS_WORDS = ("use an rtsp:// or rtsps:// camera stream, an rtmp:// or rtmps:// stream, an http:// or "
                   "https:// HLS playlist (.m3u8), or a file:// video file")  # fmt: skip

_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# the port a stream URL reaches when it names none
DEFAULT_STREAM_PORTS = {"rtsp": 554, "rtsps": 322, "rtmp": 1935, "rtmps": 443, "http": 80, "https": 443}


def stream_endpoint(url: str | None) -> tuple[str, int] | None:
    """(host, port) a network stream URL connects to; None for files, synthetic sources and bad URLs.
    Never includes credentials."""
    try:
        parts = urlsplit(url or "")
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_STREAM_PORTS or not parts.hostname:
            return None
        return parts.hostname, parts.port or DEFAULT_STREAM_PORTS[scheme]
    except ValueError:
        return None


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and why, in words."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def slugify(text: str) -> str:
    """A camera id safe for file names, thread names and metric labels."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return (s or "camera")[:64]


class ThresholdTemplate(_Model):
    """Health thresholds shared by many cameras (the HLS packager monitor's "templates")."""

    display_name: str = Field(
        "", max_length=80, description="what the camera dialog and tiles call it; empty = words from the key"
    )
    min_fps: float = Field(5.0, ge=0, le=240, description="LIVE below this received fps is LOW_FPS")
    freeze_threshold_ms: int = Field(
        5000, ge=200, le=600_000, description="picture unchanged this long while packets arrive = FROZEN"
    )
    black_luma: float = Field(16.0, ge=0, le=255, description="mean luma (0-255) below which a frame is black")
    black_threshold_ms: int = Field(5000, ge=200, le=600_000, description="black this long = BLACK")
    min_bitrate_kbps: float = Field(0.0, ge=0, description="below this the bitrate is out of band (0 = off)")
    max_bitrate_kbps: float = Field(0.0, ge=0, description="above this the bitrate is out of band (0 = off)")
    loudness_target: float = Field(-23.0, ge=-70, le=0, description="audio level target, dBFS")
    loudness_tolerance: float = Field(10.0, ge=0, le=60, description="allowed distance from the target, dB")
    silence_dbfs: float = Field(-60.0, ge=-120, le=0, description="below this the audio is SILENT")
    silence_threshold_ms: int = Field(10_000, ge=200, le=600_000, description="silent this long = SILENT")
    freeze_pixel_delta: float = Field(
        6.0, ge=0, le=255, description="largest grey-level change (downscaled frame) still counted as unchanged"
    )
    timestamp_jump_s: float = Field(2.0, gt=0, le=3600, description="pts vs arrival clock gap = TIMESTAMP_JUMP")
    rate_hold_s: float = Field(5.0, ge=0, le=600, description="fps/bitrate out of band this long to report it")


# words of a template key that are written in capitals ("TPL_LIVE_4K_HDR" -> "Live 4K HDR")
_TEMPLATE_ACRONYMS = {"cctv", "hd", "hdr", "sd", "uhd", "fhd", "ptz", "ip", "tv", "hls", "rtsp", "rtmp", "anpr"}


def template_words(key: str, template: ThresholdTemplate | None = None) -> str:
    """The name an operator reads for a threshold template: its ``display_name``, else words made from the
    key (``TPL_`` prefix dropped, ``_``/``-`` as spaces, known abbreviations and words with digits in
    capitals, other words capitalised once): "TPL_LIVE_4K_HDR" -> "Live 4K HDR", "cctv" -> "CCTV". The
    key stays what the config stores; this is only shown."""
    if template is not None and template.display_name.strip():
        return template.display_name.strip()
    words = [w for w in re.split(r"[_\-\s]+", re.sub(r"^tpl[_\-]", "", key, flags=re.IGNORECASE)) if w]
    out = [w.upper() if w.lower() in _TEMPLATE_ACRONYMS or any(c.isdigit() for c in w) else w.lower() for w in words]
    text = " ".join(out) or key
    return text[:1].upper() + text[1:]


def default_templates() -> dict[str, ThresholdTemplate]:
    return {
        "default": ThresholdTemplate(),
        "cctv": ThresholdTemplate(min_fps=5.0, freeze_threshold_ms=10_000),
        "TPL_LIVE_HD": ThresholdTemplate(min_fps=20.0, freeze_threshold_ms=1000, loudness_tolerance=2.0),
        "TPL_LIVE_4K_HDR": ThresholdTemplate(min_fps=20.0, freeze_threshold_ms=1000, loudness_tolerance=2.0),
    }


class MotionSettings(_Model):
    enabled: bool = False
    sensitivity: float = Field(0.5, ge=0.0, le=1.0, description="0 = only big changes, 1 = every small change")
    min_area_percent: float = Field(0.5, ge=0.0, le=100.0, description="smallest moving area, % of frame")
    analysis_fps: float = Field(4.0, gt=0, le=30, description="frames analysed per second")
    masks: list[list[tuple[float, float]]] = Field(
        default_factory=list, description="polygons (normalised 0..1 coordinates) where motion is ignored"
    )
    zones: list[list[tuple[float, float]]] = Field(
        default_factory=list, description="polygons where motion counts; empty = whole frame"
    )
    classify: bool = Field(False, description="classify motion regions with the configured detector model")
    analysis_width: int = Field(320, ge=32, le=1920, description="width of the grey picture motion is computed on")
    start_frames: int = Field(2, ge=1, le=50, description="consecutive moving frames before motion starts")
    end_hold_s: float = Field(2.0, ge=0, le=600, description="no movement this long ends the motion event")
    show_boxes: bool = Field(False, description="draw the moving regions on the tile")
    classifier_model: str | None = Field(None, description="MobileNet-SSD model file (.caffemodel, .pb or .onnx)")
    classifier_config: str | None = Field(None, description="its config (.prototxt / .pbtxt), if the format needs one")
    classifier_confidence: float = Field(0.5, ge=0.0, le=1.0, description="smallest detection confidence kept")


class CameraRecordingSettings(_Model):
    mode: Literal["off", "continuous", "motion"] = "off"
    pre_roll_s: float = Field(5.0, ge=0, le=60)
    post_roll_s: float = Field(10.0, ge=0, le=600)
    stream: Literal["main", "sub"] = Field(
        "main", description="which stream is recorded when the camera has a sub-stream: evidence is the main one"
    )


_RESOLUTION_RE = re.compile(r"^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$")
_CODEC_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{1,39}$")


def _check_resolution(res: str, field: str) -> None:
    if not _RESOLUTION_RE.match(res):
        raise ValueError(f"{field}: {res!r} is not a resolution like '1280x720' (width x height in pixels, "
                         "as RESOLUTION in the master playlist)")  # fmt: skip


class CameraConfig(_Model):
    id: Annotated[str, Field(description="stable id: lowercase letters, digits, - and _")] = ""
    name: str = Field(..., min_length=1, max_length=120)
    group: str = Field("", max_length=120, description="site or group shown on the wall and in exports")
    url: str = Field(..., min_length=1, description="main stream URL")
    sub_url: str | None = Field(None, description="optional low-resolution stream for the wall tile")
    enabled: bool = True
    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport")
    template: str = Field("default", description="name of the threshold template")
    thresholds: dict[str, float] = Field(default_factory=dict, description="per-camera template overrides")
    expected_renditions: list[str] = Field(
        default_factory=list, description="HLS: expected ladder, e.g. ['1920x1080', '1280x720']"
    )
    expected_codecs: list[str] = Field(
        default_factory=list,
        description="HLS: codecs every rendition must declare in CODECS, e.g. ['avc1', 'mp4a'] ('avc1' matches "
        "'avc1.64001f'; a full 'avc1.64001f' must match exactly)",
    )
    expected_bandwidth_kbps: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="HLS: allowed BANDWIDTH (min, max kb/s) per resolution, e.g. {'1280x720': [2000, 4500]}",
    )
    motion: MotionSettings = Field(default_factory=MotionSettings)
    recording: CameraRecordingSettings = Field(default_factory=CameraRecordingSettings)
    probe_port: int | None = Field(
        None, ge=1, le=65535,
        description="TCP port the network probe connects to on the camera's host (e.g. its web page, 80); never "
        "a stream port. Unset: ICMP echo only. Reachability of the stream itself comes from the stream's own "
        "connection (one connection per camera stream)",
    )  # fmt: skip

    @field_validator("url", "sub_url")
    @classmethod
    def _check_url(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None if v == "" else v
        v = v.strip()
        scheme = v.split(":", 1)[0].lower() if ":" in v else ""
        if scheme not in SUPPORTED_SCHEMES:  # lavfi:/demo: stay accepted (tests, demo wall), never advertised
            raise ValueError(f"{mask_url(v)!r} is not a stream address Vigil can open: {URL_KINDS_WORDS}")
        return v

    @field_validator("expected_renditions")
    @classmethod
    def _check_renditions(cls, v: list[str]) -> list[str]:
        for res in v:
            _check_resolution(res, "expected_renditions")
        return v

    @field_validator("expected_codecs")
    @classmethod
    def _check_codecs(cls, v: list[str]) -> list[str]:
        out = []
        for c in v:
            c = c.strip()
            if not _CODEC_RE.match(c):
                raise ValueError(f"expected_codecs: {c!r} is not a codec name as HLS CODECS writes it "
                                 "(e.g. 'avc1', 'avc1.64001f', 'hvc1', 'mp4a.40.2', 'ec-3')")  # fmt: skip
            out.append(c)
        return out

    @field_validator("expected_bandwidth_kbps")
    @classmethod
    def _check_bandwidth(cls, v: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for res, (lo, hi) in v.items():
            _check_resolution(res, "expected_bandwidth_kbps")
            if lo < 0 or hi <= 0 or lo > hi:
                raise ValueError(f"expected_bandwidth_kbps[{res!r}]: [{lo:g}, {hi:g}] must be [min, max] kb/s "
                                 "with 0 <= min <= max and max > 0")  # fmt: skip
        return v

    @model_validator(mode="after")
    def _probe_port_is_not_a_stream_port(self) -> CameraConfig:
        for field, url in (("url", self.url), ("sub_url", self.sub_url)):
            ep = stream_endpoint(url)
            if self.probe_port is not None and ep is not None and ep[1] == self.probe_port:
                raise ValueError(
                    f"probe_port {self.probe_port} is the stream port of {field} {mask_url(url)!r}: the network "
                    "probe never opens a second connection to a stream (a camera that serves one client would "
                    "turn the stream away); name another port of the camera (e.g. 80) or leave it unset (ICMP)"
                )
        return self

    @model_validator(mode="after")
    def _default_id(self) -> CameraConfig:
        if not self.id:
            object.__setattr__(self, "id", slugify(self.name))
        elif not _ID_RE.match(self.id):
            raise ValueError(f"camera id {self.id!r} must be lowercase letters, digits, '-' or '_' (max 64)")
        return self

    @property
    def tile_url(self) -> str:
        return self.sub_url or self.url


class WallPage(_Model):
    name: str = "Page 1"
    camera_ids: list[str] = Field(default_factory=list, description="tile order; '' = empty tile")


def _known_layout(v: str) -> str:
    if v not in LAYOUTS:
        raise ValueError(unknown_layout_words(v))
    return v


class ViewConfig(_Model):
    """A named view shared by every workstation that uses this config (private ones: ``app/views.py``)."""

    id: str = Field(..., min_length=1, max_length=64, description="stable id (views are renamed; ids are not)")
    name: str = Field(..., min_length=1, max_length=80, description="what the Views menu shows")
    layout: str = Field("2x2", description="a layout key of app/layouts.py (e.g. '1+5')")
    camera_ids: list[str] = Field(default_factory=list, max_length=256, description="camera per tile; '' = empty")

    _check_layout = field_validator("layout")(_known_layout)


class WallConfig(_Model):
    layout: str = Field("3x3", description="the all-cameras wall's layout, a key of app/layouts.py")
    pages: list[WallPage] = Field(default_factory=list, description="saved arrangement; empty = config order")
    views: list[ViewConfig] = Field(
        default_factory=list, max_length=500, description="named views every workstation of this config sees"
    )
    tour_seconds: float = Field(
        0.0, ge=0, le=3600, description="cycle the views (pages when there is no view) every N s (0 = off)"
    )
    confirm_close: bool = Field(True, description="closing the window asks first (a 24/7 wall must not vanish)")
    kiosk: bool = Field(False, description="the window cannot be closed from the desktop (stop Vigil from the OS)")
    tour_follows_alarms: bool = Field(
        True, description="a new unacknowledged CRITICAL alarm turns the tour to its camera's page and holds it there"
    )
    show_overlay: bool = True
    paint_fps: float = Field(30.0, ge=1, le=60, description="wall repaint timer rate")
    ui_scale: int = Field(
        0, ge=0, le=300,
        description="interface size in percent (menus, docks, dialogs, status bar), 100-300; 0 = automatic from "
        "the screen (its dpi, or its height for a 4K screen at 96 dpi: 2160 lines = 200 %)",
    )  # fmt: skip
    diagnostics: bool = Field(
        False, description="the status bar also shows the wall's paint rate and Vigil's CPU and memory use"
    )
    replay_buffer_s: float = Field(
        60.0, ge=0, le=300,
        description="instant replay: seconds of each camera's tile stream kept in memory (0 = off; applies to "
        "cameras started after the change)",
    )  # fmt: skip
    replay_max_mb: float = Field(
        24.0, ge=1, le=512, description="instant replay: at most this many MiB of pictures kept per camera"
    )

    _check_layout = field_validator("layout")(_known_layout)

    @field_validator("ui_scale")
    @classmethod
    def _ui_scale_percent(cls, v: int) -> int:
        if v != 0 and v < 100:
            raise ValueError(f"interface size {v} %: use 100 to 300 %, or 0 for automatic")
        return v

    @field_validator("views")
    @classmethod
    def _unique_view_ids(cls, v: list[ViewConfig]) -> list[ViewConfig]:
        seen: set[str] = set()
        for view in v:
            if view.id in seen:
                raise ValueError(f"two views have the id {view.id!r}: every view needs its own")
            seen.add(view.id)
        return v


class PipelineSettings(_Model):
    open_timeout_s: float = Field(8.0, gt=0, le=120, description="give up connecting after this long")
    read_timeout_s: float = Field(8.0, gt=0, le=120, description="no data this long = connection lost")
    stall_after_s: float = Field(3.0, gt=0, le=120, description="connected but no frames this long = STALLED")
    backoff_initial_s: float = Field(0.5, gt=0, le=60)
    backoff_cap_s: float = Field(30.0, gt=0, le=3600, description="longest wait between reconnect attempts")
    decode_threads: int = Field(1, ge=0, le=16, description="FFmpeg decoder threads per wall tile (0 = auto)")
    main_decode_threads: int = Field(
        0, ge=0, le=16, description="FFmpeg decoder threads for the focused main stream (0 = one per core)"
    )
    worker_nice: int = Field(
        10, ge=0, le=19, description="pipeline threads run this much nicer than the GUI thread (Linux; 0 = off)"
    )
    low_latency: bool = Field(True, description="small probe size, no input buffering")


class MetricsSettings(_Model):
    enabled: bool = True
    host: str = Field("127.0.0.1", description="bind address of the Prometheus endpoint")
    port: int = Field(9898, ge=0, le=65535, description="0 = pick a free port")
    file_path: str | None = Field(None, description="also write the exposition to this file (textfile collector)")
    file_interval_s: float = Field(15.0, gt=0, le=3600)
    file_group_readable: bool = Field(
        False,
        description="textfile mode 0640 instead of 0600: for a node_exporter that runs as another user of the "
        "file's group (the folder's group, with the setgid bit on the folder)",
    )


class AnalyticsServerSettings(_Model):
    base_url: str = Field(..., description="the video-analytics server's stream API, e.g. http://analytics.local:4004")
    name: str = ""
    cafile: str | None = Field(
        None,
        description="CA bundle (PEM) to trust for an https:// server with a private or self-signed certificate",
    )

    @field_validator("cafile")
    @classmethod
    def _check_cafile(cls, v: str | None) -> str | None:
        if not v:
            return None
        path = Path(v).expanduser()
        if not path.is_file():
            raise ValueError(f"cafile {v!r}: no such file")
        import ssl

        try:
            ssl.create_default_context(cafile=str(path))
        except (ssl.SSLError, OSError) as e:
            raise ValueError(f"cafile {v!r}: not a readable PEM certificate bundle ({e.strerror or e})") from None
        return str(path)


class JsonDeviceSettings(_Model):
    name: str = Field(..., min_length=1)
    url: str
    preset: Literal["custom", "web_presenter", "storage_node"] = "custom"
    fields: dict[str, str] = Field(default_factory=dict, description="metric name -> dotted JSON path")
    interval_s: float = Field(10.0, gt=0, le=3600)


class ProbesSettings(_Model):
    workers: int = Field(8, ge=1, le=128, description="bounded pool for all background probes")
    analytics_servers: list[AnalyticsServerSettings] = Field(default_factory=list)
    analytics_interval_s: float = Field(60.0, gt=0, le=3600)
    analytics_parallelism: int = Field(16, ge=1, le=256)
    analytics_max_streams: int = Field(
        1000, ge=1, le=50_000, description="streams checked per analytics server and cycle; the rest are counted"
    )
    http_timeout_s: float = Field(10.0, gt=0, le=120)
    json_devices: list[JsonDeviceSettings] = Field(default_factory=list)
    hls_interval_s: float = Field(10.0, gt=0, le=3600)
    network_interval_s: float = Field(10.0, gt=0, le=3600)
    network_enabled: bool = Field(
        True, description="probe each network camera's host: ICMP echo and its probe_port, never a stream port"
    )
    network_attempts: int = Field(
        3, ge=1, le=20, description="TCP connects to probe_port per cycle (loss = failed share)"
    )
    network_icmp: bool = Field(True, description="ICMP echo to the camera's host when the OS permits it without root")
    hls_download_segments: bool = Field(True, description="download the newest segment of each rendition")
    hls_duration_tolerance: float = Field(0.1, ge=0, le=1, description="EXTINF vs target duration, fraction")


class StoreSettings(_Model):
    url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite in the platform data directory")
    sample_interval_s: float = Field(5.0, gt=0, le=3600, description="health sample rate per camera")
    raw_retention_h: float = Field(24.0, gt=0)
    minute_retention_days: float = Field(30.0, gt=0)
    hour_retention_days: float = Field(365.0, gt=0)
    busy_timeout_ms: int = Field(5000, ge=0, le=600_000, description="SQLite: wait this long for a lock")
    queue_max: int = Field(200_000, ge=100, le=10_000_000, description="records held while the database is busy")
    batch_max: int = Field(2000, ge=1, le=100_000, description="records per write transaction")
    rollup_interval_s: float = Field(60.0, gt=0, le=3600, description="how often roll-ups and retention run")


class RecordingSettings(_Model):
    root: str | None = Field(None, description="recordings folder; default: platform data directory")
    segment_seconds: float = Field(10.0, ge=1, le=3600)
    max_age_days: float = Field(30.0, gt=0)
    min_free_gb: float = Field(5.0, ge=0, description="keep at least this much free on the disk")
    max_total_gb: float = Field(0.0, ge=0, description="cap on recordings (0 = no cap)")
    reserve_mb: float = Field(
        500.0, ge=0, description="recording stops (with an alert) when less than this is free on the disk"
    )
    cleanup_interval_s: float = Field(60.0, gt=0, le=86_400, description="how often retention runs")


class AlertSettings(_Model):
    debounce_s: float = Field(30.0, ge=0, le=3600, description="condition must hold this long before alerting")
    clear_s: float = Field(10.0, ge=0, le=3600, description="condition must be clear this long to resolve")
    webhook_urls: list[str] = Field(default_factory=list, description="Alertmanager-compatible receivers")
    sound: bool = True
    eval_interval_s: float = Field(1.0, gt=0, le=60, description="how often alert rules are evaluated")
    disk_min_free_gb: float = Field(2.0, ge=0, description="alert when the data disk has less free (0 = off)")
    webhook_timeout_s: float = Field(5.0, gt=0, le=120)  # one whole POST, connect to last byte (enforced while blocked)
    webhook_max_attempts: int = Field(8, ge=1, le=1000, description="give up on one notification after this")
    webhook_resend_s: float = Field(
        60.0,
        ge=1,
        le=600,
        description="re-send every firing alert this often: well under the receiver's resolve_timeout "
        "(Alertmanager's default is 5 min), or it resolves an alert that is still firing",
    )
    restart_settle_s: float = Field(
        60.0,
        ge=0,
        le=3600,
        description="after a start, an alarm still firing when Vigil stopped is not cleared before its inputs "
        "had this long to report again (cameras connecting, picture analysis, the probes' first run)",
    )
    rules: dict[str, dict[str, str | float]] = Field(
        default_factory=dict, description="per-rule overrides, e.g. {'CameraOffline': {'severity': 'MAJOR'}}"
    )


class AppConfig(_Model):
    schema_version: int = SCHEMA_VERSION
    cameras: list[CameraConfig] = Field(default_factory=list)
    wall: WallConfig = Field(default_factory=WallConfig)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    templates: dict[str, ThresholdTemplate] = Field(default_factory=default_templates)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    probes: ProbesSettings = Field(default_factory=ProbesSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @model_validator(mode="after")
    def _unique_ids(self) -> AppConfig:
        seen: set[str] = set()
        for cam in self.cameras:
            if cam.id in seen:
                raise ValueError(f"two cameras have the id {cam.id!r}; give one of them another id")
            seen.add(cam.id)
        for cam in self.cameras:
            if cam.template not in self.templates:
                raise ValueError(f"camera {cam.id!r} uses template {cam.template!r}, which is not defined")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)

    def thresholds_for(self, cam: CameraConfig) -> ThresholdTemplate:
        base = self.templates.get(cam.template, ThresholdTemplate())
        return base.model_copy(update=cam.thresholds) if cam.thresholds else base


# ---------------------------------------------------------------- migration, load, save


def _migrate(data: dict) -> dict:
    """Bring an older file up to SCHEMA_VERSION. Each step is a pure dict -> dict function."""
    version = data.get("schema_version", 0)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise ConfigError(
            f"config schema_version {version!r} is newer than this Vigil understands ({SCHEMA_VERSION}); "
            "upgrade Vigil or restore an older config"
        )
    if version == 0:
        # Version 0 (pre-release) used "streams" for cameras and "uri" for the URL.
        if "streams" in data and "cameras" not in data:
            data["cameras"] = data.pop("streams")
        for cam in data.get("cameras", []):
            if isinstance(cam, dict) and "uri" in cam and "url" not in cam:
                cam["url"] = cam.pop("uri")
        data["schema_version"] = 1
    return data


def _format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {msg}")
    return "\n".join(lines)


def parse_config(data: object, source: str = "config") -> AppConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a JSON object at the top level")
    try:
        return AppConfig.model_validate(_migrate(dict(data)))
    except ValidationError as e:
        raise ConfigError(f"{source} is not valid:\n{_format_validation_error(e)}") from None


_UTF8_BOM = b"\xef\xbb\xbf"
_OTHER_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"), (b"\xff\xfe", "UTF-16"),
               (b"\xfe\xff", "UTF-16"))  # fmt: skip


def decode_config_text(raw: bytes, path: Path | str) -> str:
    """The text of a config file: UTF-8 (RFC 8259 section 8.1), a leading UTF-8 byte order mark ignored (as
    Windows Notepad writes one, and RFC 8259 allows a parser to). Anything else raises ConfigError naming
    the file, the byte offset (from the start of the file) and its line and column."""
    for bom, name in _OTHER_BOMS:
        if raw.startswith(bom):
            raise ConfigError(f"{path} is {name} text (it starts with a {name} byte order mark): save it as UTF-8")
    skip = len(_UTF8_BOM) if raw.startswith(_UTF8_BOM) else 0
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = skip + e.start
        line = raw.count(b"\n", 0, at) + 1
        column = at - (raw.rfind(b"\n", 0, at) + 1) + 1
        raise ConfigError(
            f"{path} is not UTF-8 text: byte 0x{raw[at]:02x} at offset {at} (line {line}, column {column}) "
            f"cannot be read ({e.reason}); save the file as UTF-8"
        ) from None


def parse_config_json(text: str, path: Path | str) -> object:
    """The JSON value of a config text, or ConfigError with the line and column of the first error."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except RecursionError:
        raise ConfigError(f"{path} is not a Vigil config: its JSON is nested too deeply") from None
    except ValueError:  # an integer of more than 4300 digits (sys.get_int_max_str_digits)
        raise ConfigError(f"{path} is not a Vigil config: it holds a number thousands of digits long") from None


def load_config(path: Path, keystore: Keystore | None = None) -> AppConfig:
    """Load and validate *path*. Raises ConfigError with a message for a person. Secret references are
    resolved from *keystore* (default: the config's own, app.keystore); plain-text passwords found in the file
    are moved there and the file is written back without them."""
    try:
        text = decode_config_text(path.read_bytes(), path)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror}") from None
    data = parse_config_json(text, path)
    return _with_secrets(parse_config(data, str(path)), path, keystore)


def _with_secrets(config: AppConfig, path: Path, keystore: Keystore | None) -> AppConfig:
    """*config* as read from *path* with its secret references resolved (the in-memory config holds full
    URLs: the pipelines, probes and sinks use them as before); a config that still had passwords in plain
    text is written back without them (once, at start-up)."""
    data = config.model_dump(mode="json")
    ks = keystore or Keystore.for_config(path)
    scan = resolve_secrets(data, ks)
    for where, key in scan.missing:
        what = MISSING_WORDS if where.startswith("camera ") else "its password is missing from the keyring"
        log.warning("%s: %s (key %r, %s): enter it again (Cameras, Edit)", where, what, key, ks.where or "keystore")
    if not (scan.references or scan.plaintext_camera or scan.plaintext_other):
        return config
    config = parse_config(data, str(path))
    plain = scan.plaintext_camera or scan.plaintext_other
    if plain or scan.outdated:  # outdated: index keys of an older Vigil, re-keyed by destination (keystore)
        other = f" and {scan.plaintext_other} other secrets" if scan.plaintext_other else ""
        try:
            save_config(config, path, ks)
        except OSError as e:
            if plain:
                log.error("camera passwords stay in plain text in %s until it can be written: %s", path, e)
            else:
                log.warning("secrets of %s keep their old keys until it can be written: %s", path, e)
        else:
            if plain:
                log.info("moved %d camera passwords%s from %s to %s", scan.plaintext_camera, other, path, ks.where)
            if scan.outdated:
                log.info("secrets: %d secrets of %s re-keyed by where they are sent", scan.outdated, path)
    return config


def save_config(config: AppConfig, path: Path, keystore: Keystore | None = None) -> None:
    """Write atomically: a temp file in the same folder, fsync, rename. A crash leaves old or new, never half.

    No secret reaches the file: every password in a URL is stored in *keystore* first (default: the config's
    own, app.keystore) and the file gets a reference ``${secret:KEY}``; keys the old file referenced and
    the new one does not are deleted after the rename. Raises OSError (SecretStoreError included)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # a new config folder is private
    data = config.model_dump(mode="json")
    to_store, referenced = strip_secrets(data)
    ks = keystore or Keystore.for_config(path)
    try:
        old_refs = references_in(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        old_refs = set()
    ks.put(to_store)  # first: a crash after it leaves the old file, whose references still resolve
    text = json.dumps(data, indent=2, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if stale := old_refs - referenced:
        try:
            ks.delete(stale)
        except SecretStoreError as e:
            log.warning("%d secrets no longer used stay in %s: %s", len(stale), ks.where, e)
    log.info("config saved to %s (%d cameras)", path, len(config.cameras))

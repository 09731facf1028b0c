"""Stream states, reasons in words, and the frozen health snapshot every consumer reads.

The snapshot is the one contract between the pipelines (writers, on their own threads) and everything
that shows or exports health (wall overlay, metrics, store, alerts). It is immutable, so handing it
across threads needs no lock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class StreamState(enum.StrEnum):
    """What an operator sees on the tile's badge."""

    IDLE = "IDLE"  # created, not started (or disabled)
    CONNECTING = "CONNECTING"  # opening the source / waiting for the first frame
    LIVE = "LIVE"  # frames arriving and decoding
    STALLED = "STALLED"  # connected, but no frame for stall_after_s
    OFFLINE = "OFFLINE"  # cannot connect (reason in words); retrying with backoff
    ERROR = "ERROR"  # connected but unusable (e.g. unsupported codec); retrying slowly

    @property
    def is_down(self) -> bool:
        return self in (StreamState.STALLED, StreamState.OFFLINE, StreamState.ERROR)


class Condition(enum.StrEnum):
    """Picture/stream conditions that can hold while LIVE (filled by the health analysers)."""

    FROZEN = "FROZEN"
    BLACK = "BLACK"
    LOW_FPS = "LOW_FPS"
    BITRATE_LOW = "BITRATE_LOW"
    BITRATE_HIGH = "BITRATE_HIGH"
    TIMESTAMP_JUMP = "TIMESTAMP_JUMP"
    SILENT = "SILENT"
    LOUDNESS = "LOUDNESS"
    NETWORK_DOWN = "NETWORK_DOWN"


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """Everything known about one camera stream at one instant. Wall-clock times are UNIX seconds."""

    camera_id: str
    name: str
    group: str = ""
    url: str = ""  # masked: never carries a password
    variant: str = "tile"  # "tile" (sub-stream or main) or "main" (focused view)
    state: StreamState = StreamState.IDLE
    state_since: float = 0.0
    reason: str = ""  # words for the current state, e.g. "connection refused"
    last_error: str = ""
    last_error_at: float = 0.0
    # stream description
    codec: str = ""
    width: int = 0
    height: int = 0
    audio_codec: str = ""
    # rates over the last few seconds
    fps_received: float = 0.0
    fps_decoded: float = 0.0
    bitrate_bps: float = 0.0
    keyframe_interval_s: float = 0.0
    latency_ms: float = 0.0  # packet arrival -> frame ready for display
    # counters since the pipeline started (monotonic, exported as *_total)
    packets_received_total: int = 0
    bytes_received_total: int = 0
    frames_decoded_total: int = 0
    frames_dropped_total: int = 0
    reconnects_total: int = 0
    stalls_total: int = 0
    decode_errors_total: int = 0
    time_to_first_frame_s: float | None = None
    keyframes_only: bool = False
    # filled by analysers (picture health, audio, network)
    conditions: tuple[str, ...] = ()
    audio_level_dbfs: float | None = None
    mean_luma: float | None = None
    extra: dict[str, float | str] = field(default_factory=dict)

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else ""

    @property
    def is_live(self) -> bool:
        return self.state is StreamState.LIVE


def describe_bitrate(bps: float) -> str:
    if bps >= 1e6:
        return f"{bps / 1e6:.1f} Mb/s"
    if bps >= 1e3:
        return f"{bps / 1e3:.0f} kb/s"
    return f"{bps:.0f} b/s"

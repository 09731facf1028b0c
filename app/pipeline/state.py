"""Stream states, reasons in words, and the frozen health snapshot every consumer reads.

The snapshot is the one contract between the pipelines (writers, on their own threads) and everything
that shows or exports health (wall overlay, metrics, store, alerts). It is immutable, so handing it
across threads needs no lock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace


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
        """The state itself says "no pictures". A CONNECTING that is a reconnect is down too, but only the
        snapshot knows that: use :attr:`HealthSnapshot.is_down` to decide what a tile shows."""
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
    # the current outage: from the first lost picture until the next new picture ("down means down")
    down_since: float | None = None  # last good picture (or first failure if there never was one); None = up
    reconnect_attempt: int = 0  # attempt in progress, or the next one while waiting (0 = no outage retry yet)
    next_attempt_at: float | None = None  # when the next connect attempt starts, while waiting in backoff
    # the last outage that ended (kept until the next one ends)
    recovered_at: float | None = None  # the first new picture after it
    last_outage_s: float = 0.0  # how long it lasted: down_since -> recovered_at
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

    @property
    def is_down(self) -> bool:
        """No fresh pictures because something failed: STALLED, OFFLINE, ERROR, and CONNECTING when it is a
        reconnect after a loss (the very first connect, and a file looping to its start, are not down).
        What a tile greys and stamps; ``down_since`` says since when."""
        return self.state.is_down or (self.state is StreamState.CONNECTING and self.down_since is not None)


def transition(
    snap: HealthSnapshot,
    new: StreamState,
    reason: str,
    now: float,
    *,
    last_picture_at: float | None,
    next_in_s: float | None = None,
    back_at: float | None = None,
) -> HealthSnapshot:
    """The snapshot after a state change at UNIX time *now*, with the outage facts kept with it. Pure.

    "Down means down": an outage runs from the last good picture (*last_picture_at*, or *now* if there
    never was one) to the next new picture. The first down state of an outage sets ``down_since``; no
    retry moves it. Going LIVE with an outage open sets ``recovered_at`` (*back_at*, the first picture
    back, else *now*) and ``last_outage_s``, and clears it.
    *next_in_s*: the pipeline waits this long before its next connect attempt (``next_attempt_at``);
    during an outage that attempt is the outage's next ``reconnect_attempt``. A CONNECTING without it is
    an attempt beginning. The same state with the same reason and no wait changes nothing (same object).
    """
    old = snap.state
    if old is new and snap.reason == reason and next_in_s is None:
        return snap
    fields: dict = {"state": new, "reason": reason}
    if old is not new:
        fields["state_since"] = now
    down_since = snap.down_since
    if new.is_down:
        fields["last_error"] = reason
        fields["last_error_at"] = now
        if down_since is None:
            down_since = fields["down_since"] = now if last_picture_at is None else min(now, last_picture_at)
    elif new is StreamState.LIVE and down_since is not None:
        back = now if back_at is None else back_at
        fields.update(down_since=None, reconnect_attempt=0, next_attempt_at=None, recovered_at=back,
                      last_outage_s=round(max(0.0, back - down_since), 3))  # fmt: skip
    if next_in_s is not None:
        fields["next_attempt_at"] = now + next_in_s
        if down_since is not None:
            fields["reconnect_attempt"] = snap.reconnect_attempt + 1
    elif new is StreamState.CONNECTING:
        fields["next_attempt_at"] = None  # the attempt has begun
    return replace(snap, **fields)


def describe_bitrate(bps: float) -> str:
    if bps >= 1e6:
        return f"{bps / 1e6:.1f} Mb/s"
    if bps >= 1e3:
        return f"{bps / 1e3:.0f} kb/s"
    return f"{bps:.0f} b/s"

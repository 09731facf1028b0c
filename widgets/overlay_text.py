"""What a tile's health overlay says, as plain data computed from a HealthSnapshot (no Qt).

Kept apart from the painting so tests can check the words, and so the rule "a down camera never
looks live" lives in one place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from app.pipeline.state import HealthSnapshot, StreamState, describe_bitrate

# badge colours (RGB hex), chosen to be told apart at a distance on a dark wall
STATE_COLORS = {
    StreamState.LIVE: "#1fa64a",
    StreamState.CONNECTING: "#2f74d0",
    StreamState.STALLED: "#e0a100",
    StreamState.OFFLINE: "#d32f2f",
    StreamState.ERROR: "#c2189b",
    StreamState.IDLE: "#6b7280",
}
CONDITION_COLOR = "#f0a020"


@dataclass(frozen=True)
class OverlayText:
    title: str  # "Lobby · HQ"
    state: str  # "LIVE"
    color: str  # badge colour
    details: str  # "15.0 fps · 820 kb/s · 640x360 · H.264 · 45 ms"
    conditions: tuple[str, ...]
    down: bool  # grey the picture and stamp it
    stamp: str  # "OFFLINE since 14:03:12"
    reason: str  # "connection refused: nothing listening at that address"
    keyframes_only: bool


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "--:--:--"


def status_overlay(snap: HealthSnapshot, title: str) -> OverlayText:
    """A status tile (stream known only from the analytics API): no picture, so the stamp carries the
    API's own state word and the reason its ``last_error_msg``. ``state_since`` is when the API was
    asked (the API does not say since when a stream is in its state), hence "checked", not "since"."""
    st = snap.state
    api_state = str(snap.extra.get("state_text") or st.value)
    parts: list[str] = []
    if snap.fps_received:
        parts.append(f"{snap.fps_received:.1f} fps")
    if snap.resolution:
        parts.append(snap.resolution)
    parts.append(f"API checked {clock(snap.state_since)}")
    details = " · ".join(parts)
    down = st.is_down
    reason = snap.reason
    if down:  # a down tile shows no bottom line: the figures go under the reason
        reason = f"{reason} · {details}" if reason else details
    return OverlayText(
        title=title,
        state=st.value,
        color=STATE_COLORS.get(st, STATE_COLORS[StreamState.IDLE]),
        details="" if down else details,
        conditions=tuple(snap.conditions) if st is StreamState.LIVE else (),
        down=down,
        stamp=f"API: {api_state}",
        reason=reason,
        keyframes_only=False,
    )


def overlay_text(snap: HealthSnapshot | None, name: str = "", group: str = "") -> OverlayText:
    if snap is None:
        title = f"{name} · {group}" if group else name
        return OverlayText(title, "IDLE", STATE_COLORS[StreamState.IDLE], "", (), False, "", "", False)
    name = snap.name or name
    group = snap.group or group
    title = f"{name} · {group}" if group else name
    if snap.extra.get("source") == "analytics_api":
        return status_overlay(snap, title)
    st = snap.state
    parts: list[str] = []
    if st is StreamState.LIVE:
        parts.append(f"{snap.fps_received:.1f} fps")
        if snap.bitrate_bps:
            parts.append(describe_bitrate(snap.bitrate_bps))
        if snap.resolution:
            parts.append(snap.resolution)
        if snap.codec:
            parts.append(snap.codec)
        if snap.latency_ms:
            parts.append(f"{snap.latency_ms:.0f} ms")
    down = st.is_down
    stamp = f"{st.value} since {clock(snap.state_since)}" if down else ""
    if st is StreamState.IDLE and snap.reason == "disabled":
        stamp, down = "DISABLED", True
    reason = snap.reason if (down or st is StreamState.CONNECTING) else ""
    if stamp == "DISABLED":
        reason = "switched off in the camera list"
    if st is StreamState.LIVE and snap.last_error and snap.last_error_at and time.time() - snap.last_error_at < 300:
        reason = f"recovered at {clock(snap.state_since)} (was: {snap.last_error})"
    return OverlayText(
        title=title,
        state=st.value,
        color=STATE_COLORS.get(st, STATE_COLORS[StreamState.IDLE]),
        details=" · ".join(parts),
        conditions=tuple(snap.conditions) if st is StreamState.LIVE else (),
        down=down,
        stamp=stamp,
        reason=reason,
        keyframes_only=snap.keyframes_only,
    )

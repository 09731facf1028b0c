"""What a tile's health overlay says, as plain data computed from a HealthSnapshot (no Qt).

Kept apart from the painting so tests can check the words, and so the rule "a down camera never
looks live" lives in one place.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

from app.pipeline.state import HealthSnapshot, StreamState
from app.textsafe import one_line

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
# a down tile's stamp is text on a dark band, read from across the room: lighter than the badge colours
# (white-on-colour badges), about 7:1 against black where the badges' red is 4:1
STAMP_COLORS = {
    StreamState.STALLED: "#ffc233",
    StreamState.OFFLINE: "#ff5a5a",
    StreamState.ERROR: "#ff4fd8",
}
RECOVERED_COLOR = "#5ee08a"  # the "recovered at" line: a lighter green than the LIVE badge, legible on dark
RECOVERED_NOTICE_S = 60.0  # a tile says "recovered at … (down …)" this long after pictures came back


@dataclass(frozen=True)
class OverlayText:
    title: str  # "Lobby · HQ"
    state: str  # "LIVE" (the badge); "" = no badge (a DISABLED camera says it once, on its stamp)
    color: str  # badge colour
    details: str  # "15 fps · 820 kbit/s · 640x360 · H.264 · delay 45 ms"
    conditions: tuple[str, ...]
    down: bool  # grey the picture and stamp it (``HealthSnapshot.is_down``, or disabled)
    stamp: str  # "OFFLINE since 14:03:12": since the last picture, whatever the retries
    reason: str  # "connection refused: nothing listening at that address"; LIVE: "recovered at …" or ""
    keyframes_only: bool
    activity: str = ""  # what Vigil is doing about a down camera: "reconnecting: attempt 4 in 8 s"
    stamp_color: str = ""  # a down stamp's text colour (STAMP_COLORS; "" = the badge colour)


OVERLAY_TEXT_MAX = 300  # characters of one overlay line (the painter elides to the tile's width anyway)


def _one_line(o: OverlayText) -> OverlayText:
    """Every text of *o* as one bounded line: a camera name, a device's error message or an API's state word
    may hold newlines or terminal escapes, and a tile line must not become two (app.textsafe)."""
    return replace(o, **{f: one_line(getattr(o, f), OVERLAY_TEXT_MAX)
                         for f in ("title", "state", "details", "stamp", "reason", "activity")})  # fmt: skip


# codec names an operator would not read as a picture format ("raw" is FFmpeg's wrapped, undecoded frames)
CODEC_WORDS = {"raw": "uncompressed", "rawvideo": "uncompressed", "wrapped_avframe": "uncompressed"}


def bitrate_words(bps: float) -> str:
    """ "806 kbit/s", "1.2 Mbit/s", "12 Mbit/s": the unit an operator reads on an encoder's web page (SI
    kilo/mega, bits, as IEC 80000-13 writes them), not "kb/s" (read as kilobytes) nor "Mb/s"."""
    if bps >= 10e6:
        return f"{bps / 1e6:.0f} Mbit/s"
    if bps >= 1e6:
        return f"{bps / 1e6:.1f} Mbit/s"
    if bps >= 1e3:
        return f"{bps / 1e3:.0f} kbit/s"
    return f"{bps:.0f} bit/s"


def fps_words(fps: float) -> str:
    """ "15 fps", "12.5 fps": a whole rate without the ".0" a glance has to skip."""
    return f"{fps:.0f} fps" if abs(fps - round(fps)) < 0.05 else f"{fps:.1f} fps"


def delay_words(ms: float) -> str:
    """ "45 ms"; "under 1 ms" rather than a "0 ms" that reads as "no figure"."""
    return f"{ms:.0f} ms" if ms >= 0.5 else "under 1 ms"


def codec_words(codec: str) -> str:
    return CODEC_WORDS.get(codec.lower(), codec) if codec else ""


def tooltip_lines(snap: HealthSnapshot | None, template: str = "") -> list[str]:
    """What the tile's tooltip says: each figure of the bottom line in words, then the reason, then the
    health rules the camera is held to (*template*, its display name). The name is already on the tile,
    so it is not repeated. Plain text lines (a camera name or a device's message is never HTML)."""
    lines: list[str] = []
    if snap is None:
        return [f"Health rules: {template}"] if template else []
    st = snap.state
    if snap.extra.get("source") == "analytics_api":
        lines.append(f"Known from the analytics server only: it says {snap.extra.get('state_text') or st.value}")
    if st is StreamState.LIVE:
        lines.append(f"{fps_words(snap.fps_received).removesuffix(' fps')} frames per second received")
        if snap.bitrate_bps:
            lines.append(f"Bitrate {bitrate_words(snap.bitrate_bps)}")
        picture = " ".join(x for x in (snap.resolution, codec_words(snap.codec)) if x)
        if picture:
            lines.append(f"Picture {picture}")
        if snap.latency_ms:
            lines.append(f"Delay {delay_words(snap.latency_ms)} from a picture arriving to it being ready on screen")
        if snap.keyframes_only:
            lines.append("K: only key pictures are shown, to spare the computer")
    reason = "switched off in the camera list" if st is StreamState.IDLE and snap.reason == "disabled" else snap.reason
    if reason:
        lines.append(reason[:1].upper() + reason[1:])
    if snap.last_error and snap.last_error != snap.reason and snap.is_down:
        lines.append(f"Last error: {snap.last_error}")
    if template:
        lines.append(f"Health rules: {template}")
    return [one_line(x, OVERLAY_TEXT_MAX) for x in lines]


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts else "--:--:--"


def duration(seconds: float) -> str:
    """ "45 s", "3 min 12 s", "2 h 5 min": how long an outage lasted, in words read at a glance."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {s % 3600 // 60} min" if s % 3600 // 60 else f"{s // 3600} h"


def down_words(snap: HealthSnapshot, now: float) -> tuple[str, str, str, str]:
    """(stamp, stamp colour, activity, reason) of a down camera (``snap.is_down``).

    The stamp's time is when the pictures stopped (``down_since``): it stays put through every retry.
    A reconnect (CONNECTING after a loss) is stamped OFFLINE (there is no picture; the badge says that
    Vigil is connecting) and its reason is the failure that took the camera down, not "reconnecting".
    """
    st = snap.state
    word = StreamState.OFFLINE if st is StreamState.CONNECTING else st
    since = snap.down_since if snap.down_since is not None else snap.state_since
    stamp = f"{word.value} since {clock(since)}"
    n = snap.reconnect_attempt
    if st is StreamState.CONNECTING:
        activity = f"reconnecting: attempt {n} now" if n else "reconnecting now"
        reason = snap.last_error or snap.reason
    else:
        reason = snap.reason
        if snap.next_attempt_at is not None:
            wait = max(0, math.ceil(snap.next_attempt_at - now))
            when = f"in {wait} s" if wait else "now"
            activity = f"reconnecting: attempt {n} {when}" if n else f"reconnecting {when}"
        elif st is StreamState.STALLED:
            activity = "still connected: waiting for pictures"
        else:
            activity = ""
    return stamp, STAMP_COLORS[word], activity, reason


def recovered_words(snap: HealthSnapshot, now: float) -> str:
    """ "recovered at 14:05:10 (down 3 min 12 s)" for RECOVERED_NOTICE_S after pictures came back."""
    at = snap.recovered_at
    if snap.state is not StreamState.LIVE or at is None or not 0 <= now - at < RECOVERED_NOTICE_S:
        return ""
    return f"recovered at {clock(at)} (down {duration(snap.last_outage_s)})"


def status_overlay(snap: HealthSnapshot, title: str) -> OverlayText:
    """A status tile (stream known only from the analytics API): no picture, so the stamp carries the
    API's own state word and the reason its ``last_error_msg``. ``state_since`` is when the API was
    asked (the API does not say since when a stream is in its state), hence "checked", not "since"."""
    st = snap.state
    api_state = str(snap.extra.get("state_text") or st.value)
    parts: list[str] = []
    if snap.fps_received:
        parts.append(fps_words(snap.fps_received))
    if snap.resolution:
        parts.append(snap.resolution)
    parts.append(f"API checked {clock(snap.state_since)}")
    details = " · ".join(parts)
    down = snap.is_down
    reason = snap.reason
    if down:  # a down tile shows no bottom line: the figures go under the reason
        reason = f"{reason} · {details}" if reason else details
    return _one_line(
        OverlayText(
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
    )


def overlay_text(snap: HealthSnapshot | None, name: str = "", group: str = "") -> OverlayText:
    if snap is None:
        title = f"{name} · {group}" if group else name
        return _one_line(OverlayText(title, "IDLE", STATE_COLORS[StreamState.IDLE], "", (), False, "", "", False))
    name = snap.name or name
    group = snap.group or group
    title = f"{name} · {group}" if group else name
    if snap.extra.get("source") == "analytics_api":
        return status_overlay(snap, title)
    st = snap.state
    parts: list[str] = []
    if st is StreamState.LIVE:
        parts.append(fps_words(snap.fps_received))
        if snap.bitrate_bps:
            parts.append(bitrate_words(snap.bitrate_bps))
        if snap.resolution:
            parts.append(snap.resolution)
        if snap.codec:
            parts.append(codec_words(snap.codec))
        if snap.latency_ms:
            parts.append(f"delay {delay_words(snap.latency_ms)}")
    now = time.time()
    down = snap.is_down
    stamp = stamp_color = activity = ""
    reason = snap.reason if st is StreamState.CONNECTING else ""
    if down:
        stamp, stamp_color, activity, reason = down_words(snap, now)
    elif st is StreamState.IDLE and snap.reason == "disabled":
        # one word per state: the stamp says DISABLED, so no IDLE badge sits on it (state "" = no badge)
        off = "switched off in the camera list"
        return _one_line(OverlayText(title, "", STATE_COLORS[StreamState.IDLE], "", (), True, "DISABLED", off, False))
    elif st is StreamState.LIVE:
        reason = recovered_words(snap, now)
    return _one_line(
        OverlayText(
            title=title,
            state=st.value,
            color=STATE_COLORS.get(st, STATE_COLORS[StreamState.IDLE]),
            details=" · ".join(parts),
            conditions=tuple(snap.conditions) if st is StreamState.LIVE else (),
            down=down,
            stamp=stamp,
            reason=reason,
            keyframes_only=snap.keyframes_only,
            activity=activity,
            stamp_color=stamp_color,
        )
    )

"""The camera tree's rules as plain data (no Qt): site/group levels, order, state words, search.

``CameraConfig.group`` is split on " / " into levels: "HQ / Lobby" is site HQ, group Lobby; a deeper
"HQ / Floor 2 / Lobby" gets three levels; no group is "Ungrouped". Names sort naturally ("Cam 2" before
"Cam 10"), case-insensitively, so a group dropped on the wall fills it in the order the operator reads.

The state word is the tile's badge word (``widgets.overlay_text``: LIVE, CONNECTING, STALLED, OFFLINE,
ERROR, IDLE) with one exception the tile makes too: a camera switched off in the camera list is
DISABLED (the tile stamps it so). One rule for both, so the tree never says LIVE where the tile says
OFFLINE.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.pipeline.state import HealthSnapshot, StreamState
from widgets.overlay_text import STATE_COLORS, overlay_text

SEPARATOR = " / "
UNGROUPED = "Ungrouped"
DISABLED = "DISABLED"
WAITING_REASON = "Vigil has not checked this camera yet."


def group_path(group: str) -> tuple[str, ...]:
    """The tree levels of a camera's group: "HQ / Lobby" -> ("HQ", "Lobby"); "" -> ("Ungrouped",)."""
    parts = tuple(p.strip() for p in group.split(SEPARATOR) if p.strip())
    return parts or (UNGROUPED,)


def natural_key(text: str) -> tuple:
    """Sort key: case-insensitive, numbers by value ("Cam 2" < "Cam 10")."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text.casefold()) if p)


@dataclass(frozen=True)
class CameraEntry:
    """One camera as the tree shows it (from the config)."""

    camera_id: str
    name: str
    group: str
    enabled: bool

    @property
    def path(self) -> tuple[str, ...]:
        return group_path(self.group)


def entries(cameras: Iterable) -> list[CameraEntry]:
    """``CameraConfig``s (anything with id, name, group, enabled) as entries, in tree order: by group path,
    then by name (natural order), then id (two cameras may share a name)."""
    out = [CameraEntry(c.id, c.name, c.group, c.enabled) for c in cameras]
    out.sort(key=lambda e: (tuple(natural_key(p) for p in e.path), natural_key(e.name), e.camera_id))
    return out


def ids_under(items: list[CameraEntry], prefix: tuple[str, ...]) -> list[str]:
    """Camera ids of a site or group row (*prefix* of the path), in tree order: what a group drop places."""
    n = len(prefix)
    return [e.camera_id for e in items if e.path[:n] == prefix]


@dataclass(frozen=True)
class RowState:
    """What a camera row says: the state word, its colour (the tile badge's), the tooltip sentence, the word's
    text colour when the camera is down (the tile stamp's lighter colour, '' = the normal text colour), and
    what the search also finds it by ("down" for every down camera, "OFFLINE" for a reconnect, as its tile's
    stamp says: searching "offline" must not lose the camera during each reconnect attempt)."""

    word: str
    color: str
    reason: str
    emphasis: str = ""
    search: str = ""


def row_state(entry: CameraEntry, snap: HealthSnapshot | None) -> RowState:
    """The row's word and reason, from the same words the tile paints (``overlay_text``)."""
    if not entry.enabled or (snap is not None and snap.state is StreamState.IDLE and snap.reason == "disabled"):
        return RowState(DISABLED, STATE_COLORS[StreamState.IDLE], "Switched off in the camera list.")
    if snap is None:
        return RowState(StreamState.IDLE.value, STATE_COLORS[StreamState.IDLE], WAITING_REASON)
    o = overlay_text(snap, entry.name, entry.group)
    if o.down:  # "OFFLINE since 21:53:13. timed out connecting: no answer in 2 s. reconnecting: attempt 4 now."
        stamp_word = o.stamp.split(" ", 1)[0]
        reason = ". ".join(_sentence(p) for p in (o.stamp, o.reason, o.activity) if p) + "."
        return RowState(o.state, o.color, reason, o.stamp_color, f"down {stamp_word}")
    elif snap.state is StreamState.LIVE:
        # no fps/bitrate: they move every tick, and a row is touched only when its words change
        what = " ".join(x for x in (snap.resolution, snap.codec) if x)
        parts = [f"Pictures arriving ({what})" if what else "Pictures arriving", o.reason, ", ".join(o.conditions)]
    elif snap.state is StreamState.CONNECTING:
        parts = ["Connecting", o.reason]
    else:
        parts = [o.state, o.reason or snap.reason]
    return RowState(o.state, o.color, ". ".join(_sentence(p) for p in parts if p) + ".")


def _sentence(part: str) -> str:
    return part[:1].upper() + part[1:] if part else part


def matches(query: str, entry: CameraEntry, word: str) -> bool:
    """Search: every word of *query* (case-insensitive) is in the camera's name, its group or its state word,
    so "hq offline" finds the HQ cameras that are offline. An empty query matches everything."""
    hay = f"{entry.name}\n{entry.group}\n{word}".casefold()  # word: RowState.word and RowState.search
    return all(w in hay for w in query.casefold().split())

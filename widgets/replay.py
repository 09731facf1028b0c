"""Instant replay on a tile: "Replay last 10 / 30 / 60 s" plays the camera's recent pictures in place, then live.

The core keeps the pictures (``app/recording/replay.py``: a packet ring per tile pipeline) and decodes a
replay on its own thread into a frame slot; this adapter starts and ends replays and hands the slot to the
frame service (``FrameService.replays``), whose ``pull`` then gives every tile showing the camera (grid,
focus view, page windows) the replayed frames, with the REPLAY badge, instead of live ones. The view's
demand for the live stream is left alone, so the pipeline keeps decoding and scaling and live comes back
with its newest frame the moment the replay ends.

Ends: by itself at the live edge (the newest picture when the replay was asked for), polled here four
times a second; at once with Esc or "Back to live" (the tile shows live at the next paint: the player is
told to stop and dropped, its thread ends within its decode of one packet). Keys: R replays 30 s, Shift+R
10 s, of the focused camera or else the selected tile; Esc returns the selected (or focused) camera to
live, or, when that one is live, every replaying camera on the wall.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QMenu

from app.pipeline.supervisor import MAIN, TILE
from app.recording.replay import ReplayBuffers, ReplayPlayer
from widgets.arrangement import is_status_id
from widgets.frame_service import FrameService

log = logging.getLogger(__name__)

REPLAY_CHOICES_S = (10, 30, 60)
KEY_REPLAY_S = 30  # R
SHIFT_KEY_REPLAY_S = 10  # Shift+R
POLL_MS = 250  # how often the end of a replay is looked for (and the player told the tile's size)


class InstantReplay(QObject):
    """Starts and ends replays for a wall (one per window; page windows share its frame service)."""

    def __init__(
        self,
        buffers: ReplayBuffers,
        frames: FrameService,
        wall,
        names: Callable[[str], str],
        notify: Callable[[str], None],
        buffer_s: Callable[[], float],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.buffers = buffers
        self.frames = frames
        self.wall = wall
        self._names = names
        self._notify = notify
        self._buffer_s = buffer_s
        self.players: dict[str, ReplayPlayer] = {}
        self.ended_by_itself = 0  # replays that reached the live edge (tests, the log)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self._poll)
        wall.context_menu_hooks.append(self.add_menu_entries)
        wall.installEventFilter(self)

    # ------------------------------------------------------------------ start / end
    def replaying(self, camera_id: str) -> bool:
        return camera_id in self.players

    def start(self, camera_id: str, seconds: float) -> str:
        """Replay the last *seconds* of *camera_id* in place. Returns '' or, when it cannot, why (in words,
        also shown in the status bar)."""
        name = self._names(camera_id)
        ring = self.buffers.ring(camera_id)
        if ring is None:
            why = (f"Replay is off: Vigil keeps no recent pictures of {name} (wall.replay_buffer_s is 0)"
                   if self._buffer_s() <= 0 else f"{name} has not sent any pictures to replay yet")  # fmt: skip
            return self._refuse(why)
        if ring.unavailable:
            return self._refuse(f"{name} cannot be replayed: {ring.unavailable}")
        packets = ring.since(seconds)
        if not packets:
            return self._refuse(f"{name} has not sent any pictures to replay yet")
        self.back_to_live(camera_id)  # a replay asked again starts afresh
        player = ReplayPlayer(camera_id, packets, self._box(camera_id))
        player.start()
        self.players[camera_id] = player
        self.frames.replays[camera_id] = player
        self.timer.start()
        log.info("%s: instant replay of the last %.0f s (%d pictures' packets)", camera_id, seconds, len(packets))
        return ""

    def back_to_live(self, camera_id: str) -> None:
        """End *camera_id*'s replay now: the next paint shows live (never waits for the replay's thread)."""
        player = self.players.pop(camera_id, None)
        self.frames.replays.pop(camera_id, None)
        if player is not None:
            player.cancel()
        if not self.players:
            self.timer.stop()

    def stop(self) -> None:
        """The window closes: every replay ends, their threads joined (each within 2 s)."""
        self.timer.stop()
        players = list(self.players.values())
        for cid in list(self.players):
            self.back_to_live(cid)
        for p in players:
            p.stop()

    def _refuse(self, why: str) -> str:
        self._notify(why)
        return why

    def _box(self, camera_id: str) -> tuple[int, int]:
        """The largest size any view shows the camera at (tile or focus view)."""
        sizes = [self.frames.demanded_size(camera_id, v) for v in (TILE, MAIN)]
        return (max(w for w, _ in sizes), max(h for _, h in sizes))

    def _poll(self) -> None:
        for cid, player in list(self.players.items()):
            if player.ended.is_set():
                self.ended_by_itself += 1
                log.info("%s: instant replay reached live", cid)
                self.back_to_live(cid)
            else:
                player.set_output_size(*self._box(cid))

    # ------------------------------------------------------------------ menu and keys
    def choices(self) -> tuple[int, ...]:
        """The replay lengths offered: those the buffer holds (the buffer itself when it is shorter)."""
        buf = self._buffer_s()
        return tuple(s for s in REPLAY_CHOICES_S if s <= buf) or ((int(buf),) if buf >= 1 else ())

    def add_menu_entries(self, menu: QMenu, camera_id: str) -> None:
        if not camera_id or is_status_id(camera_id):
            return
        menu.addSeparator()
        if self.replaying(camera_id):
            menu.addAction("Back to live (Esc)", lambda: self.back_to_live(camera_id))
        for s in self.choices():
            key = " (R)" if s == KEY_REPLAY_S else " (Shift+R)" if s == SHIFT_KEY_REPLAY_S else ""
            menu.addAction(f"Replay last {s} s{key}", lambda s=s: self.start(camera_id, s))

    def _target(self) -> str:
        cid = self.wall.focused or self.wall.selected_camera()
        return "" if not cid or is_status_id(cid) else cid

    def eventFilter(self, obj, event) -> bool:
        if obj is not self.wall or event.type() != QEvent.Type.KeyPress:
            return False
        key, mods = event.key(), event.modifiers()
        if key == Qt.Key.Key_R and not mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier):
            cid = self._target()
            if cid:
                shift = bool(mods & Qt.KeyboardModifier.ShiftModifier)
                self.start(cid, min(SHIFT_KEY_REPLAY_S if shift else KEY_REPLAY_S, max(1.0, self._buffer_s())))
            return True
        if key == Qt.Key.Key_Escape and self.players:
            cid = self._target()
            if cid in self.players:
                self.back_to_live(cid)
                return True
            if not self.wall.focused:  # on the grid, Esc with the selected camera live: every replay ends
                for c in list(self.players):
                    self.back_to_live(c)
                return True
        return False

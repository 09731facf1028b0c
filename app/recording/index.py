"""``MirroredIndex``: the recordings index that the recorders write to: the folder, mirrored into the store.

The folder (file names, ``motion.jsonl``: what the player reads without a query) always gets the entry
first and is the truth; the history store's ``recording_segments`` and ``motion_events`` tables are a
mirror for queries. The store is asked for per call (``store()``, None while there is none), so an index
built before the store, or without one, still works. A store that refuses (stopped, queue full, not
started) or raises is logged once per kind of call and never stops recording or start-up recovery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from app.recording.segments import DirectoryIndex

log = logging.getLogger(__name__)


class MirroredIndex:
    def __init__(self, directory: DirectoryIndex, store: Callable[[], object | None]) -> None:
        self.directory = directory
        self._store = store
        self._refused: set[str] = set()  # calls already logged as refused by the store

    def _mirror(self, what: str, call) -> None:
        store = self._store()
        if store is None:
            return
        why = ""
        try:
            ok = call(store)
        except Exception as e:
            ok, why = False, f"{type(e).__name__}: {e}"
        if ok is False and what not in self._refused:
            self._refused.add(what)
            why = why or store.status().message
            log.warning("history store did not take a %s (%s); the recordings folder has it", what, why)

    def add_segment(self, segment) -> None:
        self.directory.add_segment(segment)
        self._mirror("segment", lambda store: store.add_segment(segment))

    def remove_segment(self, path: str) -> None:
        self.directory.remove_segment(path)
        self._mirror("segment removal", lambda store: store.remove_segment(path))

    def lock_segment(self, path: str, locked: bool) -> None:
        """Mirror the operator's lock into the store. The marker next to the file is the lock itself (what
        retention reads): ``segments.lock_segment`` writes it before calling this; the folder needs no copy."""
        self._mirror("segment lock", lambda store: store.lock_segment(path, locked))

    def add_motion_event(self, event) -> None:
        self.directory.add_motion_event(event)
        self._mirror("motion event", lambda store: store.add_motion_event(event))

    def segments(self, camera_id: str, start: float = 0.0, end: float = float("inf")):
        return self.directory.segments(camera_id, start, end)

    def motion_events(self, camera_id: str, start: float = 0.0, end: float = float("inf")):
        return self.directory.motion_events(camera_id, start, end)

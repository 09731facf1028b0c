"""The arrangement of a named view (``app/views.py``): one page, only the cameras the view names.

No Qt. A :class:`ViewArrangement` is a :class:`~widgets.arrangement.WallArrangement` the wall can show
instead of the all-cameras one (``WallView.show_arrangement``), so swaps, layout changes and the camera
tree's drops (``place``/``fill_page``) work on it unchanged and emit ``arrangement_changed``; the main
window then saves the view, never ``wall.pages``. Differences, each a rule of a view:

* one page: camera ids past the layout's capacity (after switching to a smaller layout) stay in the
  order, hidden, so switching back shows them again; the view never pages;
* no status tiles (the analytics API's streams follow the all-cameras wall only);
* cameras added to the config are not added to a view; a removed one leaves an empty tile.
"""

from __future__ import annotations

from widgets.arrangement import WallArrangement


class ViewArrangement(WallArrangement):
    def __init__(self, view_id: str, camera_ids: list[str], layout: str, known: list[str]) -> None:
        super().__init__([], layout)
        self.view_id = view_id
        ok = set(known)
        self.order = [c if c in ok else "" for c in camera_ids]

    @property
    def page_count(self) -> int:
        return 1

    def set_status_ids(self, ids: list[str]) -> bool:
        return False  # a view shows its own cameras only

    def sync_cameras(self, camera_ids: list[str]) -> None:
        known = set(camera_ids)
        self.order = [c if c in known else "" for c in self.order]

    def camera_ids(self) -> list[str]:
        """What the view saves: the whole order (hidden tail included), trailing empty tiles dropped."""
        ids = list(self.order)
        while ids and not ids[-1]:
            ids.pop()
        return ids

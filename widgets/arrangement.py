"""The wall's arrangement as plain data: which camera sits in which tile, split into pages.

No Qt here, so the rules (restore, paging, swap, unknown ids) are tested without a window.
The arrangement is one ordered list of camera ids ('' = empty tile); a page is a slice of it the
size of the current layout. Changing the layout re-slices the same order, so nothing is lost.

Status tiles (streams known only from a probe, e.g. an analytics server's API; ids contain ':') follow
the cameras in ``status_ids``. They are not part of the saved order (they come and go with the
server's stream list) and cannot be swapped.
"""

from __future__ import annotations

from app.config import LAYOUTS, WallPage

LAYOUT_KEYS = ("1", "2x2", "3x3", "4x4", "5x5", "6x6", "8x4", "8x8")


def layout_grid(layout: str) -> tuple[int, int]:
    """(columns, rows) of a layout name."""
    return LAYOUTS[layout]


def layout_capacity(layout: str) -> int:
    cols, rows = LAYOUTS[layout]
    return cols * rows


class WallArrangement:
    def __init__(self, camera_ids: list[str], layout: str = "3x3", saved_pages: list[WallPage] | None = None):
        self.layout = layout
        self.order: list[str] = self._restore(camera_ids, saved_pages or [])
        self.status_ids: list[str] = []  # after the cameras; never saved

    @staticmethod
    def _restore(camera_ids: list[str], pages: list[WallPage]) -> list[str]:
        """Saved order first (unknown or duplicate ids become empty tiles), then cameras added since."""
        known = set(camera_ids)
        order: list[str] = []
        placed: set[str] = set()
        for page in pages:
            for cid in page.camera_ids:
                if cid and cid in known and cid not in placed:
                    order.append(cid)
                    placed.add(cid)
                else:
                    order.append("")
        order += [c for c in camera_ids if c not in placed]
        while order and order[-1] == "":
            order.pop()
        return order

    # ------------------------------------------------------------------ queries
    @property
    def capacity(self) -> int:
        return layout_capacity(self.layout)

    @property
    def all_ids(self) -> list[str]:
        """Every tile in wall order: the cameras (with their gaps), then the status tiles."""
        return self.order + self.status_ids if self.status_ids else self.order

    @property
    def page_count(self) -> int:
        return max(1, -(-len(self.all_ids) // self.capacity))

    def page(self, index: int) -> list[str]:
        """Tile ids of page *index* (cameras, then status tiles), padded with '' to the layout's capacity."""
        cap = self.capacity
        ids = self.all_ids[index * cap : (index + 1) * cap]
        return ids + [""] * (cap - len(ids))

    def locate(self, camera_id: str) -> tuple[int, int] | None:
        """(page, tile index) of a camera or status tile, or None."""
        try:
            i = self.all_ids.index(camera_id)
        except ValueError:
            return None
        return divmod(i, self.capacity)

    # ------------------------------------------------------------------ changes
    def set_status_ids(self, ids: list[str]) -> bool:
        """Replace the status tiles; True if anything changed (the view then rebuilds)."""
        ids = [i for i in dict.fromkeys(ids) if i]
        if ids == self.status_ids:
            return False
        self.status_ids = ids
        return True

    def swap(self, page: int, a: int, b: int) -> bool:
        """Swap two tiles of *page*. Refused (False) when a status tile or the slots after the cameras
        are involved while status tiles exist: their place is derived, not saved."""
        cap = self.capacity
        ia, ib = page * cap + a, page * cap + b
        if self.status_ids and max(ia, ib) >= len(self.order):
            return False
        need = max(ia, ib) + 1
        if len(self.order) < need:
            self.order += [""] * (need - len(self.order))
        self.order[ia], self.order[ib] = self.order[ib], self.order[ia]
        while self.order and self.order[-1] == "":
            self.order.pop()
        return True

    def sync_cameras(self, camera_ids: list[str]) -> None:
        """Cameras were added/removed: removed ones leave an empty tile, new ones go to the end."""
        known = set(camera_ids)
        self.order = [c if c in known else "" for c in self.order]
        present = set(self.order)
        self.order += [c for c in camera_ids if c not in present]
        while self.order and self.order[-1] == "":
            self.order.pop()

    def to_pages(self) -> list[WallPage]:
        """The camera order as saved pages (status tiles are not saved)."""
        cap = self.capacity
        n = max(1, -(-len(self.order) // cap))
        pages = []
        for i in range(n):
            ids = self.order[i * cap : (i + 1) * cap]
            pages.append(WallPage(name=f"Page {i + 1}", camera_ids=ids + [""] * (cap - len(ids))))
        return pages


def is_status_id(tile_id: str) -> bool:
    """Status tiles (probe-only streams) have ':' in their id; configured camera ids never do."""
    return ":" in tile_id

"""The wall's arrangement as plain data: which camera sits in which tile, split into pages.

No Qt here, so the rules (restore, paging, swap, unknown ids) are tested without a window.
The arrangement is one ordered list of camera ids ('' = empty tile); a page is a slice of it the
size of the current layout. Changing the layout re-slices the same order, so nothing is lost.

Status tiles (streams known only from a probe, e.g. an analytics server's API; ids contain ':') follow
the cameras in ``status_ids``. They are not part of the saved order (they come and go with the
server's stream list) and cannot be swapped.
"""

from __future__ import annotations

from app.config import WallPage
from app.layouts import NUMBER_KEY_LAYOUTS, layout_capacity, layout_grid

# the layouts the wall's number keys 1-8 pick; every layout (spanning ones too) is in app.layouts.LAYOUTS
LAYOUT_KEYS = NUMBER_KEY_LAYOUTS
__all__ = ["LAYOUT_KEYS", "WallArrangement", "is_status_id", "layout_capacity", "layout_grid"]


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
        """Cameras were added/removed: removed ones leave an empty tile, new ones take the first empty tiles
        ('' gaps) in wall order, then go to the end (appending put a new camera on page 2 while page 1 had
        free tiles). A camera already placed (e.g. on the empty tile the operator double-clicked) stays."""
        known = set(camera_ids)
        self.order = [c if c in known else "" for c in self.order]
        present = set(self.order)
        self._into_gaps([c for c in camera_ids if c not in present])
        self._trim()

    def _into_gaps(self, ids: list[str]) -> None:
        """Put *ids* into the first empty tiles of the order, the rest at the end."""
        gaps = (i for i, c in enumerate(self.order) if c == "")
        for cid in ids:
            i = next(gaps, None)
            if i is None:
                self.order.append(cid)
            else:
                self.order[i] = cid

    def _trim(self) -> None:
        while self.order and self.order[-1] == "":
            self.order.pop()

    def place(self, page: int, index: int, camera_id: str) -> bool:
        """Put *camera_id* on tile *index* of *page* (a camera dragged from the camera tree).

        A camera is never shown twice: one already elsewhere in the order SWAPS with the tile's camera
        (the tile's camera takes the dragged camera's old tile, as a tile-to-tile drag does). A camera not
        in the order (a named view may hold only some cameras) takes the tile, and the camera it replaces
        goes to the first empty tile in wall order, else to the end: it is never dropped from the
        arrangement, because an operator who puts one camera up does not expect another to vanish.
        Dropping on a status tile's place puts the camera there and the status tiles move one on (they
        follow the cameras). False when nothing changed (same tile, empty id, status id)."""
        return self._put(page * self.capacity + index, [camera_id])

    def fill_page(self, page: int, ids: list[str]) -> bool:
        """Put *ids* (a group's cameras, in the order given) on *page* from its first tile.

        The page's previous cameras move to the tiles the group's cameras left (in wall order); when the
        group's cameras were not all in the order, the remaining ones go to the first empty tiles, then to
        the end. A group larger than a page fills the page with its first cameras; the rest stay where
        they are. False when nothing changed."""
        return self._put(page * self.capacity, ids[: self.capacity])

    def _put(self, start: int, ids: list[str]) -> bool:
        ids = [c for c in dict.fromkeys(ids) if c and not is_status_id(c)]
        if not ids:
            return False
        before = list(self.order)
        end = start + len(ids)
        if len(self.order) < end:
            self.order += [""] * (end - len(self.order))
        placed = set(ids)
        # tiles outside the target range that the placed cameras leave, in wall order
        vacated = [i for i, c in enumerate(self.order) if c in placed and not start <= i < end]
        displaced = [c for c in self.order[start:end] if c and c not in placed]
        for i in vacated:
            self.order[i] = ""
        self.order[start:end] = ids
        for i, cid in zip(vacated, displaced, strict=False):
            self.order[i] = cid
        self._into_gaps(displaced[len(vacated) :])
        self._trim()
        return self.order != before

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

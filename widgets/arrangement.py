"""The wall's arrangement as plain data: which camera sits in which tile, split into pages.

No Qt here, so the rules (restore, paging, swap, unknown ids) are tested without a window.
The arrangement is one ordered list of camera ids ('' = empty tile); a page is a slice of it the
size of the current layout. Changing the layout re-slices the same order, so nothing is lost.
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
    def page_count(self) -> int:
        return max(1, -(-len(self.order) // self.capacity))

    def page(self, index: int) -> list[str]:
        """Camera ids of page *index*, padded with '' to the layout's capacity."""
        cap = self.capacity
        ids = self.order[index * cap : (index + 1) * cap]
        return ids + [""] * (cap - len(ids))

    def locate(self, camera_id: str) -> tuple[int, int] | None:
        """(page, tile index) of a camera, or None."""
        try:
            i = self.order.index(camera_id)
        except ValueError:
            return None
        return divmod(i, self.capacity)

    # ------------------------------------------------------------------ changes
    def swap(self, page: int, a: int, b: int) -> None:
        cap = self.capacity
        ia, ib = page * cap + a, page * cap + b
        need = max(ia, ib) + 1
        if len(self.order) < need:
            self.order += [""] * (need - len(self.order))
        self.order[ia], self.order[ib] = self.order[ib], self.order[ia]
        while self.order and self.order[-1] == "":
            self.order.pop()

    def sync_cameras(self, camera_ids: list[str]) -> None:
        """Cameras were added/removed: removed ones leave an empty tile, new ones go to the end."""
        known = set(camera_ids)
        self.order = [c if c in known else "" for c in self.order]
        present = set(self.order)
        self.order += [c for c in camera_ids if c not in present]
        while self.order and self.order[-1] == "":
            self.order.pop()

    def to_pages(self) -> list[WallPage]:
        return [WallPage(name=f"Page {i + 1}", camera_ids=self.page(i)) for i in range(self.page_count)]

"""Wall layouts as plain data: a grid and the cells its tiles take, some spanning several grid cells.

No Qt: the wall (``widgets/wall.py``) turns cells into pixel rectangles with :func:`cell_rects` and moves the
selection with :func:`neighbour`; the config validates ``wall.layout`` and views' layouts against
:data:`LAYOUTS`. Keys are what configs store: the first eight (``1`` … ``8x8``) are the original square and
8x4 grids, unchanged so every saved config still loads, and they keep their number keys 1-8 on the wall.

Tile order: the big tile(s) first, then the small ones in reading order (left to right, top to bottom), so
the first camera of a page (or of a view) is always the big one and a layout change keeps the order meaning
"most important first". On a 16:9 screen every cell of an N x N grid is 16:9, like the pictures; ``4x3``
has 4:3 cells (for 4:3 cameras: no letterbox bands), ``3x2`` nearly 4:3 (1.19:1).

``2+8`` is the arrangement NVR/VMS clients (Milestone, Nx Witness, Hikvision) ship under that name for a 16:9
wall: two large tiles side by side over the top half and eight small ones in two rows of four below, all on
a 4 x 4 grid so every tile, large or small, is 16:9. (Two 2x2 tiles over a 4 x 3 grid leave room for only
four small tiles, and the small ones would not be 16:9.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """One tile's place: its top-left grid cell and how many cells it spans."""

    col: int
    row: int
    cols: int = 1
    rows: int = 1


@dataclass(frozen=True)
class Layout:
    key: str  # what the config stores
    label: str  # what menus show ("1 large + 5")
    grid: tuple[int, int]  # (columns, rows)
    cells: tuple[Cell, ...]  # tile i takes cells[i]

    @property
    def capacity(self) -> int:
        return len(self.cells)


def _grid(cols: int, rows: int) -> tuple[Cell, ...]:
    return tuple(Cell(c, r) for r in range(rows) for c in range(cols))


def _with_big(cols: int, rows: int, big: tuple[Cell, ...]) -> tuple[Cell, ...]:
    """*big* cells first, then every grid cell they do not cover, in reading order."""
    covered = {(b.col + i, b.row + j) for b in big for i in range(b.cols) for j in range(b.rows)}
    return big + tuple(c for c in _grid(cols, rows) if (c.col, c.row) not in covered)


def _square(key: str, cols: int, rows: int) -> Layout:
    n = cols * rows
    label = "1 camera" if n == 1 else f"{cols} by {rows} ({n} cameras)"
    return Layout(key, label, (cols, rows), _grid(cols, rows))


_ALL = (
    _square("1", 1, 1),
    _square("2x2", 2, 2),
    _square("3x3", 3, 3),
    _square("4x4", 4, 4),
    _square("5x5", 5, 5),
    _square("6x6", 6, 6),
    _square("8x4", 8, 4),
    _square("8x8", 8, 8),
    _square("3x2", 3, 2),
    _square("4x3", 4, 3),
    Layout("1+5", "1 large + 5", (3, 3), _with_big(3, 3, (Cell(0, 0, 2, 2),))),
    Layout("1+7", "1 large + 7", (4, 4), _with_big(4, 4, (Cell(0, 0, 3, 3),))),
    Layout("1+12", "1 large in the middle + 12", (4, 4), _with_big(4, 4, (Cell(1, 1, 2, 2),))),
    Layout("2+8", "2 large + 8", (4, 4), _with_big(4, 4, (Cell(0, 0, 2, 2), Cell(2, 0, 2, 2)))),
)

LAYOUTS: dict[str, Layout] = {lay.key: lay for lay in _ALL}
# the wall's number keys 1-8 pick these (the original layouts, in their original order)
NUMBER_KEY_LAYOUTS = ("1", "2x2", "3x3", "4x4", "5x5", "6x6", "8x4", "8x8")


def unknown_layout_words(key: object) -> str:
    return f"unknown layout {key!r}: choose one of {', '.join(LAYOUTS)}"


def layout_grid(key: str) -> tuple[int, int]:
    """(columns, rows) of the layout's grid."""
    return LAYOUTS[key].grid


def layout_capacity(key: str) -> int:
    """How many tiles (cameras) the layout shows: its number of cells, not columns x rows."""
    return LAYOUTS[key].capacity


def tiling_problems(layout: Layout) -> list[str]:
    """Why *layout*'s cells do not tile its grid exactly (overlap, hole, outside); [] when they do."""
    cols, rows = layout.grid
    owner: dict[tuple[int, int], int] = {}
    problems = []
    for i, c in enumerate(layout.cells):
        if c.cols < 1 or c.rows < 1 or c.col < 0 or c.row < 0 or c.col + c.cols > cols or c.row + c.rows > rows:
            problems.append(f"tile {i} {c} is outside the {cols}x{rows} grid")
            continue
        for x in range(c.col, c.col + c.cols):
            for y in range(c.row, c.row + c.rows):
                if (x, y) in owner:
                    problems.append(f"tiles {owner[(x, y)]} and {i} overlap at column {x}, row {y}")
                owner[(x, y)] = i
    holes = [(x, y) for y in range(rows) for x in range(cols) if (x, y) not in owner]
    problems += [f"no tile covers column {x}, row {y}" for x, y in holes]
    return problems


def cell_rects(key: str, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(x, y, w, h) of every tile of layout *key* in a *width* x *height* area, in tile order.

    Edges are computed from the grid lines (``col * width // cols``), so neighbouring tiles share an edge
    exactly and a spanning tile ends where the small tiles beside it end (no pixel drift); the caller
    subtracts its gap."""
    lay = LAYOUTS[key]
    cols, rows = lay.grid
    out = []
    for c in lay.cells:
        x0, x1 = c.col * width // cols, (c.col + c.cols) * width // cols
        y0, y1 = c.row * height // rows, (c.row + c.rows) * height // rows
        out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def neighbour(key: str, index: int, dx: int, dy: int) -> int:
    """The tile an arrow key moves the selection to, by cell geometry (spans included).

    The nearest tile entirely on that side wins; among equally near ones, a tile that shares rows (or
    columns, moving up/down) with the current one, then the one whose centre is closest across, then the
    lower index. Nothing on that side: it wraps round to the far side, in the same rows/columns as on a
    plain grid (right from the last column goes to the first column of that row)."""
    cells = LAYOUTS[key].cells
    if not cells:
        return 0
    index = max(0, min(index, len(cells) - 1))
    cur = cells[index]
    horizontal = dx != 0
    sign = (dx if horizontal else dy) or 1

    def span(c: Cell) -> tuple[int, int, int, int]:
        """(start, end) along the move, (start, end) across it."""
        if horizontal:
            return c.col, c.col + c.cols, c.row, c.row + c.rows
        return c.row, c.row + c.rows, c.col, c.col + c.cols

    a0, a1, p0, p1 = span(cur)
    centre = p0 + p1  # doubled, to stay in integers

    def across(c: Cell) -> tuple[int, int]:
        _, _, q0, q1 = span(c)
        overlap = min(p1, q1) > max(p0, q0)
        return (0 if overlap else 1), abs((q0 + q1) - centre)

    ahead = []
    for i, c in enumerate(cells):
        b0, b1, _, _ = span(c)
        gap = b0 - a1 if sign > 0 else a0 - b1
        if i != index and gap >= 0:
            ahead.append(((gap, *across(c), i), i))
    if ahead:
        return min(ahead)[1]
    # wrap: the tile farthest back on the other side, sharing rows/columns with this one if any does
    back = []
    for i, c in enumerate(cells):
        b0, b1, _, _ = span(c)
        far = b0 if sign > 0 else -b1
        overlap, dist = across(c)
        back.append(((overlap, far, dist, i), i))
    return min(back)[1]

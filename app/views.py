"""Named views (as in Milestone XProtect or Nx Witness): a name, a layout and a camera per tile, one page.

No Qt. Two places keep them:

* **shared** views live in the config (``wall.views``), so every workstation of a site that uses the site's
  config file sees them; they are saved with the config (``Runtime.apply_config``).
* **private** views live in this user's data folder, ``<data dir>/private-views.json``, written 0600 and
  atomically with :func:`app.fileio.write_private_atomic`. A file that cannot be read (permissions, bad
  JSON, a view that fails validation) is never replaced behind the operator's back: :func:`load_private_views`
  returns no views and a sentence for the status bar, and the first save the operator makes afterwards
  first moves the unreadable file aside to ``private-views.json.unreadable`` (kept, not deleted).

:class:`ViewBook` holds both lists and makes every change as a pure operation that returns a new book
(create from the wall's page, rename, duplicate, delete, share / make private, edit the tiles). Names are
unique across both lists, case-insensitively ("Gate" and "gate" would read the same from 3 m). The list
order (shared first, then private, each in creation order) is the Views menu's and Ctrl+1..Ctrl+9's.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from pydantic import ValidationError

from app.config import ViewConfig
from app.fileio import write_private_atomic

PRIVATE_VIEWS_FILE = "private-views.json"
FILE_VERSION = 1
MAX_NAME = 80


def private_views_path(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / PRIVATE_VIEWS_FILE


@dataclass(frozen=True)
class PrivateViewsLoad:
    views: tuple[ViewConfig, ...]
    problem: str = ""  # '' = read fine (or no file yet); else words for the status bar


def load_private_views(path: str | os.PathLike) -> PrivateViewsLoad:
    """This user's private views. No file yet = none, no problem. Never raises."""
    path = Path(path)
    where = f"Your private views in {path} could not be read"
    keep = "they are not shown, and the file is kept as it is until you save a view"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return PrivateViewsLoad(())
    except OSError as e:
        return PrivateViewsLoad((), f"{where} ({e.strerror or e}): {keep}.")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        return PrivateViewsLoad((), f"{where} (not text: byte {e.start} is not UTF-8): {keep}.")
    except json.JSONDecodeError as e:
        return PrivateViewsLoad((), f"{where} (line {e.lineno}, column {e.colno}: {e.msg}): {keep}.")
    if not isinstance(data, dict) or not isinstance(data.get("views"), list):
        return PrivateViewsLoad((), f'{where} (it holds no "views" list): {keep}.')
    views = []
    for i, item in enumerate(data["views"]):
        try:
            views.append(ViewConfig.model_validate(item))
        except ValidationError as e:
            first = e.errors()[0]
            loc = ".".join(str(p) for p in first.get("loc", ())) or "view"
            return PrivateViewsLoad((), f"{where} (view {i + 1}, {loc}: {first.get('msg', 'invalid')}): {keep}.")
    ids = [v.id for v in views]
    if len(set(ids)) != len(ids):
        return PrivateViewsLoad((), f"{where} (two views have the same id): {keep}.")
    return PrivateViewsLoad(tuple(views))


def save_private_views(path: str | os.PathLike, views: Iterable[ViewConfig], *, set_aside_unreadable: bool) -> None:
    """Write *views* to *path* (0600, atomic). *set_aside_unreadable*: the file could not be read when it was
    loaded, so it is first renamed to ``<name>.unreadable`` (the operator's old views are kept, never
    overwritten). Raises OSError."""
    path = Path(path)
    if set_aside_unreadable and path.exists():
        os.replace(path, path.with_name(path.name + ".unreadable"))
    data = {"version": FILE_VERSION, "views": [v.model_dump(mode="json") for v in views]}
    write_private_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------- pure operations
def clean_name(name: str) -> str:
    """One line, no surrounding blanks, at most MAX_NAME characters ('' when nothing is left)."""
    return " ".join(str(name).split())[:MAX_NAME]


def unique_name(name: str, taken: Iterable[str]) -> str:
    """*name*, or *name (2)*, *name (3)*… so that no two views read the same (case-insensitive)."""
    base = clean_name(name) or "View"
    used = {t.casefold() for t in taken}
    if base.casefold() not in used:
        return base
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = base[: MAX_NAME - len(suffix)] + suffix
        if candidate.casefold() not in used:
            return candidate
        n += 1


def new_view_id(taken: Iterable[str]) -> str:
    used = set(taken)
    while True:
        vid = f"view-{secrets.token_hex(4)}"
        if vid not in used:
            return vid


def page_camera_ids(camera_ids: Iterable[str]) -> list[str]:
    """A page's tiles as a view stores them: status tiles (ids with ':') are not cameras, trailing empty
    tiles are dropped."""
    ids = [c if c and ":" not in c else "" for c in camera_ids]
    while ids and not ids[-1]:
        ids.pop()
    return ids


@dataclass(frozen=True)
class ViewBook:
    """Shared and private views; every change returns a new book (the caller saves the side that changed)."""

    shared: tuple[ViewConfig, ...] = ()
    private: tuple[ViewConfig, ...] = ()

    @property
    def ordered(self) -> tuple[ViewConfig, ...]:
        """Menu and Ctrl+1..9 order: shared first, then private."""
        return self.shared + self.private

    def find(self, view_id: str) -> ViewConfig | None:
        return next((v for v in self.ordered if v.id == view_id), None)

    def is_shared(self, view_id: str) -> bool:
        return any(v.id == view_id for v in self.shared)

    def names(self, except_id: str = "") -> list[str]:
        return [v.name for v in self.ordered if v.id != except_id]

    def _put(self, view: ViewConfig, shared: bool) -> ViewBook:
        """Replace the view with *view*'s id where it is (or add it at the end of the chosen list)."""
        s = [v for v in self.shared if v.id != view.id]
        p = [v for v in self.private if v.id != view.id]
        old_s = next((i for i, v in enumerate(self.shared) if v.id == view.id), None)
        old_p = next((i for i, v in enumerate(self.private) if v.id == view.id), None)
        if shared:
            s.insert(old_s if old_s is not None else len(s), view)
        else:
            p.insert(old_p if old_p is not None else len(p), view)
        return replace(self, shared=tuple(s), private=tuple(p))

    def create(self, name: str, layout: str, camera_ids: Iterable[str], *, shared: bool = False) -> ViewBook:
        """A new view from the wall's current page (its layout and tiles), at the end of its list."""
        view = ViewConfig(
            id=new_view_id(v.id for v in self.ordered),
            name=unique_name(name, self.names()),
            layout=layout,
            camera_ids=page_camera_ids(camera_ids),
        )
        return self._put(view, shared)

    def rename(self, view_id: str, name: str) -> ViewBook:
        view = self._get(view_id)
        new = view.model_copy(update={"name": unique_name(name, self.names(except_id=view_id))})
        return self._put(new, self.is_shared(view_id))

    def duplicate(self, view_id: str) -> ViewBook:
        """A copy ("Gate (copy)") next to the original's list end, private or shared as the original."""
        view = self._get(view_id)
        return self.create(f"{view.name} (copy)", view.layout, view.camera_ids, shared=self.is_shared(view_id))

    def delete(self, view_id: str) -> ViewBook:
        self._get(view_id)
        return replace(
            self,
            shared=tuple(v for v in self.shared if v.id != view_id),
            private=tuple(v for v in self.private if v.id != view_id),
        )

    def set_shared(self, view_id: str, shared: bool) -> ViewBook:
        """Share with all workstations (into the config) or make private (into this user's file): the view
        moves to the end of the other list; nothing changes if it is already there."""
        view = self._get(view_id)
        if self.is_shared(view_id) == shared:
            return self
        return self.delete(view_id)._put(view, shared)

    def edit_tiles(self, view_id: str, layout: str, camera_ids: Iterable[str]) -> ViewBook:
        """The operator swapped or dropped cameras, or changed the layout, while the view was shown."""
        view = self._get(view_id)
        new = view.model_copy(update={"layout": layout, "camera_ids": page_camera_ids(camera_ids)})
        new = ViewConfig.model_validate(new.model_dump())  # a layout key the schema refuses raises here
        return self._put(new, self.is_shared(view_id))

    def newest_id(self, shared: bool) -> str:
        side = self.shared if shared else self.private
        return side[-1].id if side else ""

    def _get(self, view_id: str) -> ViewConfig:
        view = self.find(view_id)
        if view is None:
            raise KeyError(f"no view with the id {view_id!r}")
        return view

"""Every key and mouse gesture of the wall, in ONE list: the Help ▸ Keyboard and mouse sheet is built from it.

Pure data, no Qt, so a test can hold the sheet against the window's real actions. Whoever adds a key adds
one line here, in the group an operator would look under:

    Shortcut("Replay", "R", "Replay the last 30 seconds of the selected camera"),
    Shortcut("Window", "Ctrl+H", "Open the history charts", action="Ctrl+H"),

``keys`` is what the sheet shows (several keys joined by " / ", mouse gestures in words); ``action`` is set
only when the key is the shortcut of a window QAction (a menu entry), written as ``QKeySequence`` parses it:
``tests/widgets/test_help.py`` then checks that the window really has an action with that shortcut, so the
sheet cannot promise a menu key that does not exist. Keys handled inside a widget (the wall's arrows,
digits, +/-) and mouse gestures leave ``action`` empty.

Groups are shown in ``GROUPS`` order (the order an operator meets them: the wall first, the window last).
"""

from __future__ import annotations

from typing import NamedTuple

GROUPS = ("Wall", "Focus", "Views", "Zoom", "Replay", "Alarms", "Window")


class Shortcut(NamedTuple):
    group: str  # one of GROUPS
    keys: str  # as shown: "Ctrl+Q", "1 … 8", "Mouse wheel"
    what: str  # a sentence an operator understands
    action: str = ""  # the QAction shortcut this key is ("" = a widget's own key or a mouse gesture)


SHORTCUTS: tuple[Shortcut, ...] = (
    # the wall
    Shortcut("Wall", "Arrow keys", "Move the selection to the next camera"),
    Shortcut("Wall", "1 … 8", "Change the layout: 1 shows one camera, 4 shows 4x4, 8 shows 8x8"),
    Shortcut("Wall", "Page Down / Page Up", "Show the next or the previous page of cameras"),
    Shortcut("Wall", "Ctrl+Page Down", "Show the next page of cameras", action="Ctrl+PgDown"),
    Shortcut("Wall", "Ctrl+Page Up", "Show the previous page of cameras", action="Ctrl+PgUp"),
    Shortcut("Wall", "T", "Start or stop the tour: the pages change by themselves", action="T"),
    Shortcut("Wall", "O", "Show or hide the words and figures on the pictures"),
    Shortcut("Wall", "Drag a camera onto another", "Swap the two cameras on the wall"),
    Shortcut("Wall", "Double-click an empty tile", "Add a camera in that place"),
    Shortcut("Wall", "Right-click a camera", "More actions for that camera"),
    # one camera large
    Shortcut("Focus", "Enter / double-click", "Show the selected camera large, in full quality"),
    Shortcut("Focus", "Esc / Enter / Backspace", "Go back to the wall"),
    Shortcut("Focus", "M", "Turn the sound of the large camera on or off", action="M"),
    # views (saved arrangements of the wall)
    Shortcut("Views", "Ctrl+0", "Show all cameras", action="Ctrl+0"),
    Shortcut("Views", "Ctrl+1 … Ctrl+9", "Open saved view 1 to 9"),
    # zoom into a picture
    Shortcut("Zoom", "Mouse wheel", "Zoom in or out around the mouse pointer"),
    Shortcut("Zoom", "+ / -", "Zoom in or out on the selected or large camera"),
    Shortcut("Zoom", "Drag the picture", "Move around a zoomed picture"),
    Shortcut("Zoom", "Double-click / 0", "Show the whole picture again"),
    # replay
    Shortcut("Replay", "R", "Replay the last 30 seconds of the selected camera"),
    Shortcut("Replay", "Shift+R", "Replay the last 10 seconds of the selected camera"),
    Shortcut("Replay", "Esc", "Stop the replay and show the camera live again"),
    # alarms
    Shortcut("Alarms", "Ctrl+Shift+A", "Acknowledge every alarm that waits for someone", action="Ctrl+Shift+A"),
    Shortcut("Alarms", "Ctrl+Shift+H", "Open the alarm history", action="Ctrl+Shift+H"),
    # the window
    Shortcut("Window", "F1 / ?", "Show this list of keys", action="F1"),
    Shortcut("Window", "F11", "Wall mode: only the pictures, on the whole screen", action="F11"),
    Shortcut("Window", "Esc", "Leave wall mode"),
    Shortcut("Window", "Ctrl+M", "Add, change or remove cameras", action="Ctrl+M"),
    Shortcut("Window", "Ctrl+N", "Open this page in a new window (for a second monitor)", action="Ctrl+N"),
    Shortcut("Window", "Ctrl+H", "Open the history charts", action="Ctrl+H"),
    Shortcut("Window", "Ctrl+Q", "Quit Vigil (it asks first)", action="Ctrl+Q"),
)


def grouped(entries: tuple[Shortcut, ...] = SHORTCUTS) -> list[tuple[str, list[Shortcut]]]:
    """(group, entries) in GROUPS order, then any group a colleague added that GROUPS does not know yet
    (shown rather than lost), each group's entries in list order."""
    order = list(GROUPS) + [g for g in dict.fromkeys(e.group for e in entries) if g not in GROUPS]
    return [(g, [e for e in entries if e.group == g]) for g in order if any(e.group == g for e in entries)]

"""The dark control-room theme: Fusion style, a dark palette, and resources/theme.qss."""

from __future__ import annotations

import logging
import re

from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.paths import resource
from widgets.text_sizes import BASE_UI_PX, auto_ui_scale

log = logging.getLogger(__name__)


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#101317",
        QPalette.ColorRole.WindowText: "#e6e9ee",
        QPalette.ColorRole.Base: "#0d1014",
        QPalette.ColorRole.AlternateBase: "#161a20",
        QPalette.ColorRole.Text: "#e6e9ee",
        QPalette.ColorRole.Button: "#1e242c",
        QPalette.ColorRole.ButtonText: "#e6e9ee",
        QPalette.ColorRole.Highlight: "#2f74d0",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.ToolTipBase: "#161a20",
        QPalette.ColorRole.ToolTipText: "#e6e9ee",
        QPalette.ColorRole.PlaceholderText: "#6b7280",
    }
    for role, c in colors.items():
        pal.setColor(role, QColor(c))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b7280"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b7280"))
    app.setPalette(pal)
    qss = resource("theme.qss")
    try:
        app.setStyleSheet(qss.read_text(encoding="utf-8"))
    except OSError as e:  # a missing theme file must not stop the wall
        log.warning("theme %s not loaded: %s", qss, e)


_PX = re.compile(r"(\d+(?:\.\d+)?)px")


def scaled_stylesheet(qss: str, percent: int) -> str:
    """*qss* with every ``Npx`` (paddings, margins, borders, radii) scaled to *percent*; 1 px lines stay >= 1 px."""
    f = percent / 100.0
    return _PX.sub(lambda m: f"{max(1, round(float(m.group(1)) * f))}px", qss)


def apply_ui_scale(app: QApplication, percent: int) -> int:
    """The interface size: the application font (menus, docks, dialogs, status bar, alarm list: everything
    that does not size its own text) is ``BASE_UI_PX`` x *percent* / 100 pixels, and the theme's paddings
    scale with it. *percent* 0 = automatic from the primary screen (``text_sizes.auto_ui_scale``). Applied
    at start and from View ▸ Interface size at run time: Qt re-lays out every open window for the new font.
    Returns the percent applied.

    The wall's tiles are not scaled by this: their text follows the tile and the wall (``text_sizes``).
    """
    screen = app.primaryScreen()
    dpi = screen.logicalDotsPerInch() if screen is not None else 96.0
    if percent == 0:
        percent = auto_ui_scale(dpi, screen.geometry().height()) if screen is not None else 100
    percent = int(min(300, max(100, percent)))
    font = app.font()
    # set in points that make exactly the pixels wanted: widgets that scale their font by pointSizeF() keep
    # working (a font set by pixel size has no point size)
    font.setPointSizeF(max(8, round(BASE_UI_PX * percent / 100)) * 72.0 / (dpi or 96.0))
    app.setFont(font)
    # Qt tells the open widgets about a new application font only while exec() runs; before it (start-up,
    # tests) they would keep the old one. Told here as Qt would; twice while running costs one re-resolve.
    for w in app.allWidgets():
        QApplication.sendEvent(w, QEvent(QEvent.Type.ApplicationFontChange))
    qss = resource("theme.qss")
    try:
        app.setStyleSheet(scaled_stylesheet(qss.read_text(encoding="utf-8"), percent))
    except OSError as e:  # a missing theme file must not stop the wall
        log.warning("theme %s not loaded: %s", qss, e)
    log.info("interface size %d %%", percent)
    return percent

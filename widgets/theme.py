"""The dark control-room theme: Fusion style, a dark palette, and resources/theme.qss."""

from __future__ import annotations

import logging

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from app.paths import resource

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

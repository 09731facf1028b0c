"""install_alarm_ui / install_history_ui on the real MainWindow (pipelines not started)."""

from __future__ import annotations

from PySide6.QtWidgets import QMenu

from app.compose import add_alerts, add_store
from app.demo import demo_config
from app.paths import Paths
from app.runtime import Runtime
from widgets.alarm_panel import install_alarm_ui
from widgets.history_view import install_history_ui
from widgets.main_window import MainWindow


def test_alarm_and_history_ui_hook_into_main_window(qtbot, tmp_path):
    runtime = Runtime(config=demo_config(), paths=Paths.resolve(tmp_path / "vigil.json", tmp_path), demo=True)
    store = add_store(runtime)
    engine = add_alerts(runtime)
    store.start()
    window = None
    try:
        window = MainWindow(runtime)
        qtbot.addWidget(window)
        panel = install_alarm_ui(window, runtime)
        assert install_history_ui(window, runtime) is not None
        assert "Alarms" in window.docks and window.docks["Alarms"].widget() is panel
        titles = [a.text() for a in window.menuBar().actions()]
        assert any("Alarms" in t for t in titles) and any("Tools" in t for t in titles)
        cam = runtime.config.cameras[0]
        from app.pipeline.state import HealthSnapshot, StreamState

        engine._snapshots = lambda: {cam.id: HealthSnapshot(camera_id=cam.id, name=cam.name,
                                                            state=StreamState.OFFLINE, reason="refused")}  # fmt: skip
        engine.settings.debounce_s = 0
        engine._eval.debounce_s = 0
        engine.evaluate_once()
        qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1, timeout=10_000)
        menu = QMenu()
        for hook in window.tile_context_menu_hooks:
            hook(menu, cam.id)
        texts = [a.text() for a in menu.actions() if a.text()]
        assert "History…" in texts and "Acknowledge 1 alert(s)" in texts
        tile = next(t for t in window.wall.tiles if t.camera_id == cam.id)
        qtbot.waitUntil(lambda: getattr(tile, "alarm_color", None) is not None, timeout=10_000)
        panel.shutdown()
    finally:
        if window is not None:
            window.shutdown()
        store.stop()

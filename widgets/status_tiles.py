"""Status tiles: streams the wall knows only from a probe (a video-analytics server's API), no Qt.

``ProbeResults.snapshots()`` turns each ``analytics_stream`` result into a ``HealthSnapshot`` with an
``api:`` id. The wall shows them after the cameras, as tiles without a picture: name, state badge,
the API's own state word, fps, frame size and the API's ``last_error_msg``.

A server whose ``/streams`` list fails loses its stream results (the probe replaces all its results at
once), so its streams would silently vanish from the wall. Instead the server itself gets one status
tile (``api-server:<label>``, ERROR, the reason in words) until it answers again.
"""

from __future__ import annotations

from app.pipeline.state import HealthSnapshot, StreamState

SERVER_PREFIX = "api-server:"


def _server_tile(r) -> HealthSnapshot:
    return HealthSnapshot(
        camera_id=f"{SERVER_PREFIX}{r.target}",
        name=f"Analytics server {r.target}",
        group=r.labels.get("source_host", ""),
        state=StreamState.ERROR,
        state_since=r.at,
        reason=r.error or "the analytics API did not answer",
        last_error=r.error,
        extra={"source": "analytics_api", "state_text": r.state or "API_ERROR"},
    )


def status_snapshots(results) -> dict[str, HealthSnapshot]:
    """Status tiles from a ``ProbeResults`` (or None), in wall order: by server, then name, then id.

    Never raises: a results object without ``snapshots()`` (or one that fails) gives no tiles.
    """
    if results is None:
        return {}
    try:
        tiles = dict(results.snapshots())
        servers = [r for r in results.of_kind("analytics_server") if not r.ok]
    except Exception:  # the wall must keep painting whatever a probe store does
        return {}
    for r in servers:
        snap = _server_tile(r)
        tiles[snap.camera_id] = snap
    order = sorted(tiles, key=lambda k: (tiles[k].group, not k.startswith(SERVER_PREFIX), tiles[k].name, k))
    return {k: tiles[k] for k in order}

"""Recording by stream copy into short crash-safe segments (recorder.py), their names and index
(segments.py), retention (retention.py), clip export and snapshots (export.py), playback (playback.py)."""

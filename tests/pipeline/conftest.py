"""Helpers for pipeline tests: wait for a state without fixed sleeps (CPU here is shared and slow)."""

from __future__ import annotations

import pytest

from app.pipeline.pipeline import CameraPipeline, PipelineOptions
from app.pipeline.state import StreamState
from tests.helpers import wait_for


def wait_state(p: CameraPipeline, *states: StreamState, timeout: float = 30.0):
    def check():
        snap = p.snapshot()
        return snap if snap.state in states else None

    snap = p.snapshot()
    what = f"{p.camera_id} to be {'/'.join(states)} (was {snap.state}: {snap.reason})"
    return wait_for(check, timeout, what=what)


FAST = PipelineOptions(open_timeout_s=5, read_timeout_s=4, stall_after_s=2, backoff_initial_s=0.2, backoff_cap_s=1.0)


@pytest.fixture
def make_pipeline():
    made: list[CameraPipeline] = []

    def make(url: str, camera_id: str = "cam", options: PipelineOptions = FAST, box=(320, 180)) -> CameraPipeline:
        p = CameraPipeline(camera_id, camera_id.title(), url, options=options)
        if box:
            p.set_output_size(*box)
        made.append(p)
        p.start()
        return p

    yield make
    for p in made:
        p.stop()

"""Alarm states after ISA-18.2 / IEC 62682: an alarm leaves the operator's list only when it is both
acknowledged and cleared; shelving silences one alarm for a while; the states survive a restart and reach
Alertmanager with the condition's own end time."""

from __future__ import annotations

import itertools

import pytest

from app.alerts import AlertEngine, AlertError, AlertEvaluator, AlertStatus
from app.alerts.rules import DEFAULT_RULES, observe_snapshot
from app.alerts.sinks import alertmanager_alert
from app.config import AlertSettings
from app.pipeline.state import HealthSnapshot, StreamState
from app.store import Store, repository
from app.store.db import sqlite_url
from tests.helpers import wait_for

OFFLINE = HealthSnapshot(camera_id="gate", name="Gate", group="Depot", state=StreamState.OFFLINE, reason="refused")


def down():
    return list(observe_snapshot(OFFLINE, DEFAULT_RULES))


def gone(ev: AlertEvaluator, t: float) -> list:
    """The condition is absent from *t* on: the events once it has been clear for clear_s (10 s)."""
    assert ev.evaluate(t, []) == []
    return ev.evaluate(t + 10, [])


def make(debounce=0.0, clear=10.0):
    ids = (f"a{i}" for i in itertools.count(1))
    return AlertEvaluator(debounce, clear, id_factory=lambda: next(ids))


def test_acknowledged_alarm_closes_when_its_condition_clears():
    ev = make()
    (fired,) = ev.evaluate(0, down())
    assert fired.alert.status is AlertStatus.ACTIVE and fired.alert.needs_attention
    ack = ev.acknowledge(fired.alert.id, "Dewi", "site called", 5)
    assert ack.alert.status is AlertStatus.ACKNOWLEDGED and not ack.alert.needs_attention
    assert ack.alert.condition_active and ev.open_alerts() == (ack.alert,)  # still in the list: still down
    (res,) = gone(ev, 10)
    assert res.kind == "resolved" and res.alert.status is AlertStatus.RESOLVED
    assert (res.alert.cleared_at, res.alert.resolved_by, res.alert.resolve_note) == (20, "auto", "condition cleared")
    assert ev.open_alerts() == ()


def test_cleared_unacknowledged_alarm_that_returns_is_the_same_alarm_again():
    ev = make()
    (fired,) = ev.evaluate(0, down())
    (cleared,) = gone(ev, 10)
    assert cleared.kind == "cleared" and cleared.alert.status.words == "cleared, unacknowledged"
    (back,) = ev.evaluate(50, down())
    assert back.kind == "fired" and back.alert.id == fired.alert.id
    assert back.alert.status is AlertStatus.ACTIVE and back.alert.cleared_at is None
    assert back.alert.started_at == fired.alert.started_at  # one alarm for the whole story
    ack = ev.acknowledge(fired.alert.id, "Dewi", "", 60)  # the returned alarm is acknowledged as itself
    assert ack.kind == "acknowledged" and ack.alert.acknowledged_by == "Dewi"
    with pytest.raises(AlertError, match="already acknowledged"):
        ev.acknowledge(fired.alert.id, "Budi", "", 61)


def test_shelved_alarm_is_silent_until_the_shelf_expires_then_needs_attention_again():
    ev = make()
    (fired,) = ev.evaluate(0, down())
    with pytest.raises(AlertError, match="future"):
        ev.shelve(fired.alert.id, 5, "Dewi", "maintenance", 10)
    sh = ev.shelve(fired.alert.id, 600, "Dewi", "camera under maintenance", 10)
    assert sh.kind == "shelved" and sh.alert.shelved and not sh.alert.needs_attention
    assert (sh.alert.shelved_by, sh.alert.shelve_note) == ("Dewi", "camera under maintenance")
    assert ev.evaluate(300, down()) == []
    (un,) = ev.evaluate(600, down())
    assert un.kind == "unshelved" and un.alert.needs_attention and un.alert.id == fired.alert.id


def test_alarm_that_clears_while_shelved_closes():
    ev = make()
    (fired,) = ev.evaluate(0, down())
    ev.shelve(fired.alert.id, 3600, "Dewi", "known outage", 1)
    (res,) = gone(ev, 10)
    assert res.kind == "resolved" and res.alert.resolve_note == "cleared while shelved"
    assert ev.open_alerts() == ()


def test_acknowledging_an_alarm_unshelves_it_and_a_stale_alarm_is_found():
    ev = make()
    (fired,) = ev.evaluate(0, down())
    ev.shelve(fired.alert.id, 3600, "Dewi", "", 1)
    a = ev.acknowledge(fired.alert.id, "Budi", "", 2).alert
    assert not a.shelved and a.status is AlertStatus.ACKNOWLEDGED
    assert not a.is_stale(3600, 86_400) and a.is_stale(86_400, 86_400)
    with pytest.raises(AlertError, match="not shelved"):
        ev.unshelve(fired.alert.id, "Budi", 3)


def test_alertmanager_gets_the_condition_end_while_the_alarm_waits_for_acknowledgement():
    ev = make()
    (fired,) = ev.evaluate(1_700_000_000, down())
    (cleared,) = gone(ev, 1_700_000_000)
    body = alertmanager_alert(cleared.alert, instance="vigil@test")
    assert body["endsAt"] == "2023-11-14T22:13:30.000Z" and body["annotations"]["status"] == "cleared"
    assert "endsAt" not in alertmanager_alert(fired.alert, instance="vigil@test")
    res = ev.acknowledge(fired.alert.id, "Dewi", "", 1_700_000_500).alert
    assert alertmanager_alert(res, instance="vigil@test")["endsAt"] == "2023-11-14T22:13:30.000Z"  # not the ack time


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_cleared_and_shelved_states_survive_a_restart_through_the_store(tmp_path):
    clock = Clock()
    url = sqlite_url(tmp_path / "history.sqlite3")
    snaps = {"gate": OFFLINE}
    store = Store(url)
    store.start()
    try:
        e1 = AlertEngine(AlertSettings(debounce_s=0, clear_s=5), lambda: snaps, store, sinks=[], clock=clock)
        (fired,) = e1.evaluate_once(clock.t)
        other = HealthSnapshot(camera_id="dock", name="Dock", state=StreamState.OFFLINE, reason="refused")
        snaps["dock"] = other
        (dock,) = [e for e in e1.evaluate_once(clock.t + 1) if e.kind == "fired"]
        e1.shelve(dock.alert.id, 60, "Dewi", "cable works")
        snaps.pop("gate")
        clock.t += 1
        e1.evaluate_once(clock.t)
        clock.t += 6
        (cleared,) = e1.evaluate_once(clock.t)
        assert cleared.kind == "cleared"
        assert store.flush(30)
        rows = {r.id: r for r in store.query(repository.open_alerts).result(30)}
        assert rows[fired.alert.id].status == "cleared" and rows[fired.alert.id].cleared_at == clock.t
        assert (rows[dock.alert.id].shelved_by, rows[dock.alert.id].shelve_note) == ("Dewi", "cable works")
    finally:
        store.stop()
    store2 = Store(url)
    store2.start()
    try:
        e2 = AlertEngine(AlertSettings(debounce_s=0, clear_s=5), lambda: {"dock": other}, store2, sinks=[],
                         clock=clock)  # fmt: skip
        e2.start()
        try:
            wait_for(lambda: len(e2.active()) == 2, what="both alarms adopted after the restart")
            by_id = {a.id: a for a in e2.active()}
            assert by_id[fired.alert.id].status is AlertStatus.CLEARED and by_id[fired.alert.id].needs_attention
            assert by_id[dock.alert.id].shelved and not by_id[dock.alert.id].needs_attention
            assert e2.evaluate_once(clock.t + 30) == []  # a cleared alarm waits for its acknowledgement
            closed = e2.acknowledge(fired.alert.id, "Budi")
            assert closed.status is AlertStatus.RESOLVED and [a.id for a in e2.active()] == [dock.alert.id]
        finally:
            e2.stop()
    finally:
        store2.stop()

"""TaskRunner: work on named worker threads, outcomes on the GUI thread, nothing delivered to a dead owner."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QThread
from PySide6.QtWidgets import QWidget

from widgets.tasks import TaskRunner

WAIT = 5_000


@pytest.fixture
def owner(qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    return w


@pytest.fixture
def release():
    """An event the test's tasks block on; set at teardown so no worker outlives the test."""
    ev = threading.Event()
    yield ev
    ev.set()


def on_gui_thread() -> bool:
    return QThread.currentThread() == QCoreApplication.instance().thread() and (
        threading.current_thread() is threading.main_thread()
    )


def test_result_is_handed_over_on_the_gui_thread_and_the_work_ran_on_a_named_worker(qtbot, owner):
    tasks = TaskRunner(parent=owner, name="ui:test")
    seen = {}

    def work():
        seen["worker"] = threading.current_thread().name
        seen["worker_on_gui"] = on_gui_thread()
        return 42

    def done(result):
        seen["result"] = result
        seen["done_on_gui"] = on_gui_thread()

    with qtbot.waitSignal(tasks.settled, timeout=WAIT):
        fut = tasks.run(work, done)
    assert seen == {"worker": "ui:test-1", "worker_on_gui": False, "result": 42, "done_on_gui": True}
    assert fut.result(0) == 42


def test_an_error_goes_to_on_error_on_the_gui_thread_and_without_one_it_is_logged(qtbot, owner, caplog):
    tasks = TaskRunner(parent=owner, name="ui:test")
    done, errors = [], []

    def fail():
        raise OSError("disk full")

    with qtbot.waitSignal(tasks.settled, timeout=WAIT):
        tasks.run(fail, done.append, lambda e: errors.append((e, on_gui_thread())))
    assert done == [] and len(errors) == 1
    exc, gui = errors[0]
    assert isinstance(exc, OSError) and str(exc) == "disk full" and gui
    with caplog.at_level(logging.ERROR, logger="widgets.tasks"), qtbot.waitSignal(tasks.settled, timeout=WAIT):
        tasks.run(fail, done.append)  # no on_error: the failure is never lost
    assert done == [] and any("fail failed" in r.getMessage() and r.exc_info for r in caplog.records)


def test_delivery_is_queued_even_when_the_future_is_already_done(qtbot, owner):
    tasks = TaskRunner(parent=owner)
    fut: Future = Future()
    fut.set_result("ready")
    got = []
    with qtbot.waitSignal(tasks.settled, timeout=WAIT):
        tasks.when_done(fut, got.append)
        assert got == []  # never inside the registering call: the caller may still be setting up
    assert got == ["ready"]


def test_call_on_gui_from_a_foreign_thread_runs_on_the_gui_thread(qtbot, owner):
    tasks = TaskRunner(parent=owner)
    calls = []
    with qtbot.waitSignal(tasks.settled, timeout=WAIT):
        t = threading.Thread(target=lambda: tasks.call_on_gui(lambda a, b: calls.append((a, b, on_gui_thread())), 1, 2))
        t.start()
        t.join()
    assert calls == [(1, 2, True)]


def test_one_worker_runs_tasks_in_order_and_leaves_no_thread_behind(qtbot, owner):
    tasks = TaskRunner(parent=owner, name="ui:order", max_workers=1)
    order, ran_on = [], set()

    def job(i):
        def work():
            ran_on.add(threading.current_thread().name)
            time.sleep(0.01)
            return i

        return work

    futs = [tasks.run(job(i), order.append) for i in range(5)]
    qtbot.waitUntil(lambda: len(order) == 5, timeout=WAIT)
    assert order == [0, 1, 2, 3, 4] and [f.result(0) for f in futs] == order
    assert len(ran_on) == 1  # one worker at a time: lock, export, snapshot never overtake each other
    qtbot.waitUntil(lambda: not any(t.name.startswith("ui:order") for t in threading.enumerate()), timeout=WAIT)


class Panel(QWidget):
    """A widget of the app's kind: a Python subclass that owns its runner."""

    def __init__(self) -> None:
        super().__init__()
        self.tasks = TaskRunner(parent=self, name="ui:dying")
        self.shown: list[str] = []

    def show_result(self, words: str) -> None:
        self.shown.append(words)
        self.setWindowTitle(words)  # touches the C++ object: would raise if it were deleted


@pytest.mark.parametrize("how", ["delete", "deleteLater"])
def test_the_outcome_is_dropped_when_the_owner_widget_was_deleted_first(qtbot, release, caplog, how):
    parent = Panel()
    tasks = parent.tasks
    mailbox = tasks._mailbox
    started = threading.Event()
    called = []

    def work():
        started.set()
        release.wait(WAIT / 1000)
        return "late"

    fut = tasks.run(work, parent.show_result, called.append)
    assert started.wait(WAIT / 1000)
    # the window is closed and deleted while the task still runs
    if how == "delete":
        shiboken6.delete(parent)
    else:
        parent.deleteLater()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(tasks) and not mailbox.is_open
    with caplog.at_level(logging.DEBUG, logger="widgets.tasks"):
        release.set()
        assert fut.result(WAIT / 1000) == "late"
        qtbot.wait(100)  # any (wrongly) queued delivery would run here
    assert called == [] and parent.shown == []
    assert any("runner is closed" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_callback_of_another_owner_that_was_deleted_is_dropped(qtbot, owner, release):
    tasks = TaskRunner(parent=owner)  # the window's runner; the callback belongs to a dialog
    dialog = QObject()
    called = []
    fut = tasks.run(lambda: release.wait(WAIT / 1000) and "late", called.append, owner=dialog)
    shiboken6.delete(dialog)
    with qtbot.waitSignal(tasks.settled, timeout=WAIT):
        release.set()
    assert fut.result(0) == "late" and called == []
    # the runner itself still works for its other callbacks
    with qtbot.waitSignal(tasks.settled, timeout=WAIT):
        tasks.run(lambda: "next", called.append)
    assert called == ["next"]


def test_shutdown_returns_at_once_while_a_task_sleeps_and_its_outcome_is_not_delivered(qtbot, owner, release):
    tasks = TaskRunner(parent=owner, name="ui:slow")
    called = []
    fut = tasks.run(lambda: release.wait(30) and "exported", called.append, called.append)
    t0 = time.monotonic()
    assert tasks.shutdown(wait=False) is False  # a worker is still busy
    assert time.monotonic() - t0 < 0.1
    t0 = time.monotonic()
    assert tasks.shutdown(wait=True, timeout_s=0.2) is False  # bounded: never waits for the export
    assert time.monotonic() - t0 < 1.0
    assert tasks.is_shut_down and not fut.done()
    with pytest.raises(RuntimeError, match="shut down"):
        tasks.run(lambda: None, called.append)
    release.set()
    assert fut.result(WAIT / 1000) == "exported"  # the work itself finished on its thread
    assert tasks.shutdown(wait=True, timeout_s=WAIT / 1000) is True
    qtbot.wait(100)
    assert called == []


def test_shutdown_can_cancel_queued_work(qtbot, owner, release):
    tasks = TaskRunner(parent=owner, max_workers=1)
    started = threading.Event()
    running = tasks.run(lambda: started.set() or release.wait(30), None)
    queued = tasks.run(lambda: "never", None)
    assert started.wait(WAIT / 1000)
    tasks.shutdown(cancel_queued=True)
    assert queued.cancelled() and not running.done()
    release.set()
    assert running.result(WAIT / 1000) is True


def test_a_runner_needs_an_owner():
    with pytest.raises(ValueError, match="needs a parent"):
        TaskRunner(parent=None)  # type: ignore[arg-type]

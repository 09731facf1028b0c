"""Background work with its outcome handed back on the GUI thread: the one helper every widget uses.

Anki's TaskManager idea (``qt/aqt/taskman.py``) in Vigil's shape: a :class:`TaskRunner` belongs to one
QObject (its parent, "the owner") and offers three ways onto the GUI thread::

    tasks = TaskRunner(parent=self, name="ui:player")
    tasks.run(fn, on_done, on_error)          # fn() on a worker thread, on_done(result) / on_error(exc) on the GUI
    tasks.when_done(future, on_done, ...)     # a Future made elsewhere (store reader, config saver)
    tasks.call_on_gui(fn, *args)              # from any thread: fn(*args) on the GUI thread (subscriptions)

Threads (``run`` only): at most ``max_workers`` named threads (``ui:player-1``), started when work
arrives and gone as soon as the queue is empty, so an idle runner holds no thread and the process
never waits at exit on a thread that merely sleeps. ``daemon=True`` is for work that may be abandoned
at exit (a connection test); file writes keep the default, so an export that is running finishes
before the process ends. With one worker, tasks run in the order they were given.

Delivery is always queued, also when the Future is already done or the caller is on the GUI thread: a
callback never runs inside the call that registered it (a caller may still be setting up the state
the callback reads).

The races this module exists for:

* **The owner goes away first.** A worker that emits a signal of a deleted QObject raises "Signal
  source has been deleted" (or worse, emits while Qt is destroying it). So a worker emits only while
  holding the mailbox lock and only while the mailbox is open; the GUI thread closes the mailbox under
  that lock when the owner's ``destroyed`` fires (before Qt deletes its children, this runner among
  them) and on :meth:`TaskRunner.shutdown`. Once ``close()`` returns no worker is inside ``emit`` and
  none will enter it. Results that arrive later are dropped (logged at debug), never delivered into a
  half-destroyed widget.
* **A callback whose owner is another, shorter-lived object** (``owner=dialog`` on a runner of the
  window): the owner is held weakly and checked with ``shiboken6.isValid`` on the GUI thread, where
  widgets are deleted, so the check cannot race the deletion.
* **Where Python objects die.** Callbacks (bound methods keep their widget alive) are kept in the
  mailbox on the GUI side, keyed by a task number; workers carry only the number and the outcome. So
  the last reference to a widget is never dropped on a worker thread (deleting a QWidget there is
  undefined behaviour in Qt).
* **Closing a window while an export runs.** :meth:`TaskRunner.shutdown` never joins for longer than
  ``timeout_s`` (and not at all with ``wait=False``): the worker finishes its file, nobody is told.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Future
from dataclasses import dataclass
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal

log = logging.getLogger(__name__)

SHUTDOWN_WAIT_S = 1.0  # the longest shutdown(wait=True) blocks the GUI thread by default


@dataclass(frozen=True)
class _Callbacks:
    """What to call on the GUI thread when task *n* ends; kept on the GUI side (see the module docstring)."""

    on_done: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None
    owner: weakref.ref | None  # None: the runner's parent, whose death closes the mailbox anyway
    what: str  # for the log line of a dropped or unhandled outcome


@dataclass(frozen=True)
class _Outcome:
    """Worker -> GUI: task *task* ended with *value* (ok) or *error*."""

    task: int
    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class _Call:
    """Any thread -> GUI: call ``fn(*args)`` (``call_on_gui``)."""

    fn: Callable[..., None]
    args: tuple
    owner: weakref.ref | None


class _Mailbox:
    """The lock that orders worker posts against the GUI thread closing the runner, and the callbacks.

    Pure Python on purpose: the owner's ``destroyed`` signal is connected to :meth:`close`, a method of
    an object Qt does not destroy, so it runs even while the runner's own wrapper is being torn down.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open = True
        self._next = 0
        self._waiting: dict[int, _Callbacks] = {}

    @property
    def is_open(self) -> bool:
        return self._open

    def register(self, callbacks: _Callbacks) -> int | None:
        """GUI thread: file *callbacks*; their task number, or None when closed (nothing will be told)."""
        with self._lock:
            if not self._open:
                return None
            self._next += 1
            self._waiting[self._next] = callbacks
            return self._next

    def post(self, emit: Callable[[object], None], item: object) -> bool:
        """Any thread: ``emit(item)`` unless closed. The lock is held across the (queued, quick) emit."""
        with self._lock:
            if not self._open:
                return False
            emit(item)
            return True

    def take(self, task: int) -> _Callbacks | None:
        """GUI thread: the callbacks of *task*, removed; None when closed or already taken."""
        with self._lock:
            return self._waiting.pop(task, None) if self._open else None

    def close(self, *_destroyed_args: object) -> None:
        """GUI thread (shutdown, or the owner's ``destroyed``). Idempotent."""
        with self._lock:
            self._open = False
            dropped, self._waiting = self._waiting, {}
        del dropped  # the callbacks (and the widgets they hold) go here, on the GUI thread, outside the lock


class _Workers:
    """At most *max_workers* threads named ``{name}-{n}``, started when work arrives, gone when it is done.

    A thread leaves as soon as it finds the queue empty; the check and the exit happen under the same
    lock as ``submit``'s "is a thread free?", so a job is never left queued with no thread to run it.
    """

    def __init__(self, name: str, max_workers: int, daemon: bool) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.name = name
        self.max_workers = max_workers
        self.daemon = daemon
        self._lock = threading.Lock()
        self._all_gone = threading.Condition(self._lock)
        self._jobs: deque[tuple[Future, Callable[[], Any]]] = deque()
        self._threads: set[threading.Thread] = set()
        self._started = 0
        self._accepting = True

    def submit(self, fn: Callable[[], Any]) -> Future:
        fut: Future = Future()
        with self._lock:
            if not self._accepting:
                raise RuntimeError(f"{self.name}: the task runner is shut down")
            self._jobs.append((fut, fn))
            if len(self._threads) < self.max_workers:  # every running thread is busy: add one
                self._started += 1
                t = threading.Thread(target=self._work, name=f"{self.name}-{self._started}", daemon=self.daemon)
                self._threads.add(t)
                t.start()
        return fut

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                if not self._jobs:
                    self._threads.discard(me)
                    self._all_gone.notify_all()
                    return
                fut, fn = self._jobs.popleft()
            if fut.set_running_or_notify_cancel():
                try:
                    result = fn()
                except BaseException as e:  # handed to on_error (or logged): a worker never dies of it
                    fut.set_exception(e)
                else:
                    fut.set_result(result)
                    del result
            del fut, fn

    def stop(self, cancel_queued: bool) -> None:
        """No new work. Queued work still runs unless *cancel_queued*; running work always finishes."""
        with self._lock:
            self._accepting = False
            cancelled = list(self._jobs) if cancel_queued else []
            if cancel_queued:
                self._jobs.clear()
        for fut, _fn in cancelled:
            fut.cancel()

    def join(self, timeout_s: float) -> bool:
        """Wait at most *timeout_s* for every thread to finish. True when none is left."""
        with self._lock:
            return self._all_gone.wait_for(lambda: not self._threads, timeout=max(0.0, timeout_s))

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._threads)


class TaskRunner(QObject):
    """Runs work off the GUI thread and hands each outcome to its callback on the GUI thread.

    *parent* is required: it is the owner whose end drops every outcome still on its way, and it makes
    Qt (not a worker thread holding the last reference) responsible for deleting the runner. Create and
    call it on the GUI thread, except :meth:`call_on_gui`, which any thread may call.
    """

    settled = Signal()  # GUI thread: after each outcome was handed to its callback (or dropped); for tests
    _ready = Signal(object)  # worker -> GUI thread, queued: an _Outcome or a _Call

    def __init__(self, parent: QObject, *, name: str = "ui:task", max_workers: int = 1, daemon: bool = False) -> None:
        if parent is None:
            raise ValueError("a TaskRunner needs a parent: the QObject its callbacks belong to")
        super().__init__(parent)
        self.name = name
        self._mailbox = _Mailbox()
        self._workers = _Workers(name, max_workers, daemon)
        self._emit = self._ready.emit
        self._ready.connect(self._deliver, Qt.ConnectionType.QueuedConnection)
        # Qt emits the parent's destroyed before it deletes its children (this runner): from then on no
        # worker may emit on us. The mailbox is plain Python, so this runs however far teardown has got.
        parent.destroyed.connect(self._mailbox.close)
        self.destroyed.connect(self._mailbox.close)

    # ------------------------------------------------------------------ API (GUI thread)
    def run(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None = None,
        *,
        owner: QObject | None = None,
    ) -> Future:
        """``fn()`` on a worker; then ``on_done(result)`` or ``on_error(exc)`` on the GUI thread.

        Without *on_error* a failure is logged with its traceback (never lost). *owner*: the callbacks
        are dropped if it was destroyed meanwhile (default: this runner's parent). The returned Future
        holds the result too (tests, or a caller that must know when the work is over). Raises
        RuntimeError after :meth:`shutdown`.
        """
        fut = self._workers.submit(fn)
        self.when_done(fut, on_done, on_error, owner=owner, what=_describe(fn))
        return fut

    def when_done(
        self,
        future: Future,
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[BaseException], None] | None = None,
        *,
        owner: QObject | None = None,
        what: str | None = None,
    ) -> None:
        """Hand *future*'s outcome to ``on_done`` / ``on_error`` on the GUI thread (as :meth:`run` does).

        For Futures of other executors (the store's reader, the config saver). A cancelled Future tells
        nobody. After :meth:`shutdown` nothing is registered and nothing will be told. *what* names the
        work in log lines (default: the callback's name).
        """
        what = what or _describe(on_done if on_done is not None else on_error)
        task = self._mailbox.register(_Callbacks(on_done, on_error, _weak(owner), what))
        if task is None:
            log.debug("%s: shut down, %s will not be told", self.name, what)
            return
        mailbox, emit, name = self._mailbox, self._emit, self.name  # the worker's closure holds no widget

        def hop(f: Future) -> None:  # on the thread that completed f (or here, when it is already done)
            try:
                outcome = _Outcome(task, value=f.result())
            except CancelledError:
                return
            except BaseException as e:
                outcome = _Outcome(task, error=e)
            if not mailbox.post(emit, outcome):
                log.debug("%s: dropped the outcome of %s: the runner is closed", name, what)

        future.add_done_callback(hop)

    def call_on_gui(self, fn: Callable[..., None], *args: Any, owner: QObject | None = None) -> None:
        """Any thread: ``fn(*args)`` on the GUI thread, soon; dropped after shutdown or the owner's end."""
        if not self._mailbox.post(self._emit, _Call(fn, args, _weak(owner))):
            log.debug("%s: dropped a call of %s: the runner is closed", self.name, _describe(fn))

    def shutdown(self, wait: bool = False, timeout_s: float = SHUTDOWN_WAIT_S, cancel_queued: bool = False) -> bool:
        """Stop: no callback runs from now on and :meth:`run` refuses new work. Idempotent.

        Work already given keeps running on its threads (queued work too, unless *cancel_queued*): a
        half-written export or a lock request that was asked for still completes. With *wait*, block
        at most *timeout_s* for the threads; never longer, so closing a window never waits on a slow
        export. True when no worker thread is left.
        """
        self._mailbox.close()
        self._workers.stop(cancel_queued)
        if wait:
            return self._workers.join(timeout_s)
        return not self._workers.busy

    @property
    def is_shut_down(self) -> bool:
        return not self._mailbox.is_open

    # ------------------------------------------------------------------ GUI thread
    def _deliver(self, item: object) -> None:
        try:
            if isinstance(item, _Call):
                if not self._mailbox.is_open:
                    log.debug("%s: dropped a call of %s: the runner was shut down", self.name, _describe(item.fn))
                elif not _owner_alive(item.owner):
                    log.debug("%s: dropped a call of %s: its owner is gone", self.name, _describe(item.fn))
                else:
                    item.fn(*item.args)
                return
            assert isinstance(item, _Outcome)
            cb = self._mailbox.take(item.task)
            if cb is None:
                log.debug("%s: dropped an outcome: the runner was shut down", self.name)
            elif not _owner_alive(cb.owner):
                log.debug("%s: dropped the outcome of %s: its owner is gone", self.name, cb.what)
            elif item.error is None:
                if cb.on_done is not None:
                    cb.on_done(item.value)
            elif cb.on_error is not None:
                cb.on_error(item.error)
            else:
                log.error("%s: %s failed", self.name, cb.what, exc_info=item.error)
        finally:
            self.settled.emit()


def _weak(owner: QObject | None) -> weakref.ref | None:
    return None if owner is None else weakref.ref(owner)


def _owner_alive(owner: weakref.ref | None) -> bool:
    if owner is None:
        return True  # the runner's parent: alive, or this runner would not be delivering
    obj = owner()
    return obj is not None and shiboken6.isValid(obj)


def _describe(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)

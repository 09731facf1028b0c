"""``ProbeScheduler``: every probe on two bounded lanes of threads; a slow target cannot starve the others.

Threads::

    probes:scheduler ─ due? ──> fast lane  probes:worker-N  (``workers`` serving threads, shared by all)
          │                └──> slow lane  probes:slow-N    (``slow_workers``; targets that were slow)
          └─ every 0.2 s: a fast-lane task running > slow_after_s  -> its thread is written off, a new
                          worker replaces it, the probe moves to the slow lane
                          a run past its run limit (run_limit_s)  -> a "too slow" failed result is stored
                          (it alerts); the thread is written off and replaced

* A probe is never run twice at once (a slow cycle delays its next run instead of piling up), so a target
  that hangs holds at most one thread, however long it hangs, and the fast lane keeps ``workers`` threads
  serving the healthy targets whatever number of targets hang. Extra threads are bounded: a written-off
  thread belongs to one unfinished run (at most one per probe, plus the helpers that run had started) and
  ends when that run returns. Network reads end at their own deadline (``probes.http``), so a written-off
  thread normally ends within the probe's deadline; the run limit is the backstop for what no socket
  deadline covers (a name lookup, a probe bug).
* The slow lane runs a probe's fan-out (``ctx.map``) in the probe's own thread: a slow target occupies
  one thread there. A probe that completes within ``slow_after_s`` goes back to the fast lane.
* :meth:`stop` is bounded by ``stop_timeout_s``: it sets the stop flag, cancels queued runs, closes every
  probe (which cuts their requests in flight: ``probes.http.BoundedAdapter.close``) and waits for the
  lanes' threads at most that long. Threads are daemons: one still blocked (in the C resolver) is named
  in the log and never holds the process's exit.
* :meth:`remove` / :meth:`replace_all` run on the GUI thread (a config change, ``Runtime.apply_config``):
  they never wait more than ``remove_wait_s`` (0.5 s) for the removed probes' ``close()``, which runs on a
  helper thread like the stop's. A run of a removed probe sees ``ctx.stopping`` (it ends at its next
  stop check, its fan-out stops) and stores nothing.

Fan-out inside a probe (the HLS renditions) goes through :meth:`_Context.map`, which shares work between
the calling thread and helper tasks on the *same* lane. The caller always drains the work queue itself,
so a saturated lane degrades to sequential work instead of a deadlock (helpers that never started are
cancelled, not waited for). No GUI thread is involved. docs/probes.md has the measurements.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass

from probes.base import Probe, ProbeResult, ProbeResults, ProbeStopped

log = logging.getLogger(__name__)

ResultListener = Callable[[Probe, list[ProbeResult]], None]

_SUPERVISE_S = 0.2  # how often running tasks are checked against slow_after_s and their run limit


@dataclass
class _Task:
    future: Future
    fn: Callable[[], object]
    label: str  # the probe's name (its run or one of its fan-out helpers)
    started: float = 0.0  # time.monotonic() when a thread took it
    written_off: bool = False


class _Lane:
    """An elastic pool of daemon threads over one queue: ``size`` threads serve; a thread whose task was
    written off (:meth:`write_off`) finishes that task and ends, and a new thread takes its place."""

    def __init__(self, prefix: str, size: int) -> None:
        self.prefix = prefix
        self.size = max(1, size)
        self._cond = threading.Condition()
        self._queue: deque[_Task] = deque()
        self._busy: dict[threading.Thread, _Task] = {}
        self._threads: set[threading.Thread] = set()
        self._serving = 0
        self._closed = False
        self._ids = itertools.count()
        self.written_off_total = 0

    def submit(self, fn: Callable[[], object], label: str = "") -> Future:
        fut: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("lane shut down")
            self._queue.append(_Task(fut, fn, label))
            busy = sum(1 for t in self._busy.values() if not t.written_off)
            if self._serving - busy - len(self._queue) < 0 and self._serving < self.size:  # no idle thread for it
                self._spawn()
            self._cond.notify()
        return fut

    def _spawn(self) -> None:  # with self._cond held
        t = threading.Thread(target=self._work, name=f"{self.prefix}-{next(self._ids)}", daemon=True)
        self._threads.add(t)
        self._serving += 1
        t.start()

    def _work(self) -> None:
        me = threading.current_thread()
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    task = self._queue.popleft()
                    task.started = time.monotonic()
                    self._busy[me] = task
                if task.future.set_running_or_notify_cancel():
                    try:
                        task.future.set_result(task.fn())
                    except BaseException as e:
                        task.future.set_exception(e)
                with self._cond:
                    self._busy.pop(me, None)
                    if task.written_off:
                        return  # a replacement already serves in this thread's place
        finally:
            with self._cond:
                self._threads.discard(me)
                self._busy.pop(me, None)

    def running(self) -> list[tuple[threading.Thread, _Task]]:
        with self._cond:
            return [(th, t) for th, t in self._busy.items() if not t.written_off]

    def write_off(self, thread: threading.Thread) -> bool:
        """Stop counting *thread* as serving (its task goes on; the thread ends with it); start a new one."""
        with self._cond:
            task = self._busy.get(thread)
            if task is None or task.written_off:
                return False
            task.written_off = True
            self._serving -= 1
            self.written_off_total += 1
            if not self._closed:
                self._spawn()
            return True

    def shutdown(self) -> None:
        """No new tasks; queued ones are cancelled; idle threads end (busy ones when their task returns)."""
        with self._cond:
            self._closed = True
            queued, self._queue = list(self._queue), deque()
            self._cond.notify_all()
        for t in queued:
            t.future.cancel()

    def threads(self) -> list[threading.Thread]:
        with self._cond:
            return [t for t in self._threads if t.is_alive()]


class _Context:
    def __init__(
        self, lane: _Lane | None, stop: threading.Event, label: str, gone: Callable[[], bool] | None = None
    ) -> None:
        self._lane = lane  # None: fan-out runs in the probe's own thread (the slow lane)
        self._stop = stop
        self._label = label
        self._gone = gone  # True once the probe was removed from the scheduler (or replaced)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() or (self._gone is not None and self._gone())

    def map(self, fn: Callable, items: list, parallelism: int) -> list:
        """``[fn(x) for x in items]`` with up to *parallelism* running at once; order kept."""
        n = len(items)
        if n == 0:
            return []
        results: list = [None] * n
        work: queue.SimpleQueue = queue.SimpleQueue()
        for i, x in enumerate(items):
            work.put((i, x))
        errors: list[BaseException] = []

        def drain() -> None:
            while not self.stopping:
                try:
                    i, x = work.get_nowait()
                except queue.Empty:
                    return
                try:
                    results[i] = fn(x)
                except BaseException as e:  # re-raised in the caller
                    errors.append(e)
                    return

        helpers: list[Future] = []
        for _ in range(min(parallelism, n) - 1 if self._lane is not None else 0):
            try:
                helpers.append(self._lane.submit(drain, self._label))
            except RuntimeError:  # lane shut down
                break
        drain()
        for f in helpers:
            f.cancel()  # never started: nothing to wait for (this is what prevents a deadlock)
        for f in helpers:
            if not f.cancelled():
                f.result()
        if errors:
            raise errors[0]
        if self.stopping and any(r is None for r in results):
            raise ProbeStopped
        return results


@dataclass
class _Run:
    probe: Probe
    lane: _Lane
    started: float  # time.monotonic() when its thread took it
    thread: threading.Thread
    reported: bool = False  # a "too slow" result was stored for this run


class ProbeScheduler:
    """Service (start/stop) running probes periodically on two bounded lanes (see the module docstring).

    *slow_after_s*: a run taking longer moves its probe to the slow lane (and its fast-lane thread is
    replaced at once). *run_limit_s*: a run without a result after this long is reported "too slow" (a
    probe may declare its own ``run_limit_s``). *stop_timeout_s*: the most :meth:`stop` waits for threads.
    *remove_wait_s*: the most :meth:`remove` and :meth:`replace_all` wait for the removed probes' close().
    """

    def __init__(
        self,
        workers: int = 8,
        results: ProbeResults | None = None,
        *,
        slow_workers: int | None = None,
        slow_after_s: float = 5.0,
        run_limit_s: float = 60.0,
        stop_timeout_s: float = 3.0,
        remove_wait_s: float = 0.5,
    ) -> None:
        self.workers = max(1, workers)
        self.slow_workers = max(1, slow_workers if slow_workers is not None else self.workers)
        self.slow_after_s = slow_after_s
        self.run_limit_s = run_limit_s
        self.stop_timeout_s = stop_timeout_s
        self.remove_wait_s = remove_wait_s
        self.results = results or ProbeResults()
        self._probes: dict[str, Probe] = {}
        self._due: dict[str, float] = {}
        self._running: dict[str, _Run | None] = {}  # None: submitted, not started yet
        self._slow: set[str] = set()  # probes whose next run goes to the slow lane
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._fast: _Lane | None = None
        self._slow_lane: _Lane | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[ResultListener] = []
        self.runs_total: dict[str, int] = {}
        self.failures_total: dict[str, int] = {}
        self.too_slow_total: dict[str, int] = {}  # runs reported "too slow" (past their run limit)

    # ---------------------------------------------------------------- configuration

    def add(self, probe: Probe, first_run_in: float = 0.0) -> None:
        with self._lock:
            self._probes[probe.name] = probe
            self._due[probe.name] = time.monotonic() + first_run_in
        self._wake.set()

    def remove(self, name: str) -> None:
        """Forget probe *name* and close it; bounded (``remove_wait_s``) whatever its target does."""
        self._remove([name])

    def replace_all(self, probes: Iterable[Probe]) -> None:
        new = {p.name: p for p in probes}
        self._remove([n for n in self.probes() if n not in new])  # one bounded wait for all their closes
        for p in new.values():
            if p.name not in self.probes():
                self.add(p)

    def _remove(self, names: list[str]) -> None:
        gone = []
        with self._lock:
            for name in names:
                probe = self._probes.pop(name, None)
                self._due.pop(name, None)
                self._slow.discard(name)
                if probe is not None:
                    gone.append(probe)
        for name in names:
            self.results.remove(name)
        if gone:
            # A run of a removed probe now sees ctx.stopping and stores nothing; close() also cuts its
            # requests in flight. On a helper thread: the caller is the GUI thread (apply_config), and a
            # close that waits for a batch against a trickling server must not freeze it.
            self._close_probes(gone, time.monotonic() + self.remove_wait_s, "probes:remove")

    def probes(self) -> dict[str, Probe]:
        with self._lock:
            return dict(self._probes)

    def slow_probes(self) -> set[str]:
        """Names of the probes whose next run goes to the slow lane."""
        with self._lock:
            return set(self._slow)

    def add_listener(self, listener: ResultListener) -> None:
        """*listener(probe, results)* runs on the probe's thread after each cycle (keep it short)."""
        self._listeners.append(listener)

    def threads(self) -> list[threading.Thread]:
        """Every thread the scheduler has running now (scheduler, serving and written-off)."""
        out = [t for lane in (self._fast, self._slow_lane) if lane is not None for t in lane.threads()]
        if self._thread is not None and self._thread.is_alive():
            out.append(self._thread)
        return out

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._fast = _Lane("probes:worker", self.workers)
        self._slow_lane = _Lane("probes:slow", self.slow_workers)
        self._thread = threading.Thread(target=self._loop, name="probes:scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Bounded: returns within about ``stop_timeout_s`` whatever the targets do (module docstring)."""
        t0 = time.monotonic()
        until = t0 + self.stop_timeout_s
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(max(0.1, until - time.monotonic()))
            self._thread = None
        lanes = [lane for lane in (self._fast, self._slow_lane) if lane is not None]
        for lane in lanes:
            lane.shutdown()
        self._close_probes(list(self.probes().values()), until, "probes:close")
        left = [t for lane in lanes for t in lane.threads()]
        for t in left:
            t.join(max(0.0, until - time.monotonic()))
        stuck = sorted(t.name for t in left if t.is_alive())
        if stuck:
            log.warning(
                "probes stopped after %.1f s; %d thread(s) still blocked are left to end on their own: %s",
                time.monotonic() - t0,
                len(stuck),
                ", ".join(stuck),
            )
        else:
            log.info("probes stopped in %.1f s", time.monotonic() - t0)
        self._fast = self._slow_lane = None

    def _close_probes(self, probes: list[Probe], until: float, thread_name: str) -> None:
        """close() *probes* (cuts requests in flight), on a helper thread: a close that blocks cannot hold
        the caller (the stop, a config change) past *until*."""

        def close_all() -> None:
            for p in probes:
                close = getattr(p, "close", None)
                if close:
                    try:
                        close()
                    except Exception:
                        log.exception("closing probe %s failed", p.name)

        closer = threading.Thread(target=close_all, name=thread_name, daemon=True)
        closer.start()
        closer.join(max(0.1, until - time.monotonic()))

    def run_cycle(
        self, names: Iterable[str] | None = None, timeout: float | None = None
    ) -> dict[str, list[ProbeResult]]:
        """Run the given probes (default: all) once, concurrently on their lanes, and wait for them all."""
        if self._fast is None or self._slow_lane is None:
            raise RuntimeError("scheduler not started")
        probes = self.probes()
        chosen = [probes[n] for n in (names if names is not None else probes)]
        futures = {}
        for p in chosen:
            lane = self._lane_for(p.name)
            futures[p.name] = lane.submit(lambda p=p, lane=lane: self._run(p, lane), p.name)
        return {n: f.result(timeout) for n, f in futures.items()}

    def run_now(self, name: str) -> list[ProbeResult]:
        """Run one probe synchronously in the calling thread (tests, benchmarks, "probe now" buttons)."""
        probe = self.probes()[name]
        lane = self._fast or _Lane("probes:worker", self.workers)
        try:
            return self._run(probe, lane)
        finally:
            if lane is not self._fast:
                lane.shutdown()

    # ---------------------------------------------------------------- internals

    def _lane_for(self, name: str) -> _Lane:
        lane = self._slow_lane if name in self._slow else self._fast
        assert lane is not None
        return lane

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            next_due = now + 1.0
            with self._lock:
                ready = [p for n, p in self._probes.items() if self._due[n] <= now and n not in self._running]
                for p in ready:
                    self._running[p.name] = None
                    self._due[p.name] = now + max(0.05, p.interval_s)
                pending = [d for n, d in self._due.items() if n not in self._running]
                busy = bool(self._running)
            if pending:
                next_due = min(next_due, min(pending))
            for p in ready:
                lane = self._lane_for(p.name)
                try:
                    lane.submit(lambda p=p, lane=lane: self._run_and_release(p, lane), p.name)
                except RuntimeError:
                    return
            self._supervise(time.monotonic())
            wait = next_due - time.monotonic()
            if busy or ready:
                wait = min(wait, _SUPERVISE_S)
            self._wake.wait(max(0.01, wait))
            self._wake.clear()

    def _supervise(self, now: float) -> None:
        """Write off fast-lane threads held too long; report runs past their limit as too slow."""
        if self._fast is not None:
            for thread, task in self._fast.running():
                if now - task.started > self.slow_after_s and self._fast.write_off(thread):
                    with self._lock:
                        moved = task.label in self._probes and task.label not in self._slow
                        self._slow.add(task.label)
                    if moved:
                        log.info(
                            "probe %s is slow (%.0f s without a result): it runs in the slow lane from now on",
                            task.label,
                            now - task.started,
                        )
        with self._lock:
            overdue = [
                r
                for r in self._running.values()
                if r is not None
                and not r.reported
                and now - r.started > self._limit(r.probe)
                and self._probes.get(r.probe.name) is r.probe  # a removed probe's run reports nothing
            ]
            for r in overdue:
                r.reported = True
        for r in overdue:
            r.lane.write_off(r.thread)  # already written off in the fast lane; in the slow lane: replaced
            self._report_too_slow(r, now - r.started)

    def _limit(self, probe: Probe) -> float:
        own = getattr(probe, "run_limit_s", None)
        return float(own) if isinstance(own, (int, float)) and own > 0 else self.run_limit_s

    def _report_too_slow(self, run: _Run, waited: float) -> None:
        probe = run.probe
        error = (
            f"too slow: no result after {waited:.0f} s (limit {self._limit(probe):g} s); still waiting on the target"
        )
        log.warning("probe %s: %s", probe.name, error)
        self.too_slow_total[probe.name] = self.too_slow_total.get(probe.name, 0) + 1
        self.failures_total[probe.name] = self.failures_total.get(probe.name, 0) + 1
        self._store(probe, too_slow_results(probe, error, waited))

    def _run_and_release(self, probe: Probe, lane: _Lane) -> None:
        started = time.monotonic()
        with self._lock:
            self._running[probe.name] = _Run(probe, lane, started, threading.current_thread())
        try:
            self._run(probe, lane)
        finally:
            took = time.monotonic() - started
            with self._lock:
                self._running.pop(probe.name, None)
                if self._stop.is_set():
                    pass  # a run cut short by the stop says nothing about the target's speed
                elif took > self.slow_after_s:
                    self._slow.add(probe.name)
                elif probe.name in self._slow:
                    self._slow.discard(probe.name)
                    log.info("probe %s answers again within %.1f s: back in the shared lane", probe.name, took)
            self._wake.set()

    def _run(self, probe: Probe, lane: _Lane) -> list[ProbeResult]:
        t0 = time.perf_counter()
        fan_out = None if lane is self._slow_lane else lane  # the slow lane: fan-out in the probe's own thread
        try:
            # gone: polled often by stop-aware probes, so read without the lock (one dict lookup is atomic)
            ctx = _Context(fan_out, self._stop, probe.name, gone=lambda: self._probes.get(probe.name) is not probe)
            results = list(probe.run(ctx))
        except ProbeStopped:
            return []
        except Exception as e:  # a probe bug: report it as a failed result, keep the scheduler alive
            log.exception("probe %s crashed", probe.name)
            results = [
                ProbeResult(
                    probe.kind,
                    probe.name,
                    ok=False,
                    state="PROBE_ERROR",
                    error=f"probe failed: {type(e).__name__}: {str(e)[:120]}",
                    latency_s=time.perf_counter() - t0,
                )
            ]
            self.failures_total[probe.name] = self.failures_total.get(probe.name, 0) + 1
        self.runs_total[probe.name] = self.runs_total.get(probe.name, 0) + 1
        if self._stop.is_set() or self.probes().get(probe.name) is not probe:
            return results  # stopping, or removed (or replaced) meanwhile: nothing reaches the store or alerts
        self._store(probe, results)
        return results

    def _store(self, probe: Probe, results: list[ProbeResult]) -> None:
        self.results.replace(probe.name, results)
        for cb in list(self._listeners):
            try:
                cb(probe, results)
            except Exception:
                log.exception("probe listener failed")


def too_slow_results(probe: Probe, error: str, waited: float) -> list[ProbeResult]:
    """The failed result(s) stored for a run past its limit. A probe may say what they are
    (``stalled_results(error, latency_s)``, e.g. the HLS probe's master error, so its camera alerts);
    otherwise one result of the probe's kind, ``UNREACHABLE`` (alert ``DeviceUnreachable``), keyed like its
    own results (the probe name after its ``kind:`` prefix) and scoped to its camera if it has one."""
    hook = getattr(probe, "stalled_results", None)
    if callable(hook):
        try:
            return list(hook(error, waited))
        except Exception:
            log.exception("probe %s: stalled_results failed", probe.name)
    return [
        ProbeResult(
            probe.kind,
            probe.name.split(":", 1)[-1],
            ok=False,
            state="UNREACHABLE",
            error=error,
            latency_s=waited,
            camera_id=getattr(probe, "camera_id", "") or "",
        )
    ]

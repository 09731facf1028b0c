"""``ProbeScheduler``: every probe on ONE bounded thread pool, results into one ``ProbeResults`` store.

One scheduler thread (``probes:scheduler``) wakes up when the next probe is due and submits it to the
pool; a probe is never run twice at once (a slow cycle delays its next run instead of piling up).
Fan-out inside a probe (the analytics server's per-stream details) goes through :meth:`_Context.map`,
which shares work between the calling pool thread and helper tasks on the *same* pool. The caller
always drains the work queue itself, so a saturated pool degrades to sequential work instead of a
deadlock (helpers that never started are cancelled, not waited for). No GUI thread is involved.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor

from probes.base import Probe, ProbeResult, ProbeResults, ProbeStopped

log = logging.getLogger(__name__)

ResultListener = Callable[[Probe, list[ProbeResult]], None]


class _Context:
    def __init__(self, pool: ThreadPoolExecutor, stop: threading.Event) -> None:
        self._pool = pool
        self._stop = stop

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

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
            while not self._stop.is_set():
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
        for _ in range(min(parallelism, n) - 1):
            try:
                helpers.append(self._pool.submit(drain))
            except RuntimeError:  # pool shut down
                break
        drain()
        for f in helpers:
            f.cancel()  # never started: nothing to wait for (this is what prevents a deadlock)
        for f in helpers:
            if not f.cancelled():
                f.result()
        if errors:
            raise errors[0]
        if self._stop.is_set() and any(r is None for r in results):
            raise ProbeStopped
        return results


class ProbeScheduler:
    """Service (start/stop) running probes periodically on one bounded pool."""

    def __init__(self, workers: int = 8, results: ProbeResults | None = None) -> None:
        self.workers = max(1, workers)
        self.results = results or ProbeResults()
        self._probes: dict[str, Probe] = {}
        self._due: dict[str, float] = {}
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None
        self._listeners: list[ResultListener] = []
        self.runs_total: dict[str, int] = {}
        self.failures_total: dict[str, int] = {}

    # ---------------------------------------------------------------- configuration

    def add(self, probe: Probe, first_run_in: float = 0.0) -> None:
        with self._lock:
            self._probes[probe.name] = probe
            self._due[probe.name] = time.monotonic() + first_run_in
        self._wake.set()

    def remove(self, name: str) -> None:
        with self._lock:
            probe = self._probes.pop(name, None)
            self._due.pop(name, None)
        self.results.remove(name)
        close = getattr(probe, "close", None)
        if close:
            close()

    def replace_all(self, probes: Iterable[Probe]) -> None:
        new = {p.name: p for p in probes}
        for name in [n for n in self.probes() if n not in new]:
            self.remove(name)
        for p in new.values():
            if p.name not in self.probes():
                self.add(p)

    def probes(self) -> dict[str, Probe]:
        with self._lock:
            return dict(self._probes)

    def add_listener(self, listener: ResultListener) -> None:
        """*listener(probe, results)* runs on the pool thread after each cycle (keep it short)."""
        self._listeners.append(listener)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="probes:worker")
        self._thread = threading.Thread(target=self._loop, name="probes:scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        for name in list(self.probes()):
            close = getattr(self._probes.get(name), "close", None)
            if close:
                close()

    def run_cycle(
        self, names: Iterable[str] | None = None, timeout: float | None = None
    ) -> dict[str, list[ProbeResult]]:
        """Run the given probes (default: all) once, concurrently on the pool, and wait for them all."""
        if self._pool is None:
            raise RuntimeError("scheduler not started")
        probes = self.probes()
        chosen = [probes[n] for n in (names if names is not None else probes)]
        futures = {p.name: self._pool.submit(self._run, p, self._pool) for p in chosen}
        return {n: f.result(timeout) for n, f in futures.items()}

    def run_now(self, name: str) -> list[ProbeResult]:
        """Run one probe synchronously in the calling thread (tests, benchmarks, "probe now" buttons)."""
        probe = self.probes()[name]
        pool = self._pool or ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="probes:worker")
        try:
            return self._run(probe, pool)
        finally:
            if pool is not self._pool:
                pool.shutdown(wait=True)

    # ---------------------------------------------------------------- internals

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            next_due = now + 1.0
            with self._lock:
                ready = [p for n, p in self._probes.items() if self._due[n] <= now and n not in self._running]
                for p in ready:
                    self._running.add(p.name)
                    self._due[p.name] = now + max(0.05, p.interval_s)
                pending = [d for n, d in self._due.items() if n not in self._running]
            if pending:
                next_due = min(next_due, min(pending))
            for p in ready:
                try:
                    assert self._pool is not None
                    self._pool.submit(self._run_and_release, p)
                except RuntimeError:
                    return
            self._wake.wait(max(0.01, next_due - time.monotonic()))
            self._wake.clear()

    def _run_and_release(self, probe: Probe) -> None:
        try:
            assert self._pool is not None
            self._run(probe, self._pool)
        finally:
            with self._lock:
                self._running.discard(probe.name)
            self._wake.set()

    def _run(self, probe: Probe, pool: ThreadPoolExecutor) -> list[ProbeResult]:
        t0 = time.perf_counter()
        try:
            results = list(probe.run(_Context(pool, self._stop)))
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
        if self._stop.is_set() and probe.name not in self.probes():
            return results
        self.results.replace(probe.name, results)
        for cb in list(self._listeners):
            try:
                cb(probe, results)
            except Exception:
                log.exception("probe listener failed")
        return results

"""The coordinator: starts the worker processes, starts them together, gathers their progress
and results, and merges them into a :class:`~clients.load.summary.Summary`.

:func:`run_load` blocks (use it from scripts and the CLI); :func:`arun_load` runs it in a
thread so that an event loop, perhaps serving the very server under test, keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from clients.load import histogram, worker
from clients.load.errors import WorkerError
from clients.load.report import Progress, WorkerResult
from clients.load.spec import LoadSpec
from clients.load.summary import Summary, summarise

logger = logging.getLogger("clients.load")

#: Seconds between the last worker saying it is ready and the run's start, so that every
#: worker has the start instant before it comes.
START_MARGIN = 0.2
#: Seconds between two looks at the stop event while waiting for workers.
POLL_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class LiveStatus:
    """The run as the progress display shows it, over every worker."""

    elapsed: float
    """Seconds since the start."""
    phase: str
    """``ramp``, ``hold`` or ``closing``."""
    open: int
    """Connections open now."""
    target: int
    """Connections the run opens."""
    counters: dict[str, int]
    """Cumulative counters, summed over workers."""
    rates: dict[str, float]
    """Per-second rates since the previous status."""
    p99: float | None
    """99th percentile of tick_delay since the previous status (s)."""
    cpu: list[float]
    """Each worker's CPU over its last window, as a fraction of one core."""


ProgressCallback = Callable[[LiveStatus], None]


def run_load(spec: LoadSpec, *, on_progress: ProgressCallback | None = None,
             stop: threading.Event | None = None) -> Summary:
    """Run the load that ``spec`` describes and return what it measured.

    ``on_progress`` is called (in this thread) about every ``spec.progress_interval`` with a
    :class:`LiveStatus`. Setting ``stop``, or a KeyboardInterrupt, ends the run early: the
    workers close their connections and the summary is marked ``interrupted``.

    Worker processes are started with the ``spawn`` method, so a script that calls this must
    guard its top level with ``if __name__ == "__main__":``.

    Raises :class:`~clients.load.errors.WorkerError` when a worker fails to start, crashes or
    does not report in time.
    """
    return _Coordinator(spec, on_progress, stop or threading.Event()).run()


async def arun_load(spec: LoadSpec, *, on_progress: ProgressCallback | None = None) -> Summary:
    """:func:`run_load` in a thread; cancelling the call stops the run (and waits for the
    workers to close their connections)."""
    stop = threading.Event()
    task = asyncio.ensure_future(asyncio.to_thread(run_load, spec, on_progress=on_progress,
                                                   stop=stop))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        raise


class _Coordinator:
    def __init__(self, spec: LoadSpec, on_progress: ProgressCallback | None,
                 stop: threading.Event) -> None:
        self.spec = spec
        self.on_progress = on_progress
        self.stop = stop
        self.count = spec.effective_workers
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        self.results: dict[int, WorkerResult] = {}
        self.latest: dict[int, Progress] = {}
        self.windows: list[bytes] = []
        self.last_status: tuple[float, dict[str, int]] = (0.0, {})
        self.start = 0.0
        self.interrupted = False
        self.stop_sent = False

    def run(self) -> Summary:
        context = multiprocessing.get_context("spawn")
        try:
            for index in range(self.count):
                parent, child = context.Pipe(duplex=True)
                process = context.Process(target=worker.main, args=(child, self.spec, index),
                                          name=f"load-worker-{index}", daemon=True)
                process.start()
                child.close()
                self.pipes.append(parent)
                self.processes.append(process)
            logger.info("started %d worker processes", self.count)
            self._wait_ready()
            self.start = time.time() + START_MARGIN
            logger.info("workers ready; %d connections from %.3f, hold %gs", self.spec.connections,
                        self.start, self.spec.duration)
            self.last_status = (self.start, {})
            for pipe in self.pipes:
                pipe.send(("start", self.start))
            try:
                self._gather()
            except KeyboardInterrupt:
                logger.info("interrupted: stopping the workers")
                self.interrupted = True
                self._send_stop()
                self._gather()
            logger.info("every worker reported; %.1fs since the start", time.time() - self.start)
            return summarise(self.spec, [self.results[i] for i in sorted(self.results)],
                             self.start, time.time(), interrupted=self.interrupted)
        finally:
            self._shut_down()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.spec.start_timeout
        waiting = set(range(self.count))
        while waiting:
            ready = wait([self.pipes[i] for i in waiting]
                         + [self.processes[i].sentinel for i in waiting],
                         timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                raise WorkerError(min(waiting), f"not ready within {self.spec.start_timeout:g}s")
            for index in list(waiting):
                pipe = self.pipes[index]
                if pipe in ready or self.processes[index].sentinel in ready:
                    message = self._recv(index)
                    if message[0] != "ready":
                        raise WorkerError(index, f"did not start: {message!r}")
                    waiting.discard(index)

    def _gather(self) -> None:
        """Read progress until every worker has sent its result."""
        spec = self.spec
        subscribing = max(0, spec.subscriptions - spec.subscribe_burst) / spec.subscribe_rate
        deadline = (self.start + spec.ramp_seconds + spec.duration + spec.connect_timeout
                    + 2 * (subscribing + spec.close_timeout) + spec.start_timeout)
        while len(self.results) < self.count:
            if self.stop.is_set() and not self.stop_sent:
                logger.info("stop requested: stopping the workers")
                self.interrupted = True
                self._send_stop()
            waiting = [i for i in range(self.count) if i not in self.results]
            objects: list[Any] = [self.pipes[i] for i in waiting]
            objects += [self.processes[i].sentinel for i in waiting]
            ready = wait(objects, timeout=POLL_INTERVAL)
            for index in waiting:
                if self.pipes[index] in ready or self.processes[index].sentinel in ready:
                    self._handle(index, self._recv(index))
            if time.time() > deadline and len(self.results) < self.count:
                missing = min(i for i in range(self.count) if i not in self.results)
                raise WorkerError(missing, "did not report its result in time")

    def _recv(self, index: int) -> tuple[Any, ...]:
        pipe = self.pipes[index]
        try:
            if pipe.poll():
                message: tuple[Any, ...] = pipe.recv()
                return message
        except (EOFError, OSError):
            pass
        process = self.processes[index]
        process.join(1.0)
        raise WorkerError(index, f"exited (code {process.exitcode}) without reporting")

    def _handle(self, index: int, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "progress":
            progress: Progress = message[1]
            self.latest[index] = progress
            if progress.window:
                self.windows.append(progress.window)
            if len(self.latest) == self.count and index == max(self.latest):
                self._status()
        elif kind == "result":
            self.results[index] = message[1]
        elif kind == "failed":
            raise WorkerError(index, f"crashed:\n{message[1]}")

    def _status(self) -> None:
        """Aggregate the latest progress of every worker and pass it on."""
        now = time.time()
        totals: dict[str, int] = {}
        for progress in self.latest.values():
            for name, value in progress.counters.items():
                totals[name] = totals.get(name, 0) + value
        then, before = self.last_status
        seconds = max(now - then, 1e-9)
        rates = {name: (value - before.get(name, 0)) / seconds for name, value in totals.items()}
        self.last_status = (now, totals)
        merged = histogram.merge(self.windows)
        self.windows.clear()
        p99 = (merged.get_value_at_percentile(99.0) / histogram.UNITS_PER_SECOND
               if merged.get_total_count() else None)
        elapsed = now - self.start
        hold_start = self.spec.ramp_seconds
        phase = ("ramp" if elapsed < hold_start
                 else "hold" if elapsed < hold_start + self.spec.duration and not self.stop_sent
                 else "closing")
        status = LiveStatus(elapsed=elapsed, phase=phase,
                            open=sum(p.open for p in self.latest.values()),
                            target=self.spec.connections, counters=totals, rates=rates,
                            p99=p99, cpu=[self.latest[i].cpu for i in sorted(self.latest)])
        if self.on_progress is not None:
            self.on_progress(status)

    def _send_stop(self) -> None:
        self.stop_sent = True
        for index, pipe in enumerate(self.pipes):
            if index not in self.results:
                try:
                    pipe.send(("stop",))
                except OSError:
                    pass

    def _shut_down(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("stop",))
            except OSError:
                pass
        for process in self.processes:
            process.join(self.spec.close_timeout)
            if process.is_alive():
                process.terminate()
                process.join(1.0)
        for pipe in self.pipes:
            pipe.close()

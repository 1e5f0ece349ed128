"""A worker process: opens its share of the connections on the ramp's schedule, subscribes,
holds, unsubscribes, closes, and reports to the coordinator through a pipe.

Messages on the pipe (tuples): from the worker ``("ready", pid)``, ``("progress", Progress)``,
``("result", WorkerResult)`` or ``("failed", traceback)``; to the worker ``("start", epoch)``
and ``("stop",)``. SIGINT is ignored here: the coordinator decides when to stop.
"""

from __future__ import annotations

import asyncio
import gc
import os
import resource
import signal
import time
import traceback
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from clients.load import histogram
from clients import pacing
from clients.load.connection import COUNTERS, LoadConnection
from clients.load.report import Progress, WorkerResult
from clients.load.spec import LoadSpec
from clients.load.wsclient import HandshakeError, open_connection

#: Delays buffered on the hot path before they are recorded even if no progress is due, so
#: the buffer stays bounded at any tick rate.
MAX_BUFFERED_DELAYS = 200_000
#: File descriptors a worker keeps beyond one per connection (pipes, the event loop).
FILES_SPARE = 64
#: Seconds between two checks of the event loop's lateness (and of the delay buffer).
LAG_CHECK_INTERVAL = 0.05


def main(pipe: Connection, spec: LoadSpec, index: int) -> None:
    """The process's entry point."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        worker = Worker(spec, index, pipe)
        pipe.send(("ready", os.getpid()))
        message = pipe.recv()
        if message[0] != "start":
            return
        result = asyncio.run(worker.run(message[1]))
        pipe.send(("result", result))
    except (EOFError, BrokenPipeError):
        pass  # the coordinator is gone; nobody to report to
    except BaseException:
        try:
            pipe.send(("failed", traceback.format_exc()))
        except OSError:
            pass
    finally:
        pipe.close()


class Worker:
    """The run of one worker, in its event loop."""

    def __init__(self, spec: LoadSpec, index: int, pipe: Connection) -> None:
        self.spec = spec
        self.index = index
        self.pipe = pipe
        self.share = spec.share(index)
        self.connections: list[LoadConnection] = []
        self.delays: list[float] = []
        self.subscribe_times: list[float] = []
        self.errors: Counter[str] = Counter()
        self.closes: Counter[int] = Counter()
        self.connect_failures: Counter[str] = Counter()
        self.tick_delay = histogram.new_histogram()
        self.window = histogram.new_histogram()
        self.ws_connecting = histogram.new_histogram()
        self.subscribe_duration = histogram.new_histogram()
        self.sessions = 0
        self.unexpected_closes = 0
        self.early = 0
        self.open = 0
        self.open_min = 0
        self.open_max = 0
        self.in_hold = False
        self.pending: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()
        self.ramp_done = False
        self.opened_all = asyncio.Event()
        """Set when the ramp is done and no connect or subscribe is still going on."""
        self.closing_phase = False
        self.loop_lag = 0.0
        self.notes: list[str] = []

    # --- the run ------------------------------------------------------------------------------

    def _check_open_files_limit(self) -> None:
        """Each connection is a file descriptor. The ``streamer`` command lifts the limit
        before it starts the workers (they inherit it); say so if it is still too low."""
        wanted = len(self.share) + FILES_SPARE
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and soft < wanted:
            self.notes.append(f"at most {soft} open files (ulimit -n) for {len(self.share)} "
                              f"connections: some connects will fail with OSError")

    async def run(self, start: float) -> WorkerResult:
        spec = self.spec
        self._check_open_files_limit()
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self._on_pipe)
        cpu0, wall0 = time.process_time(), time.time()
        self._cpu_mark = (cpu0, wall0)
        self.cpu_peak = 0.0
        hold_start = start + spec.ramp_seconds
        hold_end = hold_start + spec.duration
        progress = asyncio.create_task(self._progress_loop(start))
        ramp = asyncio.create_task(self._ramp(start))
        await self._sleep_until(hold_start)
        await self._ramp_finished()
        await self._subscribes_answered(spec.connect_timeout)
        hold_end = max(hold_end, time.time() + spec.duration)
        self.in_hold = True
        self.open_min = self.open
        counters_hold_start = self.counters()
        cpu_hold0, hold_started = time.process_time(), time.time()
        await self._sleep_until(hold_end)
        counters_hold_end = self.counters()
        cpu_hold = (time.process_time() - cpu_hold0) / max(time.time() - hold_started, 1e-9)
        hold = (hold_started, time.time())
        open_at_hold_end = self.open
        self.in_hold = False
        self.closing_phase = True
        ramp.cancel()
        for task in list(self.pending):
            task.cancel()
        await asyncio.gather(ramp, *self.pending, return_exceptions=True)
        await asyncio.gather(*(self._finish(c) for c in self.connections if not c.closed.done()))
        progress.cancel()
        await asyncio.gather(progress, return_exceptions=True)
        loop.remove_reader(self.pipe.fileno())
        self._record_delays()
        self.tick_delay.add(self.window)
        return WorkerResult(
            worker=self.index, pid=os.getpid(), connections=len(self.share),
            counters=self.counters(), hold_start=counters_hold_start,
            hold_end=counters_hold_end, hold=hold, errors=dict(self.errors),
            closes=dict(self.closes), connect_failures=dict(self.connect_failures),
            tick_delay=histogram.encode(self.tick_delay),
            ws_connecting=histogram.encode(self.ws_connecting),
            subscribe_duration=histogram.encode(self.subscribe_duration),
            open_at_hold_end=open_at_hold_end, open_min=self.open_min,
            open_max=self.open_max, cpu_seconds=time.process_time() - cpu0,
            wall_seconds=time.time() - wall0, cpu_hold=cpu_hold, cpu_peak=self.cpu_peak,
            loop_lag_max=self.loop_lag, notes=self.notes)

    async def _sleep_until(self, when: float) -> None:
        """Sleep until the epoch instant ``when``, or until the run is stopped."""
        delay = when - time.time()
        if delay > 0 and not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
            except TimeoutError:
                pass

    async def _ramp_finished(self) -> None:
        """Wait until every connection of this worker has opened (or failed) and sent its
        subscribes, or the run is stopped."""
        waits = [asyncio.create_task(self.opened_all.wait()),
                 asyncio.create_task(self.stopping.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    async def _subscribes_answered(self, limit: float) -> None:
        """Start the hold once the server has answered every subscribe sent (or after
        ``limit`` seconds): rates over the hold then measure streams that all exist, not a
        server still working through a burst of subscribes."""
        deadline = time.time() + limit
        while (time.time() < deadline and not self.stopping.is_set()
               and any(c.sent and not c.closed.done() for c in self.connections)):
            await asyncio.sleep(0.01)

    def _on_pipe(self) -> None:
        try:
            message = self.pipe.recv()
        except (EOFError, OSError):
            message = ("stop",)
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
        if message[0] == "stop":
            self.stopping.set()

    # --- opening ------------------------------------------------------------------------------

    async def _ramp(self, start: float) -> None:
        for i in self.share:
            delay = start + self.spec.connection_offset(i) - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._open(i))
            self.pending.add(task)
            task.add_done_callback(self._opened)
        self.ramp_done = True
        if not self.pending:
            self.opened_all.set()
        self._stop_if_all_gone()

    def _opened(self, task: asyncio.Task[None]) -> None:
        self.pending.discard(task)
        if self.ramp_done and not self.pending:
            self.opened_all.set()
        self._stop_if_all_gone()

    async def _open(self, index: int) -> None:
        spec = self.spec
        began = time.time()
        try:
            async with asyncio.timeout(spec.connect_timeout):
                connection = await open_connection(
                    spec.url, lambda: LoadConnection(index, self.delays, self.subscribe_times,
                                                     self.errors, self._on_closed),
                    token=spec.token)
        except TimeoutError:
            self.connect_failures["timeout"] += 1
            return
        except HandshakeError as exc:
            self.connect_failures[f"http_{exc.status}" if exc.status else "handshake"] += 1
            return
        except ConnectionRefusedError:
            self.connect_failures["refused"] += 1
            return
        except OSError as exc:
            self.connect_failures[type(exc).__name__] += 1
            return
        self.ws_connecting.record_value(max(1, round((time.time() - began) * 1e6)))
        self.sessions += 1
        self.connections.append(connection)
        connection.counted_open = True
        self.open += 1
        self.open_max = max(self.open_max, self.open)
        if connection.closed.done():  # closed between the handshake and now
            self._on_closed(connection)
            return
        bucket = connection.bucket = pacing.bucket(spec.subscribe_rate, spec.subscribe_burst)
        count = spec.subscriptions
        for k in range(count):
            if connection.closing or connection.closed.done():
                return
            await pacing.take(bucket)
            connection.send_operation(spec.subscriber.subscribe(index, k, count))

    def _on_closed(self, connection: LoadConnection) -> None:
        if connection.counted_closed or not connection.counted_open:
            return  # closed during its handshake: a failed connect, counted there
        connection.counted_closed = True
        self.open -= 1
        if self.in_hold:
            self.open_min = min(self.open_min, self.open)
        code = connection.close_code if connection.close_code is not None else 1006
        self.closes[code] += 1
        if not connection.initiated_close:
            self.unexpected_closes += 1
        self._stop_if_all_gone()

    def _stop_if_all_gone(self) -> None:
        """End the run early when every connection is gone and no more will open."""
        if (self.ramp_done and self.open == 0 and not self.pending and not self.closing_phase
                and not self.stopping.is_set()):
            self.notes.append(f"no connection open or opening at {time.time():.3f} (epoch s); "
                              f"stopped early")
            self.stopping.set()

    # --- closing ------------------------------------------------------------------------------

    async def _finish(self, connection: LoadConnection) -> None:
        """Unsubscribe (paced, waiting for the replies), then close with 1000."""
        spec = self.spec
        if spec.unsubscribe_at_end and not connection.closing:
            bucket = connection.bucket or pacing.bucket(spec.subscribe_rate, spec.subscribe_burst)
            subs = connection.active_subscriptions()
            paced = max(0.0, len(subs) - bucket.burst) / bucket.rate
            try:
                async with asyncio.timeout(spec.close_timeout + paced):
                    for sub in subs:
                        operation = spec.subscriber.unsubscribe(sub)
                        if operation is None or connection.closed.done():
                            break
                        await pacing.take(bucket)
                        connection.send_operation(operation, unsubscribe=True)
                    await connection.unsubscribed.wait()
            except TimeoutError:
                self.notes.append(f"connection {connection.index}: unsubscribe replies did not "
                                  f"come within {spec.close_timeout:g}s")
        connection.close(1000)
        # asyncio.wait, not a timeout around ``await``: cancelling a task cancels the future
        # it awaits, and ``closed`` must stay for connection_lost to resolve
        done, _ = await asyncio.wait({connection.closed}, timeout=spec.close_timeout)
        if not done:
            connection.abort()
            await asyncio.wait({connection.closed}, timeout=spec.close_timeout)

    # --- measuring ----------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        totals = [0] * len(COUNTERS)
        for connection in self.connections:
            for k, value in enumerate(connection.counters()):
                totals[k] += value
        result = dict(zip(COUNTERS, totals))
        result.update(ws_sessions=self.sessions,
                      ws_connect_failed=sum(self.connect_failures.values()),
                      ws_closes=sum(self.closes.values()),
                      ws_closes_unexpected=self.unexpected_closes, ticks_early=self.early)
        return result

    def _record_delays(self) -> None:
        if self.delays:
            self.early += histogram.record_seconds(self.window, self.delays)
            self.delays.clear()
        if self.subscribe_times:
            histogram.record_seconds(self.subscribe_duration, self.subscribe_times)
            self.subscribe_times.clear()

    async def _progress_loop(self, start: float) -> None:
        """Every ``progress_interval``: record buffered delays and report. It wakes every
        :data:`LAG_CHECK_INTERVAL` to keep the delay buffer bounded and to measure how late
        the event loop runs a timer (the tester's own queueing)."""
        interval = self.spec.progress_interval
        loop = asyncio.get_running_loop()
        due = loop.time() + max(0.0, start - time.time()) + interval
        while True:
            pause = max(0.0, min(LAG_CHECK_INTERVAL, due - loop.time()))
            target = loop.time() + pause
            await asyncio.sleep(pause)
            now = loop.time()
            if not self.closing_phase:  # closing thousands of connections at once is no news
                self.loop_lag = max(self.loop_lag, now - target)
            if now >= due:
                due += interval * max(1, int((now - due) / interval) + 1)
                self._report()
            elif len(self.delays) > MAX_BUFFERED_DELAYS:
                self._record_delays()

    def _report(self) -> None:
        # Connections are many long-lived objects that a full garbage collection scans every
        # time: with 5,000 of them one took 0.1-0.2 s, a stall that went into tick_delay.
        # Frozen objects are never scanned again; a reference cycle among them would stay
        # until the process ends, which is soon.
        gc.freeze()
        self._record_delays()
        cpu, wall = time.process_time(), time.time()
        cpu_fraction = (cpu - self._cpu_mark[0]) / max(wall - self._cpu_mark[1], 1e-9)
        self._cpu_mark = (cpu, wall)
        self.cpu_peak = max(self.cpu_peak, cpu_fraction)
        window = histogram.encode(self.window) if self.window.get_total_count() else b""
        self.tick_delay.add(self.window)
        self.window.reset()
        self._send(("progress", Progress(self.index, wall, self.counters(), self.open, window,
                                         cpu_fraction)))

    def _send(self, message: Any) -> None:
        try:
            self.pipe.send(message)
        except OSError:
            self.stopping.set()

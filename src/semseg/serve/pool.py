"""A bounded pool of inference threads: work leaves the event loop, excess work is refused.

Torch releases the GIL inside operators, so ``workers`` threads run forward passes in parallel;
each uses ``threads`` intra-op threads, and ``workers x threads`` must not exceed the cores
(two 2-thread processes on 2 cores were measured ~60x slower than one). At most
``workers + queue`` jobs are admitted at once; one more raises ``Busy`` at once (the app answers
503 with Retry-After) instead of piling up latency.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from semseg.errors import ConfigError

T = TypeVar("T")


class Busy(Exception):
    """Every worker is busy and the queue is full."""


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_sizes(workers: int, threads: int, queue: int, cores: int | None = None) -> None:
    """Refuse sizes that oversubscribe the cores or make no sense."""
    cores = cores or available_cores()
    if workers < 1 or threads < 1 or queue < 0:
        raise ConfigError(f"need workers >= 1, threads >= 1, queue >= 0; got {workers}, "
                          f"{threads}, {queue}")
    if workers * threads > cores:
        raise ConfigError(
            f"{workers} workers x {threads} threads = {workers * threads} exceeds the "
            f"{cores} available cores; oversubscribed torch threads slow every request down"
        )


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


class InferencePool:
    """``await pool.run(fn, *args)`` runs ``fn`` on a worker thread, or raises ``Busy``."""

    def __init__(self, workers: int, threads: int, queue: int):
        self.workers, self.threads, self.capacity = workers, threads, workers + queue
        self._pending = 0
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None  # started by the first job

    @property
    def pending(self) -> int:
        """Jobs admitted and not finished (running or queued)."""
        return self._pending

    @property
    def full(self) -> bool:
        """True when the next job would be refused."""
        return self._pending >= self.capacity

    def _release(self, _: Future) -> None:
        with self._lock:
            self._pending -= 1

    async def run(self, fn: Callable[..., T], *args) -> T:
        """Run ``fn(*args)`` on a worker; a cancelled caller frees its slot when ``fn`` ends."""
        with self._lock:
            if self._pending >= self.capacity:
                raise Busy(f"all {self.workers} workers busy and {self.capacity - self.workers} "
                           "requests queued")
            self._pending += 1
        try:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    self.workers, thread_name_prefix="semseg-infer", initializer=_init_worker,
                    initargs=(self.threads,))
            future = self._executor.submit(fn, *args)
        except BaseException:
            with self._lock:
                self._pending -= 1
            raise
        # The slot is released when the job really ends, not when the caller stops waiting:
        # a timed-out forward pass still holds its core until it finishes.
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        """Cancel queued jobs and let running ones finish; a later job starts a new executor."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

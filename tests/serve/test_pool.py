"""The inference pool: sizes checked against the cores, capacity enforced, slots released."""

from __future__ import annotations

import asyncio
import threading

import pytest

from semseg.errors import ConfigError
from semseg.serve.pool import Busy, InferencePool, check_sizes


@pytest.mark.parametrize("workers, threads, cores, ok", [
    (2, 1, 2, True), (1, 2, 2, True), (2, 2, 2, False), (3, 1, 2, False), (4, 2, 8, True),
])
def test_workers_times_threads_may_not_exceed_cores(workers, threads, cores, ok):
    if ok:
        check_sizes(workers, threads, 0, cores)
    else:
        with pytest.raises(ConfigError, match=f"= {workers * threads} exceeds the {cores}"):
            check_sizes(workers, threads, 0, cores)


def test_capacity_is_workers_plus_queue_and_slots_come_back():
    pool = InferencePool(workers=1, threads=1, queue=2)
    gate = threading.Event()

    async def go():
        jobs = [asyncio.ensure_future(pool.run(gate.wait, 10)) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert (pool.pending, pool.full) == (3, True)
        with pytest.raises(Busy, match="all 1 workers busy and 2 requests queued"):
            await pool.run(int, "1")
        gate.set()
        assert await asyncio.gather(*jobs) == [True] * 3
        assert await pool.run(int, "7") == 7  # a job runs on a worker and returns its value
        await asyncio.sleep(0.05)
        return pool.pending

    try:
        assert asyncio.run(go()) == 0
    finally:
        pool.shutdown()


def test_worker_threads_use_the_configured_torch_threads():
    import torch

    pool = InferencePool(workers=1, threads=1, queue=0)
    try:
        assert asyncio.run(pool.run(torch.get_num_threads)) == 1
    finally:
        pool.shutdown()

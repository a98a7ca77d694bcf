"""How many CPU threads torch and ONNX Runtime use: ``--threads`` of every computing command.

Two PyTorch processes that each run 2 threads on 2 cores were measured ~60x slower than one with
1 thread (the threads spin-wait on each other), so a command run beside other work (a background
training, another engineer's job) must not take every core. ``default_threads`` picks the
number when ``--threads`` is not given:

1. ``$OMP_NUM_THREADS``, when set to a positive integer (the user's explicit choice);
2. otherwise the cores this process may run on (``os.sched_getaffinity``, which honours
   ``taskset`` and container CPU sets) minus the busy ones, taken as the 1-minute load average
   rounded to the nearest integer, and at least 1.

An idle 4-core machine gives 4; 2 cores with one busy background job (load ~1) give 1.

Example:
    >>> from semseg.threads import default_threads, set_threads
    >>> used = set_threads(None)  # default_threads(), applied to torch; returns the number
"""

from __future__ import annotations

import argparse
import os

THREADS_HELP = ("CPU threads for torch and ONNX Runtime (default: $OMP_NUM_THREADS if set, else "
                "the usable cores minus the 1-minute load average, at least 1)")


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity), or ``os.cpu_count()`` where unknown."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """``$OMP_NUM_THREADS`` if set, else usable cores minus the rounded load average (>= 1)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cores = usable_cores()
    try:
        busy = round(os.getloadavg()[0])
    except (AttributeError, OSError):  # no load average on this platform
        busy = 0
    return max(1, min(cores, cores - busy))


def set_threads(threads: int | None) -> int:
    """Apply ``threads`` (``None``: ``default_threads()``) to torch; returns the number used."""
    import torch

    from semseg.errors import ConfigError

    n = default_threads() if threads is None else threads
    if n < 1:
        raise ConfigError(f"--threads {n}: expected a positive number of CPU threads")
    torch.set_num_threads(n)
    return n


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--threads N`` (default ``None``: resolved by ``set_threads``) to a subcommand."""
    parser.add_argument("--threads", type=int, metavar="N", help=THREADS_HELP)

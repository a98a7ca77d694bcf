"""The default thread count of every computing command, and that each command takes --threads."""

from __future__ import annotations

import os

import pytest
import torch

from semseg import threads
from semseg.cli import build_parser
from semseg.errors import ConfigError

COMPUTING_COMMANDS = ("predict", "eval", "bench", "train", "background", "export")


@pytest.fixture
def four_cores(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    return monkeypatch


@pytest.mark.parametrize(("load", "expected"), [(0.0, 4), (0.4, 4), (1.4, 3), (2.6, 1),
                                                (3.0, 1), (9.0, 1)])
def test_default_is_free_cores_from_load_average(four_cores, load: float, expected: int) -> None:
    four_cores.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert threads.default_threads() == expected


def test_omp_num_threads_wins(four_cores) -> None:
    four_cores.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    four_cores.setenv("OMP_NUM_THREADS", "2")
    assert threads.default_threads() == 2
    four_cores.setenv("OMP_NUM_THREADS", "not-a-number")  # ignored, like an unset variable
    assert threads.default_threads() == 4


def test_set_threads_applies_and_rejects_bad_counts(four_cores) -> None:
    previous = torch.get_num_threads()
    try:
        assert threads.set_threads(2) == 2 and torch.get_num_threads() == 2
        four_cores.setattr(os, "getloadavg", lambda: (3.2, 0.0, 0.0))
        assert threads.set_threads(None) == 1 and torch.get_num_threads() == 1
        with pytest.raises(ConfigError, match="--threads 0"):
            threads.set_threads(0)
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("command", COMPUTING_COMMANDS)
def test_every_computing_command_takes_threads(command: str) -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    action = next(a for a in sub._actions if a.dest == "threads")
    assert action.default is None and action.type is int
    assert "load average" in action.help

"""benchmarks/zoo.py: turning a per-model time budget into whole epochs of fixed steps."""

from __future__ import annotations

import argparse

import pytest


@pytest.fixture(scope="module")
def zoo(benchmark_script):
    return benchmark_script("zoo")


def _args(**kw) -> argparse.Namespace:
    values = {"epochs": None, "steps_per_epoch": None, "budget_minutes": 4.0, "batch_size": 8}
    return argparse.Namespace(**{**values, **kw})


@pytest.mark.parametrize(("step_s", "expected"), [
    (0.70, {"epochs": 8, "steps_per_epoch": 43, "steps": 344}),  # 342 steps -> 8 x 43
    (6.90, {"epochs": 1, "steps_per_epoch": 34, "steps": 34}),   # less than one pass
    (0.01, {"epochs": 534, "steps_per_epoch": 45, "steps": 24030}),  # 24000 -> whole epochs
    (999.0, {"epochs": 1, "steps_per_epoch": 1, "steps": 1}),    # never zero steps
])
def test_time_budget_becomes_whole_epochs(zoo, step_s: float, expected: dict) -> None:
    assert zoo.plan(step_s, _args()) == expected


def test_fixed_epochs_ignore_the_step_time(zoo) -> None:
    assert zoo.plan(123.0, _args(epochs=30)) == {"epochs": 30, "steps_per_epoch": 45,
                                                 "steps": 1350}


def test_size_recipe_scales_like_the_default_model(zoo) -> None:
    recipe = zoo._size_recipe((120, 160))
    assert recipe["crop_size"] == recipe["eval_size"] == (120, 160)
    assert recipe["scale_range"] == (0.25, 0.45)  # 0.75-1.35 x of 120/360

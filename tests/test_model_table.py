"""benchmarks/model_table.py: reading what the slow overfit test left in its run directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def table(benchmark_script):
    return benchmark_script("model_table")


def _run(basetemp: Path, test_dir: str, name: str, rows: list[dict], lr: float) -> None:
    run = basetemp / test_dir / name
    run.mkdir(parents=True)
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "config.json").write_text(json.dumps({"arch": name, "lr": lr}))


def test_reads_last_evaluation_and_total_training_time(table, tmp_path) -> None:
    rows = [{"epoch": e, "loss": 1.0 / e, "seconds": 2.5} for e in range(1, 101)]
    rows[49].update(pixel_acc=0.80, miou=0.40)   # epoch 50: below the bar, run resumed
    rows[99].update(pixel_acc=0.91, miou=0.62)   # epoch 100: passed
    # resumed from an epoch-60 checkpoint after epoch 70 was logged: 61-70 are logged twice
    rows[70:70] = [dict(r, seconds=4.0) for r in rows[60:70]]
    _run(tmp_path, "test_overfits_two_camvid_image3", "segnet", rows, 3e-3)
    # pytest's "...current" symlink points at the same run: it must not count twice
    (tmp_path / "test_overfits_two_camvid_imagecurrent").symlink_to(
        tmp_path / "test_overfits_two_camvid_image3")
    got = table.read_overfit(tmp_path, "segnet")
    assert (got.epochs, got.pixel_acc, got.miou, got.lr) == (100, 0.91, 0.62, 3e-3)
    assert got.train_s == pytest.approx(90 * 2.5 + 10 * 4.0)  # each epoch once, latest try
    assert table.read_overfit(tmp_path, "unet") is None


def test_run_without_evaluation_or_ambiguous_runs_is_missing(table, tmp_path) -> None:
    _run(tmp_path, "a0", "enet", [{"epoch": 1, "loss": 2.0, "seconds": 1.0}], 3e-3)
    assert table.read_overfit(tmp_path, "enet") is None
    ok = [{"epoch": 50, "loss": 0.1, "seconds": 1.0, "pixel_acc": 0.9, "miou": 0.5}]
    _run(tmp_path, "b0", "fcn8s", ok, 1e-4)
    _run(tmp_path, "b1", "fcn8s", ok, 1e-4)
    assert table.read_overfit(tmp_path, "fcn8s") is None


def test_renders_rows_and_names_missing_models(table) -> None:
    lines = table.render_overfit([table.Overfit("fcn8s", 1e-4, 50, 0.8585, 0.4559, 156.2)],
                                 ["unet"])
    assert "| `fcn8s` | 0.0001 | 50 | 85.9 | 45.6 | 156 |" in lines
    assert "No log found for: `unet`." in lines

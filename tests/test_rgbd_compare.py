"""benchmarks/rgbd_compare.py: inputs through semseg's RGB-D pipeline, the page it writes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def bench(benchmark_script):
    return benchmark_script("rgbd_compare")


def test_scenes_are_normalized_like_the_datasets(bench) -> None:
    from semseg.models.gnn3d import DEPTH_MEAN, DEPTH_STD

    x, y = bench.make_set(2, 0, (24, 32))
    assert x.shape == (2, 4, 24, 32) and y.shape == (2, 24, 32) and y.max() <= 4
    depth_m = (x[:, 3] * DEPTH_STD + DEPTH_MEAN) * 10  # what the 3DGNN head reads back
    assert depth_m.min() > 0.3 and depth_m.max() < 12
    head = bench.build(4, bench.VARIANTS["two-branch + 3DGNN head"][1], (24, 32))
    assert head.fx == pytest.approx(582.62448 * 32 / 640)


def test_page_lists_rows_scores_and_the_command(bench, tmp_path: Path) -> None:
    classes = bench.INFO.classes
    rows = [bench.Row("RGB only", 0.5, 0.75, {c: 0.5 for c in classes} | {"ceiling": None},
                      123.4, 10.0)]
    report = tmp_path / "nyu_40.json"
    report.write_text(json.dumps({"predictions": "x/nyu_40", "images": 654, "miou": 0.5423,
                                  "pixel_acc": 0.7582, "mean_acc": 0.6991}))
    args = argparse.Namespace(train_scenes=1, val_scenes=1, height=8, width=8, steps=1, batch=1,
                              repeats=1, score_json=[str(report)])
    page = bench.render(rows, args)
    assert "| RGB only | 50.0 | 75.0 | 50.0 | 50.0 | n/a | 50.0 | 50.0 | 123 | 10.0 |" in page
    assert "| `nyu_40` | 654 | 54.23 | 75.82 | 69.91 |" in page
    assert f"{bench.COMMAND} --score-json {report}" in page
    committed = (REPO / "docs" / "rgbd.md").read_text()  # written by this script
    assert committed.startswith(page.split("\n", 1)[0]) and bench.COMMAND in committed

"""Slow: forests trained on a few real CamVid frames beat chance on val frames."""

from __future__ import annotations

import json

import pytest

from semseg.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["learned", "pixel-pair"])
def test_small_forest_on_camvid(camvid_root, tmp_path, kind):
    model = tmp_path / "forest.npz"
    assert main(["forest", "train", "--kind", kind, "--data", str(camvid_root), "--trees", "2",
                 "--images", "6", "--pixels-per-image", "800", "--max-depth", "10",
                 "-o", str(model)]) == 0
    report = tmp_path / "eval.json"
    assert main(["forest", "eval", str(model), "--data", str(camvid_root), "--limit", "4",
                 "--smooth", "3", "--json", str(report)]) == 0
    scores = json.loads(report.read_text())
    # chance with 11 classes is ~9% mean IoU-free accuracy; road + sky + building alone
    # make a colour forest far better than that
    assert scores["pixel_acc"] > 0.4 and scores["miou"] > 0.12
    assert main(["forest", "predict", str(model), str(camvid_root / "val" / "0016E5_07959.png"),
                 "-o", str(tmp_path / "pred")]) == 0
    assert (tmp_path / "pred" / "0016E5_07959.png").is_file()

"""Slow: point-supervised training and the PCAMs pipeline on a few real CamVid frames."""

from __future__ import annotations

import json

import pytest

from semseg.cli import main

pytestmark = pytest.mark.slow

TRAIN = ["--limit-train", "4", "--limit-val", "2", "--epochs", "2", "--batch-size", "2",
         "--crop-size", "176x240", "--scale-range", "1,1", "--workers", "0", "--threads", "1"]


def test_point_supervised_training_and_pcams(camvid_root, tmp_path):
    data = ["--data", str(camvid_root)]
    clicks = tmp_path / "clicks"
    assert main(["points", "simulate", *data, "-o", str(clicks)]) == 0
    assert main(["train", *data, *TRAIN, "--supervision", "points", "--clicks", str(clicks),
                 "-o", str(tmp_path / "bearman")]) == 0
    assert main(["train", *data, *TRAIN, "--supervision", "points", "--point-loss", "pcam",
                 "--clicks", str(clicks), "-o", str(tmp_path / "cam")]) == 0
    report = tmp_path / "pseudo.json"
    assert main(["points", "pseudo", str(tmp_path / "cam" / "best.pt"), *data, "--clicks",
                 str(clicks), "--limit", "4", "--steps", "20", "-o", str(tmp_path / "pseudo"),
                 "--json", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert scores["images"] == 4 and 0.0 <= scores["miou"] <= 1.0
    assert main(["train", *data, *TRAIN, "--train-masks", str(tmp_path / "pseudo"),
                 "-o", str(tmp_path / "final")]) == 0
    assert (tmp_path / "final" / "best.pt").is_file()

"""``semseg forest`` and ``semseg points`` end to end on a small generated dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semseg.cli import main

SIZE = 24


def _stripes(shift: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:SIZE, :SIZE]
    split = SIZE // 2 + shift
    vertical = xx < split
    grey = (np.where(vertical, xx % 2, yy % 2) * 200 + 20).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2), np.where(vertical, 0, 1).astype(np.uint8)


@pytest.fixture
def stripes_root(make_folder_dataset):
    pairs = {f"s{i}": _stripes(s) for i, s in enumerate((-4, 4, 0))}
    return make_folder_dataset(pairs, classes="vertical\nhorizontal\n")


def test_forest_train_predict_eval(stripes_root, tmp_path, capsys):
    model = tmp_path / "f.npz"
    common = ["--data", str(stripes_root), "--format", "folder"]
    assert main(["forest", "train", "--kind", "learned", *common, "--split", "all", "--trees",
                 "2", "--max-depth", "6", "--images", "3", "--pixels-per-image", "300",
                 "--scale", "1.0", "--radius", "2", "-o", str(model)]) == 0
    assert main(["forest", "predict", str(model), str(stripes_root / "images"),
                 "-o", str(tmp_path / "pred")]) == 0
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["s0.png", "s1.png", "s2.png"]
    report = tmp_path / "eval.json"
    assert main(["forest", "eval", str(model), *common, "--split", "all",
                 "--json", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert scores["images"] == 3 and scores["pixel_acc"] > 0.9
    assert main(["points", "score", str(tmp_path / "pred"), *common, "--split", "all"]) == 0
    assert "mIoU" in capsys.readouterr().out


def test_bad_inputs_exit_2_with_one_line(stripes_root, tmp_path, capsys):
    (tmp_path / "bad.npz").write_bytes(b"nope")
    assert main(["forest", "predict", str(tmp_path / "bad.npz"), str(stripes_root),
                 "-o", str(tmp_path / "out")]) == 2
    assert "not a semseg forest file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["points", "score", str(tmp_path), "--data", str(stripes_root), "--format",
                 "folder", "--split", "all"]) == 2
    assert "prediction missing" in capsys.readouterr().err


def test_points_simulate_writes_sidecars(stripes_root, tmp_path, capsys):
    out = tmp_path / "clicks"
    assert main(["points", "simulate", "--data", str(stripes_root), "--format", "folder",
                 "--split", "all", "--protocol", "n-per-class", "--n", "2", "-o", str(out)]) == 0
    docs = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    assert len(docs) == 3 and all(len(d["clicks"]) == 4 for d in docs)  # 2 classes x 2 clicks
    assert "12 clicks on 3 images" in capsys.readouterr().out

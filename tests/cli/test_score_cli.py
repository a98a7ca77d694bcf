"""``semseg score``: hand-computed scores on tiny folder pairs, pairing, value maps, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semseg.cli import main
from semseg.cli.score import pair_files, parse_map

# ground truth 1-based, 0 = unlabelled; predictions store 10, 11, 12 for classes 0, 1, 2
GT = np.array([[1, 1, 2, 0], [3, 3, 2, 2]], np.uint8)
PRED = np.array([[10, 11, 11, 12], [12, 12, 11, 10]], np.uint8)


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    _png(tmp_path / "pred" / "7.png", PRED)
    _png(tmp_path / "pred" / "8.png", PRED)  # no ground truth: not scored
    _png(tmp_path / "gt" / "gt_0007.png", GT)
    return tmp_path / "pred", tmp_path / "gt"


def test_scores_match_hand_computation(folders, tmp_path: Path) -> None:
    pred, gt = folders
    out = tmp_path / "report.json"
    code = main(["score", str(pred), str(gt), "--num-classes", "3", "--gt-pattern",
                 "gt_{id}.png", "--pred-map", "10=0,11=1,12=2", "--gt-map", "offset:-1",
                 "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    # 7 labelled pixels; confusion rows (truth) [[1, 1, 0], [1, 2, 0], [0, 0, 2]]
    assert report["confusion_matrix"] == [[1, 1, 0], [1, 2, 0], [0, 0, 2]]
    assert report["images"] == 1
    assert report["miou"] == pytest.approx((1 / 3 + 2 / 4 + 2 / 2) / 3)
    assert report["pixel_acc"] == pytest.approx(5 / 7)
    assert report["mean_acc"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert "boundary_f" in report


def test_label_set_map_scores_40_class_predictions_in_13_classes(tmp_path: Path) -> None:
    """0-based NYUv2 40-class ids (0 wall, 1 floor, 4 chair, 5 sofa) against 1-based 13-class
    ground truth (12 wall, 5 floor, 4 chair, 9 sofa)."""
    _png(tmp_path / "p" / "1.png", np.array([[0, 1, 4, 5]], np.uint8))
    _png(tmp_path / "g" / "new_nyu_class13_0001.png", np.array([[12, 5, 9, 0]], np.uint8))
    out = tmp_path / "r.json"
    assert main(["score", str(tmp_path / "p"), str(tmp_path / "g"), "--classes", "nyuv2_13",
                 "--gt-pattern", "new_nyu_class13_{id}.png", "--pred-map", "nyuv2->nyuv2_13",
                 "--gt-map", "offset:-1", "--boundary-tolerance", "-1", "--json", str(out)]) == 0
    r = json.loads(out.read_text())
    iou = r["class_iou"]
    assert iou["wall"] == 1.0 and iou["floor"] == 1.0
    assert iou["chair"] == 0.0 and iou["sofa"] == 0.0  # a chair predicted on a sofa pixel
    assert iou["bed"] is None  # absent from both
    assert r["pixel_acc"] == pytest.approx(2 / 3)


def test_missing_prediction_and_unmapped_values_fail_cleanly(folders, tmp_path: Path,
                                                             capsys) -> None:
    pred, gt = folders
    out = tmp_path / "r.json"
    code = main(["score", str(pred), str(gt), "--num-classes", "3", "--gt-pattern",
                 "gt_{id}.png", "--pred-map", "10=0,11=1", "--gt-map", "offset:-1",
                 "--json", str(out)])
    assert code == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "7.png" in err and "[12]" in err and err.count("\n") == 1
    (pred / "7.png").unlink()
    assert main(["score", str(pred), str(gt), "--num-classes", "3",
                 "--gt-pattern", "gt_{id}.png"]) == 2
    assert "gt_0007.png: no prediction" in capsys.readouterr().err
    # unmapped predictions beyond the classes name the option to use
    _png(pred / "7.png", PRED)
    assert main(["score", str(pred), str(gt), "--num-classes", "3", "--gt-pattern",
                 "gt_{id}.png", "--gt-map", "offset:-1"]) == 2
    assert "--pred-map" in capsys.readouterr().err


def test_pairing_by_numeric_id_and_map_parsing(folders, tmp_path: Path) -> None:
    pred, gt = folders
    assert pair_files(pred, gt, "{id}.png", "gt_{id}.png") == [(pred / "7.png",
                                                                 gt / "gt_0007.png")]
    lut = parse_map("offset:-1")
    assert lut[0] == 255 and lut[1] == 0 and lut[40] == 39
    (tmp_path / "m.json").write_text('{"3": 0, "0": 255}')
    lut = parse_map(str(tmp_path / "m.json"))
    assert lut[3] == 0 and lut[0] == 255 and lut[1] == -1

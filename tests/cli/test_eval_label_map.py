"""``semseg eval --label-map``: a CamVid model scored on Cityscapes-format ground truth; and
``--map-predictions``: a Cityscapes model's predictions scored on CamVid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from semseg.cli import main
from semseg.data.camvid import INFO as CAMVID
from semseg.data.cityscapes import INFO as CITYSCAPES
from semseg.data.label_maps import map_logits
from semseg.hub import loading
from semseg.hub.checkpoint import ModelSpec

# Cityscapes label ids (gtFine_labelIds), 4 x 6. Comments: Cityscapes name -> CamVid class.
GT_LABEL_IDS = np.array([
    [7, 8, 26, 27, 23, 0],    # road, sidewalk, car, truck->car, sky, unlabeled->ignore
    [7, 7, 26, 24, 23, 23],   # person->pedestrian
    [22, 6, 32, 33, 11, 12],  # terrain->tree, ground->ignore, motorcycle/bicycle->bicyclist,
                              # building, wall->building
    [7, 7, 26, 26, 23, 31],   # train->car
], dtype=np.uint8)
# The stub predicts one CamVid class per column: road, road, car, car, sky, sky.
PRED_BY_COLUMN = (3, 3, 8, 8, 0, 0)
SKY, BUILDING, ROAD, SIDEWALK, TREE, CAR, PEDESTRIAN, BICYCLIST = 0, 1, 3, 4, 5, 8, 9, 10
# (ground truth, prediction) -> pixels, counted by hand column by column from the arrays above.
EXPECTED = {
    (ROAD, ROAD): 5, (TREE, ROAD): 1, (SIDEWALK, ROAD): 1,
    (CAR, CAR): 5, (BICYCLIST, CAR): 2, (PEDESTRIAN, CAR): 1,
    (SKY, SKY): 4, (BUILDING, SKY): 2, (CAR, SKY): 1,
}


class ColumnStub(nn.Module):
    """Logits whose argmax is ``PRED_BY_COLUMN[j]`` in column j (sky beyond), at any size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        labels = torch.zeros(w, dtype=torch.long)  # (W,)
        labels[: len(PRED_BY_COLUMN)] = torch.tensor(PRED_BY_COLUMN)
        onehot = nn.functional.one_hot(labels, CAMVID.num_classes).T.float()  # (K, W)
        return onehot[None, :, None, :].expand(n, -1, h, -1).clone()  # (N, K, H, W)


@pytest.fixture
def cityscapes_root(tmp_path: Path, write_image) -> Path:
    """A one-image Cityscapes val split (leftImg8bit + gtFine labelIds)."""
    root = tmp_path / "cityscapes"
    stem = "aachen_000000_000019"
    rgb = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    write_image(root / "leftImg8bit" / "val" / "aachen" / f"{stem}_leftImg8bit.png", rgb)
    write_image(root / "gtFine" / "val" / "aachen" / f"{stem}_gtFine_labelIds.png", GT_LABEL_IDS)
    return root


@pytest.fixture
def camvid_stub(monkeypatch) -> None:
    spec = ModelSpec(arch="enet", info=CAMVID)
    monkeypatch.setattr(loading, "load", lambda name, **kw: (ColumnStub(), spec))


def test_cityscapes_ground_truth_is_scored_in_camvid_classes(
    cityscapes_root: Path, camvid_stub, tmp_path: Path
) -> None:
    report_path = tmp_path / "eval.json"
    code = main(["eval", "stub", "--data", str(cityscapes_root), "--format", "cityscapes",
                 "--label-map", "camvid", "--json", str(report_path)])
    assert code == 0
    report = json.loads(report_path.read_text())
    expected = np.zeros((11, 11), dtype=np.int64)
    for (gt, pred), count in EXPECTED.items():
        expected[gt, pred] = count
    np.testing.assert_array_equal(np.array(report["confusion_matrix"]), expected)
    assert report["num_pixels"] == 22  # 24 pixels minus unlabeled and ground (no counterpart)
    assert report["label_map"] == "camvid"
    assert report["class_iou"]["road"] == pytest.approx(5 / 7)
    assert report["pixel_acc"] == pytest.approx(14 / 22)


def test_without_label_map_the_class_mismatch_names_the_option(
    cityscapes_root: Path, camvid_stub, capsys
) -> None:
    code = main(["eval", "stub", "--data", str(cityscapes_root), "--format", "cityscapes"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert "differ from dataset classes" in err and "--label-map" in err


def test_label_map_must_be_the_models_label_set(
    cityscapes_root: Path, camvid_stub, capsys
) -> None:
    code = main(["eval", "stub", "--data", str(cityscapes_root), "--format", "cityscapes",
                 "--label-map", "cityscapes"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "not that label set's" in err


def test_label_map_without_a_table_is_a_one_line_error(
    cityscapes_root: Path, camvid_stub, capsys
) -> None:
    code = main(["eval", "stub", "--data", str(cityscapes_root), "--format", "cityscapes",
                 "--label-map", "voc"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "no label map from cityscapes to voc" in err


# --- the other direction: a Cityscapes model's predictions scored in CamVid's classes -------

# The stub's two most likely Cityscapes classes per column (probabilities 0.45 and 0.35, the
# remaining 0.2 spread evenly); the mapped CamVid prediction sums classes that merge.
COLUMN_TOP2 = (("road", "sidewalk"), ("truck", "person"), ("person", "bus"),
               ("terrain", "sky"), ("wall", "sky"), ("rider", "bicycle"))
# column 2: person 0.45 beats bus 0.35 + car, truck, train (3 x 0.2/17) merged into car
MAPPED_BY_COLUMN = ("road", "car", "pedestrian", "tree", "building", "bicyclist")


def _column_probs(width: int) -> torch.Tensor:
    k = CITYSCAPES.num_classes
    probs = torch.full((k, width), 0.2 / (k - 2))
    for j, (first, second) in enumerate(COLUMN_TOP2):
        probs[CITYSCAPES.classes.index(first), j] = 0.45
        probs[CITYSCAPES.classes.index(second), j] = 0.35
    return probs  # (K, W), columns sum to 1


class CityscapesColumnStub(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        return _column_probs(w).log()[None, :, None, :].expand(n, -1, h, -1).clone()


def test_map_logits_sums_the_probabilities_of_merged_classes() -> None:
    logits = _column_probs(6).log()[None, :, None, :]  # (1, 19, 1, 6)
    out = map_logits(logits, "cityscapes", "camvid")
    assert out.shape == (1, 11, 1, 6)
    probs = out.exp()[0, :, 0]  # (11, 6)
    torch.testing.assert_close(probs.sum(0), torch.ones(6))  # every Cityscapes class maps
    car = CAMVID.classes.index("car")
    other = 0.2 / 17
    assert probs[car, 1] == pytest.approx(0.45 + 3 * other)  # truck + car, bus, train
    assert probs[car, 2] == pytest.approx(0.35 + 3 * other)
    pred = [CAMVID.classes[i] for i in out[0, :, 0].argmax(0).tolist()]
    assert tuple(pred) == MAPPED_BY_COLUMN


def test_map_logits_never_predicts_a_class_without_sources() -> None:
    out = map_logits(torch.zeros(1, 11, 2, 2), "camvid", "cityscapes")
    rider = CITYSCAPES.classes.index("rider")  # CamVid's bicyclist maps to nothing
    assert torch.isneginf(out[:, rider]).all()


@pytest.fixture
def camvid_root_one(tmp_path: Path, write_image) -> Path:
    """A one-image CamVid val split whose 4x6 mask is MAPPED_BY_COLUMN, but row 0 is all road."""
    root = tmp_path / "camvid"
    columns = [CAMVID.classes.index(c) for c in MAPPED_BY_COLUMN]
    mask = np.tile(np.array(columns, np.uint8), (4, 1))
    mask[0] = CAMVID.classes.index("road")
    rgb = np.random.default_rng(0).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    write_image(root / "val" / "0001.png", rgb)
    write_image(root / "valannot" / "0001.png", mask)
    return root


def test_cityscapes_predictions_are_scored_in_camvid_classes(
    camvid_root_one: Path, monkeypatch, tmp_path: Path
) -> None:
    spec = ModelSpec(arch="enet", info=CITYSCAPES)
    monkeypatch.setattr(loading, "load", lambda name, **kw: (CityscapesColumnStub(), spec))
    report_path = tmp_path / "eval.json"
    assert main(["eval", "stub", "--data", str(camvid_root_one), "--map-predictions",
                 "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert report["predictions_mapped"] == "cityscapes->camvid"
    assert report["num_pixels"] == 24 and report["pixel_acc"] == pytest.approx(19 / 24)
    matrix = np.array(report["confusion_matrix"])
    road = CAMVID.classes.index("road")
    assert matrix[road, road] == 4 and matrix[road].sum() == 4 + 5  # row 0 is road
    assert report["class_iou"]["road"] == pytest.approx(4 / 9)


def test_map_predictions_needs_a_table_and_excludes_label_map(
    camvid_root_one: Path, camvid_stub, capsys
) -> None:
    code = main(["eval", "stub", "--data", str(camvid_root_one), "--map-predictions",
                 "--label-map", "camvid"])
    assert code == 2 and "opposite directions" in capsys.readouterr().err

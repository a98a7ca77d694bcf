"""ADE20K reader on a tiny ADEChallengeData2016 tree."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semseg.cli import main
from semseg.data import ade20k
from semseg.errors import DatasetLayoutError, InputFileError, LabelError


def make_ade(root: Path, mask: np.ndarray, folder: str = "validation",
             name: str = "ADE_val_00000001") -> Path:
    base = root / "ADEChallengeData2016"
    (base / "images" / folder).mkdir(parents=True, exist_ok=True)
    (base / "annotations" / folder).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*mask.shape, 3), 7, np.uint8)).save(
        base / "images" / folder / f"{name}.jpg")
    Image.fromarray(mask.astype(np.uint8), mode="L").save(
        base / "annotations" / folder / f"{name}.png")
    return root


def test_zero_is_ignored_and_labels_shift_down(tmp_path: Path) -> None:
    raw = np.array([[0, 1, 2], [149, 150, 0]], np.uint8)
    root = make_ade(tmp_path, raw)
    ds = ade20k.dataset(root, "val")  # ROOT may be the parent of ADEChallengeData2016
    _, mask = ds.load(0)
    np.testing.assert_array_equal(mask, [[255, 0, 1], [148, 149, 255]])
    assert ade20k.INFO.classes[0] == "wall" and ade20k.INFO.classes[149] == "flag"
    assert ade20k.INFO.num_classes == 150 and len(set(ade20k.INFO.palette)) == 150


def test_folder_names_accepted_as_split_names(tmp_path: Path) -> None:
    root = make_ade(tmp_path, np.ones((2, 2), np.uint8), "training", "ADE_train_00000001")
    assert len(ade20k.dataset(root / "ADEChallengeData2016", "training")) == 1
    assert [s.split for s in ade20k.splits(root)] == ["train"]


def test_value_above_150_is_an_error(tmp_path: Path) -> None:
    root = make_ade(tmp_path, np.array([[151, 3]], np.uint8))
    with pytest.raises(LabelError, match=r"ADE_val_00000001\.png: label values 151 outside "
                                         r"the allowed 0-150"):
        ade20k.dataset(root, "val").load(0)


def test_annotation_that_is_not_an_image(tmp_path: Path) -> None:
    root = make_ade(tmp_path, np.ones((2, 2), np.uint8))
    bad = root / "ADEChallengeData2016/annotations/validation/ADE_val_00000001.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(InputFileError, match=r"ADE_val_00000001\.png: not an image file"):
        ade20k.dataset(root, "val").load(0)


def test_missing_annotations_folder(tmp_path: Path) -> None:
    (tmp_path / "images" / "validation").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match=r"annotations: folder not found \(ADE20K"):
        ade20k.splits(tmp_path)


def test_unpaired_image_is_a_problem(tmp_path: Path) -> None:
    root = make_ade(tmp_path, np.ones((2, 2), np.uint8))
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(
        root / "ADEChallengeData2016/images/validation/ADE_val_00000002.jpg")
    with pytest.raises(DatasetLayoutError, match=r"ADE_val_00000002\.jpg: no mask"):
        ade20k.dataset(root, "val")


def test_cli_verify(tmp_path: Path, capsys) -> None:
    root = make_ade(tmp_path, np.array([[0, 1, 1, 150]], np.uint8))
    assert main(["datasets", "verify", str(root), "--format", "ade20k", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["splits"]
    assert report["class_pixels"]["wall"] == 2 and report["class_pixels"]["flag"] == 1
    assert report["ignore_pixels"] == 1

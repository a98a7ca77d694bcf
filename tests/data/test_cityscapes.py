"""Cityscapes reader on a tiny tree in the official leftImg8bit / gtFine layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semseg.cli import main
from semseg.data import cityscapes, get_format
from semseg.data.verify import verify_split
from semseg.errors import DatasetLayoutError, LabelError

# label id -> expected train id, straight from the official table
ID_TO_TRAIN = {0: 255, 1: 255, 6: 255, 7: 0, 8: 1, 9: 255, 11: 2, 17: 5, 19: 6, 20: 7, 21: 8,
               23: 10, 24: 11, 26: 13, 29: 255, 30: 255, 31: 16, 33: 18}


def make_city(root: Path, split: str = "val", ids: np.ndarray | None = None,
              train_ids: np.ndarray | None = None, stem: str = "frankfurt_000000_000294") -> Path:
    city = stem.split("_")[0]
    img_dir = root / "leftImg8bit" / split / city
    gt_dir = root / "gtFine" / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    if ids is None:
        ids = np.array(list(ID_TO_TRAIN), dtype=np.uint8).reshape(2, 9)
    Image.fromarray(np.full((*ids.shape, 3), 90, np.uint8)).save(
        img_dir / f"{stem}_leftImg8bit.png")
    Image.fromarray(ids.astype(np.uint8), mode="L").save(gt_dir / f"{stem}_gtFine_labelIds.png")
    if train_ids is not None:
        Image.fromarray(train_ids.astype(np.uint8), mode="L").save(
            gt_dir / f"{stem}_gtFine_labelTrainIds.png")
    return root


def test_official_table_has_19_train_classes_in_order() -> None:
    assert cityscapes.INFO.num_classes == 19
    assert cityscapes.INFO.classes[:3] == ("road", "sidewalk", "building")
    assert cityscapes.INFO.classes[-1] == "bicycle"
    assert cityscapes.INFO.palette[0] == (128, 64, 128)
    assert len({lb.id for lb in cityscapes.LABELS}) == 35  # 0..33 and -1


def test_label_ids_map_to_train_ids(tmp_path: Path) -> None:
    root = make_city(tmp_path)
    image, mask = cityscapes.dataset(root, "val").load(0)
    expected = np.array([ID_TO_TRAIN[i] for i in ID_TO_TRAIN], np.uint8).reshape(2, 9)
    np.testing.assert_array_equal(mask, expected)
    assert image.shape == (2, 9, 3)
    x, y = cityscapes.dataset(root, "val")[0]
    assert x.shape == (3, 2, 9) and y.dtype == torch.int64


def test_every_id_in_the_lut() -> None:
    for lb in cityscapes.LABELS:
        if lb.id >= 0:
            assert cityscapes.LUT[lb.id] == lb.train_id
    assert cityscapes.LUT[255] == 255  # license plate written as uint8(-1)


def test_train_id_fast_path_used_when_all_present(tmp_path: Path) -> None:
    ids = np.full((2, 2), 7, np.uint8)  # all road by label id
    train_ids = np.array([[0, 1], [255, 18]], np.uint8)
    root = make_city(tmp_path, ids=ids, train_ids=train_ids)
    ds = cityscapes.dataset(root, "val")
    assert ds.samples[0].mask.name.endswith("_gtFine_labelTrainIds.png")
    np.testing.assert_array_equal(ds.load(0)[1], train_ids)


def test_undefined_label_id_is_reported(tmp_path: Path) -> None:
    root = make_city(tmp_path, ids=np.array([[7, 40]], np.uint8))
    with pytest.raises(LabelError, match=r"labelIds\.png: label values 40 outside"):
        cityscapes.dataset(root, "val").load(0)
    report = verify_split(get_format("cityscapes").splits(root)[0])
    assert report.ok_pairs == 0 and "40" in report.problems[0]


def test_missing_gtfine_folder(tmp_path: Path) -> None:
    root = make_city(tmp_path)
    (root / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000294_gtFine_labelIds.png").unlink()
    (root / "gtFine" / "val" / "frankfurt").rmdir()
    (root / "gtFine" / "val").rmdir()
    with pytest.raises(DatasetLayoutError, match=r"gtFine/val: folder not found .*labelIds"):
        cityscapes.dataset(root, "val")


def test_missing_mask_names_the_file(tmp_path: Path) -> None:
    root = make_city(tmp_path)
    make_city(root, stem="frankfurt_000000_000576")
    (root / "gtFine/val/frankfurt/frankfurt_000000_000576_gtFine_labelIds.png").unlink()
    with pytest.raises(DatasetLayoutError, match=r"000576_gtFine_labelIds\.png: mask not found"):
        cityscapes.dataset(root, "val")
    (source,) = cityscapes.splits(root)
    assert len(source.samples) == 1 and len(source.problems) == 1


def test_wrong_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"leftImg8bit: folder not found"):
        cityscapes.splits(tmp_path)


def test_cli_verify_counts_train_ids(tmp_path: Path, capsys) -> None:
    root = make_city(tmp_path)
    assert main(["datasets", "verify", str(root), "--format", "cityscapes", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["splits"]
    assert report["split"] == "val" and report["ok_pairs"] == 1
    assert report["class_pixels"]["road"] == 1 and report["ignore_pixels"] == 6

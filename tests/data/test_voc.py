"""PASCAL VOC 2012 + SBD on a tiny VOCdevkit tree: palette PNGs, split lists, .mat masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from semseg.cli import main
from semseg.data import voc
from semseg.errors import DatasetLayoutError, InputFileError, LabelError

MASK = np.array([[0, 15, 255], [20, 1, 255]], np.uint8)  # background, person, boundary, tv, plane


def palette_png(path: Path, mask: np.ndarray) -> None:
    img = Image.fromarray(mask, mode="P")
    pal = [v for c in voc.INFO.palette for v in c] + [0] * 3 * (256 - 21)
    pal[255 * 3: 256 * 3] = voc.BOUNDARY_COLOR
    img.putpalette(pal)
    img.save(path)


def make_voc(root: Path, ids: dict[str, list[str]], masks: dict[str, np.ndarray]) -> Path:
    base = root / "VOCdevkit" / "VOC2012"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / d).mkdir(parents=True, exist_ok=True)
    for split, names in ids.items():
        (base / "ImageSets/Segmentation" / f"{split}.txt").write_text("\n".join(names) + "\n")
    for name in {n for names in ids.values() for n in names}:
        Image.fromarray(np.full((2, 3, 3), 100, np.uint8)).save(base / "JPEGImages" / f"{name}.jpg")
    for name, mask in masks.items():
        palette_png(base / "SegmentationClass" / f"{name}.png", mask)
    return root


def make_sbd(root: Path, train: list[str], val: list[str], masks: dict[str, np.ndarray]) -> None:
    sbd = root / "benchmark_RELEASE" / "dataset"
    (sbd / "cls").mkdir(parents=True)
    (sbd / "img").mkdir()
    (sbd / "train.txt").write_text("\n".join(train) + "\n")
    (sbd / "val.txt").write_text("\n".join(val) + "\n")
    for name, seg in masks.items():  # a MATLAB struct GTcls with the SBD fields
        savemat(sbd / "cls" / f"{name}.mat", {"GTcls": {
            "Segmentation": seg.astype(np.uint8), "CategoriesPresent": np.unique(seg[seg > 0]),
            "Boundaries": np.zeros((20, 1), dtype=object)}})
        Image.fromarray(np.zeros((*seg.shape, 3), np.uint8)).save(sbd / "img" / f"{name}.jpg")


def test_palette_png_indices_and_boundary(tmp_path: Path) -> None:
    root = make_voc(tmp_path, {"train": ["2007_000032"], "val": ["2007_000033"]},
                    {"2007_000032": MASK, "2007_000033": MASK})
    sources = {s.split: s for s in voc.splits(root)}
    assert set(sources) == {"train", "val"}
    _, mask = voc.dataset(root, "train").load(0)
    np.testing.assert_array_equal(mask, MASK)
    assert voc.INFO.palette[15] == (192, 128, 128) and voc.INFO.classes[15] == "person"


def test_root_may_be_voc2012_itself(tmp_path: Path) -> None:
    root = make_voc(tmp_path, {"val": ["a"]}, {"a": MASK})
    assert len(voc.dataset(root / "VOCdevkit" / "VOC2012", "val")) == 1


def test_mask_resaved_as_rgb_is_decoded_with_voc_colours(tmp_path: Path) -> None:
    root = make_voc(tmp_path, {"val": ["a"]}, {"a": MASK})
    path = root / "VOCdevkit/VOC2012/SegmentationClass/a.png"
    Image.open(path).convert("RGB").save(path)
    np.testing.assert_array_equal(voc.dataset(root, "val").load(0)[1], MASK)


def test_train_aug_union_minus_val_and_mask_precedence(tmp_path: Path) -> None:
    sbd_mask = np.array([[3, 3, 3], [0, 0, 7]], np.uint8)
    root = make_voc(tmp_path, {"train": ["t1", "v_sbd"], "val": ["v1"]},
                    {"t1": MASK, "v_sbd": MASK, "v1": MASK})
    make_sbd(root, train=["s1", "v1"], val=["t1", "s2"],
             masks={"s1": sbd_mask, "v1": sbd_mask, "t1": sbd_mask, "s2": sbd_mask})
    sources = {s.split: s for s in voc.splits(root)}
    aug = sources["train_aug"]
    assert [s.image.stem for s in aug.samples] == ["s1", "s2", "t1", "v_sbd"]  # v1 is val
    ds = voc.dataset(root, "train_aug")
    by_name = {s.image.stem: i for i, s in enumerate(ds.samples)}
    np.testing.assert_array_equal(ds.load(by_name["s1"])[1], sbd_mask)  # only in SBD: .mat
    np.testing.assert_array_equal(ds.load(by_name["t1"])[1], MASK)  # VOC mask wins
    assert ds.samples[by_name["s1"]].mask.suffix == ".mat"
    assert ds.samples[by_name["s2"]].image.parent.name == "img"  # SBD's own image


def test_train_aug_without_sbd(tmp_path: Path) -> None:
    root = make_voc(tmp_path, {"train": ["a"]}, {"a": MASK})
    with pytest.raises(DatasetLayoutError, match=r"'train_aug' needs SBD"):
        voc.dataset(root, "train_aug")


def test_sbd_file_that_is_not_a_mat(tmp_path: Path) -> None:
    root = make_voc(tmp_path, {"train": [], "val": []}, {})
    make_sbd(root, ["s1"], [], {"s1": np.zeros((2, 3), np.uint8)})
    (root / "benchmark_RELEASE/dataset/cls/s1.mat").write_bytes(b"garbage")
    with pytest.raises(InputFileError, match=r"s1\.mat: not a MATLAB \.mat file"):
        voc.dataset(root, "train_aug").load(0)
    savemat(root / "benchmark_RELEASE/dataset/cls/s1.mat", {"other": np.zeros(2)})
    with pytest.raises(InputFileError, match=r"s1\.mat: no GTcls\.Segmentation"):
        voc.dataset(root, "train_aug").load(0)


def test_class_21_in_a_mask_is_an_error(tmp_path: Path) -> None:
    root = make_voc(tmp_path, {"val": ["a"]}, {"a": np.array([[21, 0]], np.uint8)})
    with pytest.raises(LabelError, match=r"a\.png: label values 21 outside the allowed 0-20, 255"):
        voc.dataset(root, "val").load(0)


def test_listed_image_without_mask(tmp_path: Path) -> None:
    root = make_voc(tmp_path, {"val": ["a", "b"]}, {"a": MASK})
    with pytest.raises(DatasetLayoutError, match=r"SegmentationClass/b\.png: listed in the val "
                                                  r"split but not found"):
        voc.dataset(root, "val")


def test_not_a_voc_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match=r"no VOCdevkit/VOC2012/JPEGImages folder"):
        voc.splits(tmp_path)


def test_cli_verify_reports_bad_sbd_mask(tmp_path: Path, capsys) -> None:
    root = make_voc(tmp_path, {"train": ["t1"], "val": ["v1"]}, {"t1": MASK, "v1": MASK})
    make_sbd(root, ["s1"], [], {"s1": np.array([[30, 0, 0], [0, 0, 0]], np.uint8)})
    assert main(["datasets", "verify", str(root), "--format", "voc", "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    reports = {r["split"]: r for r in out["splits"]}
    assert set(reports) == {"train", "val", "train_aug"}
    assert reports["val"]["ignore_pixels"] == 2 and reports["val"]["class_pixels"]["person"] == 1
    (problem,) = reports["train_aug"]["problems"]
    assert "s1.mat: label values 30 outside the allowed 0-20, 255" in problem

"""CamVid reader: the real dataset when present, and small trees in its layout built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from semseg.data import camvid
from semseg.errors import DatasetLayoutError, InputFileError, LabelError
from semseg.fileio.images import read_mask

# --- the real CamVid ----------------------------------------------------------------------------


def test_real_splits_sizes(camvid_root: Path) -> None:
    sources = {s.split: s for s in camvid.splits(camvid_root)}
    assert set(sources) == {"train", "val"}  # test is kept aside
    assert len(sources["train"].samples) == 367
    assert len(sources["val"].samples) == 101
    assert sources["train"].problems == [] and sources["val"].problems == []
    first = sources["train"].samples[0]
    assert first.image == camvid_root / "train" / "0001TP_006690.png"
    assert first.mask == camvid_root / "trainannot" / "0001TP_006690.png"


def test_real_sample_is_decoded_and_void_mapped(camvid_root: Path) -> None:
    ds = camvid.dataset(camvid_root, "val")
    assert len(ds) == 101
    # Find a frame with void pixels, so the 11 -> 255 mapping is exercised.
    for i in range(len(ds)):
        raw = read_mask(ds.samples[i].mask)
        if (raw == 11).any():
            break
    image, mask = ds.load(i)
    assert image.shape == (360, 480, 3) and image.dtype == np.uint8
    assert mask.shape == (360, 480) and mask.dtype == np.uint8
    np.testing.assert_array_equal(mask == 255, raw == 11)
    np.testing.assert_array_equal(mask[raw != 11], raw[raw != 11])
    assert set(np.unique(mask)) <= set(range(11)) | {255}
    x, y = ds[i]
    assert x.shape == (3, 360, 480) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert y.dtype == torch.int64 and int((y == 255).sum()) == int((raw == 11).sum())


# --- small trees in the CamVid layout -----------------------------------------------------------


def make_camvid(
    root: Path, split: str, masks: dict[str, np.ndarray], list_file: bool = True,
    image_ext: str = ".png",
) -> Path:
    """Write ROOT/split/*, ROOT/splitannot/* and (optionally) ROOT/split.txt."""
    (root / split).mkdir(parents=True, exist_ok=True)
    (root / f"{split}annot").mkdir(exist_ok=True)
    lines = []
    for stem, mask in masks.items():
        h, w = mask.shape
        rgb = np.full((h, w, 3), 100, np.uint8)
        Image.fromarray(rgb).save(root / split / f"{stem}{image_ext}")
        Image.fromarray(mask.astype(np.uint8)).save(root / f"{split}annot" / f"{stem}.png")
        # The list files always name .png frames, also in the JPEG-packed copy.
        lines.append(f"/SegNet/CamVid/{split}/{stem}.png /SegNet/CamVid/{split}annot/{stem}.png")
    if list_file:
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


MASK = np.array([[0, 1, 11, 10], [3, 3, 11, 4]])


def test_splits_with_and_without_list_file(tmp_path: Path) -> None:
    make_camvid(tmp_path, "train", {"b": MASK, "a": MASK})
    make_camvid(tmp_path, "val", {"c": MASK, "d": MASK}, list_file=False)
    sources = camvid.splits(tmp_path)
    assert [s.split for s in sources] == ["train", "val"]
    train, val = sources
    # The list file's order is kept; stem pairing sorts.
    assert [s.image.name for s in train.samples] == ["b.png", "a.png"]
    assert [s.mask for s in train.samples] == [tmp_path / "trainannot" / n for n in ("b.png",
                                                                                     "a.png")]
    assert [s.image.name for s in val.samples] == ["c.png", "d.png"]
    assert train.problems == [] and val.problems == []
    assert train.info is camvid.INFO


def test_jpeg_frames_are_found_through_png_list_entries(tmp_path: Path) -> None:
    make_camvid(tmp_path, "train", {"a": MASK}, image_ext=".jpg")
    make_camvid(tmp_path, "val", {"b": MASK}, list_file=False, image_ext=".jpg")
    train, val = camvid.splits(tmp_path)
    assert train.samples[0].image == tmp_path / "train" / "a.jpg"
    assert val.samples[0].image == tmp_path / "val" / "b.jpg"
    image, mask = camvid.dataset(tmp_path, "train").load(0)
    assert image.shape == (2, 4, 3)
    np.testing.assert_array_equal(mask, [[0, 1, 255, 10], [3, 3, 255, 4]])


def test_missing_annotation_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetLayoutError) as exc:
        camvid.splits(tmp_path)
    assert str(exc.value).startswith(f"{tmp_path / 'trainannot'}: folder not found")


def test_missing_root_and_empty_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="folder not found"):
        camvid.splits(tmp_path / "nope")
    with pytest.raises(DatasetLayoutError) as exc:
        camvid.splits(tmp_path)
    assert str(exc.value).startswith(f"{tmp_path}: no train/val/test folders")


def test_unknown_and_absent_split(tmp_path: Path) -> None:
    make_camvid(tmp_path, "train", {"a": MASK})
    with pytest.raises(DatasetLayoutError, match="CamVid split 'dev' unknown"):
        camvid.dataset(tmp_path, "dev")
    with pytest.raises(DatasetLayoutError) as exc:
        camvid.dataset(tmp_path, "val")
    assert str(exc.value).startswith(f"{tmp_path / 'val'}: folder not found")


def test_bad_list_line_is_a_problem(tmp_path: Path) -> None:
    make_camvid(tmp_path, "train", {"a": MASK})
    with open(tmp_path / "train.txt", "a") as f:
        f.write("\n/SegNet/CamVid/train/only_one_path.png\n")
    (source,) = camvid.splits(tmp_path)
    assert len(source.samples) == 1
    assert source.problems == [
        f"{tmp_path / 'train.txt'}:3: expected 'image mask', got "
        "'/SegNet/CamVid/train/only_one_path.png'"
    ]
    with pytest.raises(DatasetLayoutError, match=r"train\.txt:3: expected 'image mask'"):
        camvid.dataset(tmp_path, "train")


def test_listed_file_missing_on_disk(tmp_path: Path) -> None:
    make_camvid(tmp_path, "train", {"a": MASK, "b": MASK})
    (tmp_path / "train" / "b.png").unlink()
    ds = camvid.dataset(tmp_path, "train")
    with pytest.raises(InputFileError) as exc:
        ds.load(1)
    assert str(exc.value) == f"{tmp_path / 'train' / 'b.png'}: file not found"


def test_undefined_label_value(tmp_path: Path) -> None:
    make_camvid(tmp_path, "train", {"a": np.array([[0, 12, 40], [1, 2, 3]])})
    with pytest.raises(LabelError) as exc:
        camvid.dataset(tmp_path, "train").load(0)
    mask = tmp_path / "trainannot" / "a.png"
    assert str(exc.value) == f"{mask}: label values 12, 40 outside the allowed 0-11"


def test_empty_split_folder(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "trainannot").mkdir()
    with pytest.raises(DatasetLayoutError, match="no images found"):
        camvid.dataset(tmp_path, "train")

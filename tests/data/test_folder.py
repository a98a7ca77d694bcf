"""Folder datasets: index and colour masks, palette files, split sub-folders, pairing problems."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semseg.data import camvid, folder
from semseg.errors import ConfigError, DatasetLayoutError, InputFileError, LabelError

IDS = np.array([[0, 1, 2, 255], [2, 2, 1, 0]], np.uint8)  # (2, 4), 255 = ignore


def rgb(h: int = 2, w: int = 4, value: int = 90) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def test_index_masks_with_classes_txt(make_folder_dataset) -> None:
    root = make_folder_dataset({"x": (rgb(), IDS), "y": (rgb(), IDS[::-1])},
                               classes="road\nsidewalk\n\ncar\n")
    (source,) = folder.splits(root)
    assert source.split == "all"
    assert source.info.classes == ("road", "sidewalk", "car")
    assert source.info.name == "ds"
    assert source.info.palette[:3] == ((0, 0, 0), (128, 0, 0), (0, 128, 0))  # VOC default
    assert [s.image.name for s in source.samples] == ["x.png", "y.png"]
    ds = folder.dataset(root)
    image, mask = ds.load(1)
    assert image.shape == (2, 4, 3)
    np.testing.assert_array_equal(mask, IDS[::-1])


def test_classes_txt_with_colours_and_spaces(make_folder_dataset) -> None:
    text = "road 128 64 128\ntraffic light 250 170 30\n"
    root = make_folder_dataset({"x": (rgb(), np.array([[0, 1], [1, 0]]))}, classes=text)
    info, void = folder.load_palette(root / "classes.txt")
    assert info.classes == ("road", "traffic light")
    assert info.palette == ((128, 64, 128), (250, 170, 30))
    assert void.shape == (0, 3)


@pytest.mark.parametrize(
    "text,problem",
    [("road 1 2\n", ":1: expected 'name' or 'name r g b', got 'road 1 2'"),
     ("road 1 2 3\ncar\n", ": give colours for every class or for none"),
     ("road 1 2 300\n", ": dataset 'ds': palette entries must be (r, g, b) in 0..255")],
)
def test_bad_classes_txt(make_folder_dataset, text: str, problem: str) -> None:
    root = make_folder_dataset({}, classes=text)
    with pytest.raises(ConfigError) as exc:
        folder.splits(root)
    assert str(exc.value) == f"{root / 'classes.txt'}{problem}"


PALETTE_JSON = {
    "classes": ["road", "car", "person"],
    "palette": [[128, 64, 128], [0, 0, 142], [220, 20, 60]],
    "void_colors": [[0, 0, 0], [255, 255, 255]],
}


def colours(ids: np.ndarray) -> np.ndarray:
    table = np.array([*PALETTE_JSON["palette"], *PALETTE_JSON["void_colors"]], np.uint8)
    return table[ids]  # ids 3 and 4 are the void colours


def test_colour_masks_with_palette_json(make_folder_dataset) -> None:
    ids = np.array([[0, 1, 2, 3], [4, 2, 1, 0]])
    root = make_folder_dataset({"x": (rgb(), colours(ids))}, classes=PALETTE_JSON)
    ds = folder.dataset(root)
    assert ds.info.classes == ("road", "car", "person")
    _, mask = ds.load(0)
    np.testing.assert_array_equal(mask, [[0, 1, 2, 255], [255, 2, 1, 0]])


def test_colour_mask_with_unknown_colour(make_folder_dataset) -> None:
    mask = colours(np.array([[0, 1], [2, 0]]))
    mask[1, 1] = (7, 7, 7)
    root = make_folder_dataset({"x": (rgb(2, 2), mask)}, classes=PALETTE_JSON)
    with pytest.raises(LabelError) as exc:
        folder.dataset(root).load(0)
    path = root / "masks" / "x.png"
    assert str(exc.value) == f"{path}: 1 pixels have colours not in the palette, e.g. (7,7,7)"


def test_palette_json_ignore_index(make_folder_dataset) -> None:
    spec = {"classes": ["a", "b"], "ignore_index": 254}
    root = make_folder_dataset({"x": (rgb(1, 3), np.array([[0, 254, 1]]))}, classes=spec)
    ds = folder.dataset(root)
    assert ds.info.ignore_index == 254
    np.testing.assert_array_equal(ds.load(0)[1], [[0, 254, 1]])
    root.joinpath("masks", "x.png").unlink()
    make_folder_dataset({"x": (rgb(1, 3), np.array([[0, 255, 1]]))}, classes=spec)
    with pytest.raises(LabelError, match="label values 255 outside the allowed 0-1, 254"):
        ds.load(0)


@pytest.mark.parametrize(
    "content,problem",
    [("{not json", "not a valid palette file (JSONDecodeError"),
     ('{"palette": [[1, 2, 3]]}', "not a valid palette file (KeyError"),
     ('{"classes": ["a"], "palette": [["x", 2, 3]]}', "not a valid palette file (ValueError"),
     ('{"classes": ["a"], "void_colors": [[1, 2]]}', "not a valid palette file (ValueError"),
     ('{"classes": ["a", "b"], "palette": [[1, 2, 3]]}',
      "dataset 'ds': 2 classes but 1 palette colours")],
)
def test_bad_palette_json(make_folder_dataset, content: str, problem: str) -> None:
    root = make_folder_dataset({}, classes=None)
    (root / "palette.json").write_text(content)
    with pytest.raises(ConfigError) as exc:
        folder.splits(root)
    assert str(exc.value).startswith(f"{root / 'palette.json'}: {problem}")


def test_split_sub_folders(make_folder_dataset) -> None:
    make_folder_dataset({"a": (rgb(), IDS), "b": (rgb(), IDS)}, split="train")
    root = make_folder_dataset({"c": (rgb(), IDS)}, split="val", image_ext=".jpg")
    sources = folder.splits(root)
    assert [(s.split, [p.image.name for p in s.samples]) for s in sources] == [
        ("train", ["a.png", "b.png"]), ("val", ["c.jpg"])]
    assert len(folder.dataset(root, "val")) == 1
    with pytest.raises(DatasetLayoutError, match=r"split 'all' not found; available: train, val"):
        folder.dataset(root)


def test_split_without_mask_folder(make_folder_dataset) -> None:
    root = make_folder_dataset({"a": (rgb(), IDS)}, split="train")
    (root / "images" / "val").mkdir()
    with pytest.raises(DatasetLayoutError) as exc:
        folder.splits(root)
    assert str(exc.value).startswith(f"{root / 'masks' / 'val'}: folder not found")


def test_unpaired_and_duplicate_files_are_problems(make_folder_dataset) -> None:
    root = make_folder_dataset({"a": (rgb(), IDS), "b": (rgb(), IDS)})
    (root / "masks" / "b.png").rename(root / "masks" / "b_mask.png")
    (root / "images" / "a.jpg").write_bytes((root / "images" / "a.png").read_bytes())
    (source,) = folder.splits(root)
    assert [s.image.name for s in source.samples] == ["a.jpg"]
    assert source.problems == sorted([
        f"{root / 'images' / 'a.png'}: same stem as a.jpg; keeping the first",
        f"{root / 'images' / 'b.png'}: no mask with this stem in {root / 'masks'}",
        f"{root / 'masks' / 'b_mask.png'}: no image with this stem in {root / 'images'}",
    ])


def test_size_mismatch(make_folder_dataset) -> None:
    root = make_folder_dataset({"x": (rgb(8, 10), np.zeros((4, 4), np.uint8))})
    with pytest.raises(InputFileError) as exc:
        folder.dataset(root).load(0)
    assert str(exc.value) == f"{root / 'masks' / 'x.png'}: mask is 4x4 but image x.png is 10x8"


def test_builtin_palette_camvid(make_folder_dataset) -> None:
    ids = np.array([[0, 3, 8], [10, 255, 3]])
    root = make_folder_dataset({"i": (rgb(2, 3), ids)}, classes=None)
    colour = camvid.INFO.palette_array()[np.array([[0, 3, 8], [10, 1, 3]])]
    make_folder_dataset({"c": (rgb(2, 3), colour)}, classes=None)
    (source,) = folder.splits(root, palette="camvid")
    assert source.info is camvid.INFO
    ds = source.dataset()
    np.testing.assert_array_equal(ds.load(0)[1], [[0, 3, 8], [10, 1, 3]])  # colour mask c
    np.testing.assert_array_equal(ds.load(1)[1], ids)  # index mask i


def test_palette_option_file_and_errors(make_folder_dataset, tmp_path: Path) -> None:
    root = make_folder_dataset({"x": (rgb(), IDS)}, classes=None)
    with pytest.raises(DatasetLayoutError) as exc:
        folder.splits(root)
    assert str(exc.value) == (
        f"{root}: no palette.json or classes.txt; add one or pass --palette FILE|DATASET")
    elsewhere = tmp_path / "labels.json"
    elsewhere.write_text(json.dumps({"classes": ["a", "b", "c"]}))
    (source,) = folder.splits(root, palette=str(elsewhere))
    assert source.info.classes == ("a", "b", "c")
    with pytest.raises(ConfigError) as exc:
        folder.splits(root, palette="no-such-set")
    message = str(exc.value)
    assert message.startswith("--palette no-such-set: neither a file nor a built-in dataset (")
    assert "camvid" in message


def test_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="folder not found"):
        folder.splits(tmp_path / "nope")
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetLayoutError) as exc:
        folder.splits(tmp_path)
    assert str(exc.value).startswith(f"{tmp_path / 'masks'}: folder not found")


def test_empty_split_cannot_be_loaded(make_folder_dataset) -> None:
    root = make_folder_dataset({})
    with pytest.raises(DatasetLayoutError, match="split 'all' has no image/mask pairs"):
        folder.dataset(root)

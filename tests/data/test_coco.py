"""COCO-Stuff PNG masks and COCO instance JSON (polygons, RLE, crowds) on tiny trees."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semseg.cli import main
from semseg.data import coco
from semseg.errors import DatasetLayoutError, InputFileError, LabelError


@pytest.fixture
def mask_utils():
    """pycocotools.mask; coco_things tests skip without it (COCO-Stuff tests do not need it)."""
    return pytest.importorskip("pycocotools.mask", reason="coco_things masks need pycocotools")

H, W = 5, 6
NAME = "000000000139"


def make_images(root: Path, split: str = "val2017", names: tuple[str, ...] = (NAME,)) -> None:
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((H, W, 3), 30, np.uint8)).save(root / "images" / split /
                                                               f"{name}.jpg")


def make_stuff(root: Path, mask: np.ndarray) -> Path:
    make_images(root)
    (root / "annotations" / "val2017").mkdir(parents=True)
    Image.fromarray(mask.astype(np.uint8), mode="L").save(root / "annotations/val2017" /
                                                          f"{NAME}.png")
    return root


def column_major_counts(pixels: list[tuple[int, int]]) -> list[int]:
    """Uncompressed COCO RLE counts of an (H, W) mask with the given (row, col) pixels set."""
    flat = np.zeros((H, W), np.uint8)
    for r, c in pixels:
        flat[r, c] = 1
    runs, value, n = [], 0, 0
    for v in flat.T.ravel():  # COCO RLE runs down the columns
        if v != value:
            runs.append(n)
            value, n = v, 0
        n += 1
    return [*runs, n]


def make_instances(root: Path, anns: list[dict]) -> Path:
    make_images(root)
    (root / "annotations").mkdir(exist_ok=True)
    data = {"images": [{"id": 139, "file_name": f"{NAME}.jpg", "height": H, "width": W}],
            "annotations": [{"id": k, "image_id": 139, **a} for k, a in enumerate(anns, 1)],
            "categories": [{"id": 1, "name": "person"}]}
    (root / "annotations" / "instances_val2017.json").write_text(json.dumps(data))
    return root


def test_official_id_list() -> None:
    assert coco.INFO.num_classes == 171 and len(coco.THING_IDS) == 80
    assert coco.THINGS_INFO.classes == coco.INFO.classes[:80]
    assert coco.INFO.classes[80] == "banner" and coco.INFO.classes[170] == "wood"
    for unused in ("street sign", "hat", "shoe", "eye glasses", "plate", "mirror", "window",
                   "desk", "door", "blender", "hair brush"):
        assert unused not in coco.INFO.classes
    assert coco.INFO.classes.index("toothbrush") == 79 and coco.THING_IDS[-1] == 90


def test_stuff_png_values_map_to_171_classes(tmp_path: Path) -> None:
    # PNG value v is COCO id v + 1: person, bicycle, stop sign (id 13), banner (92), wood (182)
    raw = np.array([[0, 1, 12, 91, 181, 255]] * H, np.uint8)[:, :W]
    root = make_stuff(tmp_path, raw)
    _, mask = coco.dataset(root, "val").load(0)
    np.testing.assert_array_equal(mask[0], [0, 1, 11, 80, 170, 255])
    assert [coco.INFO.classes[v] for v in mask[0, :5]] == [
        "person", "bicycle", "stop sign", "banner", "wood"]


@pytest.mark.parametrize("value", [11, 90])  # ids 12 (street sign) and 91 (hair brush): unused
def test_stuff_png_with_unused_id_is_an_error(tmp_path: Path, value: int) -> None:
    root = make_stuff(tmp_path, np.full((H, W), value, np.uint8))
    with pytest.raises(LabelError, match=rf"{NAME}\.png: label values {value} outside"):
        coco.dataset(root, "val2017").load(0)


def test_instances_paint_polygons_rle_and_crowds(tmp_path: Path, mask_utils) -> None:
    toothbrush = np.zeros((H, W), np.uint8, order="F")
    toothbrush[4, 0] = 1
    compressed = mask_utils.encode(np.asfortranarray(toothbrush))
    anns = [
        # a crowd of people over (2, 0) and (2, 4): painted first, so objects stay on top
        {"category_id": 1, "iscrowd": 1, "area": 2,
         "segmentation": {"size": [H, W], "counts": column_major_counts([(2, 0), (2, 4)])}},
        # person polygon x 0..4, y 0..3: pycocotools fills columns 0..3 of rows 0..2
        {"category_id": 1, "iscrowd": 0, "area": 12,
         "segmentation": [[0, 0, 4, 0, 4, 3, 0, 3]]},
        # a cat on top of the person: smaller, painted later
        {"category_id": 17, "iscrowd": 0, "area": 1, "segmentation": [[1, 1, 2, 1, 2, 2, 1, 2]]},
        # dog as uncompressed RLE at (3, 5), (4, 5)
        {"category_id": 18, "iscrowd": 0, "area": 2,
         "segmentation": {"size": [H, W], "counts": column_major_counts([(3, 5), (4, 5)])}},
        # toothbrush (id 90 -> class 79) as compressed RLE
        {"category_id": 90, "iscrowd": 0, "area": 1,
         "segmentation": {"size": [H, W], "counts": compressed["counts"].decode()}},
    ]
    root = make_instances(tmp_path, anns)
    (source,) = coco.splits(root, palette="coco_things")
    assert source.info is coco.THINGS_INFO and source.split == "val"
    raw = source.read_raw_mask(source.samples[0].mask)
    assert raw[2, 4] == coco.CROWD and raw[2, 0] == 1 and raw[0, 5] == 0
    _, mask = coco.dataset(root, "val", palette="coco_things").load(0)
    x = 255
    np.testing.assert_array_equal(mask, [
        [0, 0, 0, 0, x, x],
        [0, 15, 0, 0, x, x],
        [0, 0, 0, 0, x, x],
        [x, x, x, x, x, 16],
        [79, x, x, x, x, 16],
    ])


@pytest.mark.usefixtures("mask_utils")
def test_instances_with_unknown_category(tmp_path: Path) -> None:
    root = make_instances(tmp_path, [{"category_id": 12, "iscrowd": 0, "area": 1,
                                      "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}])
    with pytest.raises(LabelError, match=r"instances_val2017\.json/139: label values 12 outside"):
        coco.dataset(root, "val", palette="coco_things").load(0)


@pytest.mark.usefixtures("mask_utils")
def test_instances_json_problems(tmp_path: Path) -> None:
    root = make_instances(tmp_path, [])
    (root / "images/val2017" / f"{NAME}.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match=rf"{NAME}\.jpg: listed in instances_val2017"):
        coco.dataset(root, "val", palette="coco_things")
    (root / "annotations/instances_val2017.json").write_text("{not json")
    with pytest.raises(InputFileError, match=r"instances_val2017\.json: not a COCO instances "
                                             r"JSON"):
        coco.splits(root, palette="coco_things")


def test_missing_annotations(tmp_path: Path) -> None:
    make_images(tmp_path)
    with pytest.raises(DatasetLayoutError, match=r"annotations: folder not found"):
        coco.dataset(tmp_path, "val")
    (tmp_path / "annotations").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"annotations: no train2017/ or val2017/"):
        coco.splits(tmp_path)
    with pytest.raises(DatasetLayoutError, match=r"no instances_\*2017\.json"):
        coco.splits(tmp_path, palette="coco_things")


def test_cli_verify_stuff(tmp_path: Path, capsys) -> None:
    root = make_stuff(tmp_path, np.full((H, W), 181, np.uint8))
    assert main(["datasets", "verify", str(root), "--format", "coco", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["splits"]
    assert report["class_pixels"]["wood"] == H * W


@pytest.mark.usefixtures("mask_utils")
def test_cli_verify_things(tmp_path: Path, capsys) -> None:
    root = make_instances(tmp_path, [{"category_id": 18, "iscrowd": 0, "area": 4,
                                      "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}])
    args = ["datasets", "verify", str(root), "--format", "coco", "--palette", "coco_things"]
    assert main([*args, "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["splits"]
    assert report["class_pixels"]["dog"] == 4 and report["ignore_pixels"] == H * W - 4

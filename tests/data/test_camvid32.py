"""Raw 32-colour CamVid on tiny trees: RGB *_L.png masks, label_colors.txt, 32 -> 11 mapping."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from semseg.cli import main
from semseg.data import camvid, camvid32
from semseg.errors import DatasetLayoutError, InputFileError, LabelError

C = {name: color for name, color, _ in camvid32.COLORS}


def make_raw(root: Path, mask_rgb: np.ndarray, name: str = "0001TP_006690",
             dirs: tuple[str, str] = ("701_StillsRaw_full", "LabeledApproved_full")) -> Path:
    for d in dirs:
        (root / d).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(mask_rgb.shape, 50, np.uint8)).save(root / dirs[0] / f"{name}.png")
    Image.fromarray(mask_rgb.astype(np.uint8), mode="RGB").save(root / dirs[1] / f"{name}_L.png")
    return root


def rgb(*names: str) -> np.ndarray:
    return np.array([[C[n] for n in names]], np.uint8)  # (1, W, 3)


def test_tables_have_32_colours_and_the_segnet_grouping() -> None:
    assert len(camvid32.COLORS) == 32 and len(set(C.values())) == 32
    assert camvid32.INFO32.num_classes == 31 and "Void" not in camvid32.INFO32.classes
    groups = {}
    for name, _, group in camvid32.COLORS:
        groups.setdefault(group, []).append(name)
    assert sorted(groups["building"]) == ["Archway", "Bridge", "Building", "Tunnel", "Wall"]
    assert sorted(groups["car"]) == ["Car", "OtherMoving", "SUVPickupTruck", "Train", "Truck_Bus"]
    assert sorted(groups["pole"]) == ["Column_Pole", "TrafficCone"]
    assert groups[None] == ["Void"]
    assert set(groups) - {None} == set(camvid.INFO.classes)


def test_colours_map_to_11_classes_and_void_to_ignore(tmp_path: Path) -> None:
    mask = np.concatenate([rgb("Sky", "Wall", "TrafficCone", "LaneMkgsDriv", "ParkingBlock"),
                           rgb("VegetationMisc", "TrafficLight", "Fence", "Train", "Child"),
                           rgb("MotorcycleScooter", "Void", "Road", "Animal", "Sidewalk")])
    root = make_raw(tmp_path, mask)
    ds = camvid32.dataset(root, "all")
    assert ds.info is camvid.INFO
    _, labels = ds.load(0)
    np.testing.assert_array_equal(labels, [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 255, 3, 9, 4]])


def test_32_class_label_set(tmp_path: Path) -> None:
    root = make_raw(tmp_path, rgb("Animal", "Void", "Wall", "Sky"))
    ds = camvid32.dataset(root, "all", palette="camvid32")
    _, labels = ds.load(0)
    classes = camvid32.INFO32.classes
    np.testing.assert_array_equal(labels, [[0, 255, classes.index("Wall"), classes.index("Sky")]])
    assert classes.index("Wall") == 30


def test_kaggle_split_layout(tmp_path: Path) -> None:
    root = make_raw(tmp_path, rgb("Road", "Sky"), dirs=("val", "val_labels"))
    sources = camvid32.splits(root)
    assert [s.split for s in sources] == ["val"]
    np.testing.assert_array_equal(sources[0].dataset().load(0)[1], [[3, 0]])


def test_unknown_colour_names_the_mask(tmp_path: Path) -> None:
    mask = rgb("Road", "Sky")
    mask[0, 1] = (1, 2, 3)
    root = make_raw(tmp_path, mask)
    with pytest.raises(LabelError, match=r"0001TP_006690_L\.png: 1 pixels have colours not in "
                                         r"the palette, e.g. \(1,2,3\)"):
        camvid32.dataset(root, "all").load(0)


def test_index_mask_is_rejected(tmp_path: Path) -> None:
    root = make_raw(tmp_path, rgb("Road", "Sky"))
    Image.fromarray(np.array([[3, 0]], np.uint8), mode="L").save(
        root / "LabeledApproved_full" / "0001TP_006690_L.png")
    with pytest.raises(InputFileError, match=r"_L\.png: L index mask; raw CamVid expects RGB"):
        camvid32.dataset(root, "all").load(0)


def test_label_colors_txt_is_checked(tmp_path: Path) -> None:
    root = make_raw(tmp_path, rgb("Road"))
    lines = [f"{r} {g} {b}\t{n}" for n, (r, g, b), _ in camvid32.COLORS]
    (root / "label_colors.txt").write_text("\n".join(lines) + "\n")
    assert len(camvid32.dataset(root, "all")) == 1
    lines[0] = "1 2 3\tAnimal"
    (root / "label_colors.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetLayoutError, match=r"label_colors\.txt:1: Animal \(1, 2, 3\), "
                                                  r"expected colour \(64, 128, 64\)"):
        camvid32.splits(root)


def test_missing_label_folder_and_unpaired_frame(tmp_path: Path) -> None:
    (tmp_path / "701_StillsRaw_full").mkdir()
    with pytest.raises(DatasetLayoutError, match=r"LabeledApproved_full: folder not found"):
        camvid32.splits(tmp_path)
    root = make_raw(tmp_path, rgb("Road"))
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(root / "701_StillsRaw_full" / "x.png")
    with pytest.raises(DatasetLayoutError, match=r"x\.png: no x_L\.png in"):
        camvid32.dataset(root, "all")


def test_unknown_palette_name(tmp_path: Path) -> None:
    from semseg.errors import ConfigError

    with pytest.raises(ConfigError, match=r"--palette voc: this format produces only camvid, "
                                          r"camvid32"):
        camvid32.splits(make_raw(tmp_path, rgb("Road")), palette="voc")


def test_cli_verify_both_label_sets(tmp_path: Path, capsys) -> None:
    root = make_raw(tmp_path, rgb("Wall", "Building", "Void"))
    assert main(["datasets", "verify", str(root), "--format", "camvid32", "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["splits"]
    assert report["class_pixels"]["building"] == 2 and report["ignore_pixels"] == 1
    args = ["datasets", "verify", str(root), "--format", "camvid32", "--palette", "camvid32"]
    assert main([*args, "--json"]) == 0
    (report,) = json.loads(capsys.readouterr().out)["splits"]
    assert report["class_pixels"]["Wall"] == 1 and report["class_pixels"]["Building"] == 1

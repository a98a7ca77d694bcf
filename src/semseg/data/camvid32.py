"""CamVid, raw 32-colour release: RGB ``*_L.png`` masks, mapped to SegNet's 11 classes.

Get the frames (``701_StillsRaw_full.zip``), the labels (``LabeledApproved_full.zip``) and
``label_colors.txt`` from http://mi.eng.cam.ac.uk/research/projects/VideoRec/CamVid/, or the
960x720 copy split like SegNet (367/101/233 frames) that is shared as "CamVid" on Kaggle.
Expected tree, either of::

    ROOT/701_StillsRaw_full/NAME.png    ROOT/LabeledApproved_full/NAME_L.png     (split "all")
    ROOT/{train,val,test}/NAME.png      ROOT/{train,val,test}_labels/NAME_L.png

``ROOT/label_colors.txt`` (``r g b Name`` lines) is optional; when present it must agree with the
32 colours below. A colour outside them is an error naming the mask. By default the 32 colours
are grouped into the 11 classes of ``camvid.INFO`` (SegNet's grouping, as in MathWorks'
``camvidPixelLabelIDs``; only Void is ignored); ``--palette camvid32`` keeps the 31 classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from semseg.data import camvid
from semseg.data.dataset import (
    PairTransformFn,
    Sample,
    SegmentationDataset,
    SplitSource,
    build_lut,
    check_split,
    choose_label_set,
    present_splits,
    require_dirs,
    strict_dataset,
    text_rows,
)
from semseg.data.info import IGNORE_INDEX, DatasetInfo
from semseg.errors import DatasetLayoutError, InputFileError
from semseg.fileio.images import list_images, read_mask

# (name, colour, 11-class name or None for ignored), in label_colors.txt order.
COLORS = (
    ("Animal", (64, 128, 64), "pedestrian"),
    ("Archway", (192, 0, 128), "building"),
    ("Bicyclist", (0, 128, 192), "bicyclist"),
    ("Bridge", (0, 128, 64), "building"),
    ("Building", (128, 0, 0), "building"),
    ("Car", (64, 0, 128), "car"),
    ("CartLuggagePram", (64, 0, 192), "pedestrian"),
    ("Child", (192, 128, 64), "pedestrian"),
    ("Column_Pole", (192, 192, 128), "pole"),
    ("Fence", (64, 64, 128), "fence"),
    ("LaneMkgsDriv", (128, 0, 192), "road"),
    ("LaneMkgsNonDriv", (192, 0, 64), "road"),
    ("Misc_Text", (128, 128, 64), "sign"),
    ("MotorcycleScooter", (192, 0, 192), "bicyclist"),
    ("OtherMoving", (128, 64, 64), "car"),
    ("ParkingBlock", (64, 192, 128), "sidewalk"),
    ("Pedestrian", (64, 64, 0), "pedestrian"),
    ("Road", (128, 64, 128), "road"),
    ("RoadShoulder", (128, 128, 192), "sidewalk"),
    ("Sidewalk", (0, 0, 192), "sidewalk"),
    ("SignSymbol", (192, 128, 128), "sign"),
    ("Sky", (128, 128, 128), "sky"),
    ("SUVPickupTruck", (64, 128, 192), "car"),
    ("TrafficCone", (0, 0, 64), "pole"),
    ("TrafficLight", (0, 64, 64), "sign"),
    ("Train", (192, 64, 128), "car"),
    ("Tree", (128, 128, 0), "tree"),
    ("Truck_Bus", (192, 128, 192), "car"),
    ("Tunnel", (64, 0, 64), "building"),
    ("VegetationMisc", (192, 192, 0), "tree"),
    ("Void", (0, 0, 0), None),
    ("Wall", (64, 192, 0), "building"),
)
_KEPT = [(name, color) for name, color, group in COLORS if group is not None]
INFO32 = DatasetInfo(name="camvid32", classes=tuple(n for n, _ in _KEPT),
                     palette=tuple(c for _, c in _KEPT))
INFO = camvid.INFO
LABEL_SETS = {"camvid": INFO, "camvid32": INFO32}
# Raw mask values are row indices of COLORS; each label set has its own lookup table.
LUTS = {
    "camvid": build_lut({i: IGNORE_INDEX if g is None else INFO.classes.index(g)
                         for i, (_, _, g) in enumerate(COLORS)}),
    "camvid32": build_lut({i: IGNORE_INDEX if g is None else INFO32.classes.index(n)
                           for i, (n, _, g) in enumerate(COLORS)}),
}
PALETTE32 = np.asarray([c for _, c, _ in COLORS], dtype=np.int64)  # (32, 3)
LAYOUTS = {  # split -> (image folder, mask folder)
    "all": ("701_StillsRaw_full", "LabeledApproved_full"),
    "train": ("train", "train_labels"),
    "val": ("val", "val_labels"),
    "test": ("test", "test_labels"),
}
LAYOUT = ("ROOT/701_StillsRaw_full/ + ROOT/LabeledApproved_full/*_L.png, or "
          "ROOT/{train,val,test}/ + ROOT/{train,val,test}_labels/*_L.png")


def read_color_mask(path: Path) -> np.ndarray:
    """Row indices into ``COLORS`` of an RGB ``*_L.png``; index masks raise ``InputFileError``."""
    raw = read_mask(path, palette=PALETTE32)  # missing / corrupt files and unknown colours
    with Image.open(path) as img:
        if img.mode not in ("RGB", "RGBA"):
            # An 11-class SegNet index mask would otherwise be read as colour-table rows.
            raise InputFileError(f"{path}: {img.mode} index mask; raw CamVid expects RGB "
                                 "colour masks (*_L.png); use --format camvid for index masks")
    return raw


def check_label_colors(path: Path) -> None:
    """Raise ``DatasetLayoutError`` when a label_colors.txt disagrees with the built-in colours."""
    known = {name: color for name, color, _ in COLORS}
    for n, line, parts in text_rows(path):
        try:
            color, name = tuple(int(v) for v in parts[:3]), parts[3]
        except (ValueError, IndexError):
            raise DatasetLayoutError(f"{path}:{n}: expected 'r g b Name', got {line!r}") from None
        if known.get(name) != color:
            expected = f"colour {known[name]}" if name in known else "one of the 32 CamVid names"
            raise DatasetLayoutError(f"{path}:{n}: {name} {color}, expected {expected}")


def _pairs(image_dir: Path, mask_dir: Path) -> tuple[list[Sample], list[str]]:
    """Pair NAME.png frames with NAME_L.png masks."""
    images = {p.stem: p for p in list_images(image_dir)}
    masks = {p.stem[:-2]: p for p in list_images(mask_dir) if p.stem.endswith("_L")}
    problems = [f"{images[s]}: no {s}_L.png in {mask_dir}" for s in sorted(images.keys() - masks)]
    problems += [f"{masks[s]}: no frame {s}.* in {image_dir}" for s in sorted(masks.keys()
                                                                               - images.keys())]
    return [Sample(images[s], masks[s]) for s in sorted(images.keys() & masks.keys())], problems


def _source(root: Path, split: str, info: DatasetInfo) -> SplitSource:
    check_split(split, LAYOUTS, "CamVid")
    image_dir, mask_dir = (root / d for d in LAYOUTS[split])
    require_dirs((image_dir, mask_dir), "raw CamVid", LAYOUT)
    return SplitSource(split, *_pairs(image_dir, mask_dir), info, LUTS[info.name],
                       read_color_mask)


def _check_root(root: Path) -> None:
    require_dirs([root], "raw CamVid", LAYOUT)
    if (root / "label_colors.txt").is_file():
        check_label_colors(root / "label_colors.txt")


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """Every split present: 'all' for the raw release, else train/val/test."""
    root = Path(root)
    info = choose_label_set(palette, LABEL_SETS)
    _check_root(root)
    image_dirs = {split: images for split, (images, _) in LAYOUTS.items()}
    found = present_splits(root, image_dirs, "no 701_StillsRaw_full/ or train/ folder",
                           "raw CamVid", LAYOUT)
    return [_source(root, s, info) for s in found]


def dataset(
    root: str | Path,
    split: str = "train",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One split of the raw release, as 11 classes (default) or 31 (``palette='camvid32'``)."""
    root = Path(root)
    info = choose_label_set(palette, LABEL_SETS)
    _check_root(root)
    return strict_dataset(_source(root, split, info), transform, LAYOUT)

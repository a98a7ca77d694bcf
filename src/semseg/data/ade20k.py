"""ADE20K, SceneParsing release (ADEChallengeData2016): 150 classes; mask 0 = "other", ignored.

Get ``ADEChallengeData2016.zip`` from http://sceneparsing.csail.mit.edu/ (MIT Scene Parsing
Benchmark). Expected tree (ROOT may also be the folder that contains ADEChallengeData2016)::

    ROOT/images/training/ADE_train_00000001.jpg     ROOT/annotations/training/ADE_train_00000001.png
    ROOT/images/validation/ADE_val_00000001.jpg     ROOT/annotations/validation/ADE_val_00000001.png

Masks are 8-bit index PNGs: 0 marks pixels outside the 150 classes (ignored, 255 after encoding)
and value v in 1..150 is class v - 1 in the order of ``objectInfo150.csv``. Splits are called
``train`` and ``val`` here (folders ``training`` and ``validation``).
"""

from __future__ import annotations

from pathlib import Path

from semseg.data.dataset import (
    PairTransformFn,
    SegmentationDataset,
    SplitSource,
    build_lut,
    check_split,
    choose_label_set,
    layout_error,
    pair_by_stem,
    present_splits,
    require_dirs,
    strict_dataset,
)
from semseg.data.info import IGNORE_INDEX, DatasetInfo, default_palette

# First name of each row of objectInfo150.csv, in label order 1..150.
CLASSES = (
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain",
    "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing",
    "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter", "sand", "sink",
    "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge", "bookcase", "blind",
    "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove", "palm",
    "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole", "land", "bannister",
    "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel",
    "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step",
    "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen",
    "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray", "ashcan", "fan",
    "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
)
# The release defines no colours; the VOC colour map, skipping its black, keeps them distinct.
INFO = DatasetInfo(name="ade20k", classes=CLASSES, palette=default_palette(151)[1:])
LABEL_SETS = {"ade20k": INFO}
# The MLPerf mobile "ADE20K top-31" label set of the pretrained MOSAIC model: the 31 most frequent
# classes (the first 31 above) after "other" (0), which holds the remaining 119; colours are the
# ADE20K colours of the SceneParsing toolkits, black for other. Normalization: x / 127.5 - 1.
TOP31_PALETTE = (
    (0, 0, 0), (120, 120, 120), (180, 120, 120), (6, 230, 230), (80, 50, 50), (4, 200, 3),
    (120, 120, 80), (140, 140, 140), (204, 5, 255), (230, 230, 230), (4, 250, 7), (224, 5, 255),
    (235, 255, 7), (150, 5, 61), (120, 120, 70), (8, 255, 51), (255, 6, 82), (143, 255, 140),
    (204, 255, 4), (255, 51, 7), (204, 70, 3), (0, 102, 200), (61, 230, 250), (255, 6, 51),
    (11, 102, 255), (255, 7, 71), (255, 9, 224), (9, 7, 230), (220, 220, 220), (255, 9, 92),
    (112, 9, 255), (8, 255, 214),
)
TOP31_INFO = DatasetInfo(name="ade20k-top31", classes=("other", *CLASSES[:31]),
                         palette=TOP31_PALETTE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
LUT = build_lut({0: IGNORE_INDEX, **{v: v - 1 for v in range(1, 151)}})
SPLIT_DIRS = {"train": "training", "val": "validation"}
LAYOUT = "ROOT/images/{training,validation}/*.jpg and ROOT/annotations/{training,validation}/*.png"


def find_root(root: str | Path) -> Path:
    """ROOT itself or ROOT/ADEChallengeData2016, whichever holds images/ and annotations/."""
    root = Path(root)
    for candidate in (root, root / "ADEChallengeData2016"):
        if (candidate / "images").is_dir() and (candidate / "annotations").is_dir():
            return candidate
    missing = "images" if not (root / "images").is_dir() else "annotations"
    raise layout_error(root / missing, "folder not found", "ADE20K", LAYOUT)


def _source(root: Path, split: str) -> SplitSource:
    check_split(split, SPLIT_DIRS, "ADE20K")
    folder = SPLIT_DIRS[split]
    image_dir, mask_dir = root / "images" / folder, root / "annotations" / folder
    require_dirs((image_dir, mask_dir), "ADE20K", LAYOUT)
    return SplitSource(split, *pair_by_stem(image_dir, mask_dir), INFO, LUT)


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """The train and val splits present under ROOT."""
    choose_label_set(palette, LABEL_SETS)
    root = find_root(root)
    found = present_splits(root / "images", SPLIT_DIRS, "no training/ or validation/ folder",
                           "ADE20K", LAYOUT)
    return [_source(root, s) for s in found]


def dataset(
    root: str | Path,
    split: str = "train",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One ADE20K split ('train' or 'val') with labels 0..149 and 255 for "other"."""
    choose_label_set(palette, LABEL_SETS)
    split = {v: k for k, v in SPLIT_DIRS.items()}.get(split, split)  # accept folder names too
    return strict_dataset(_source(find_root(root), split), transform, LAYOUT)

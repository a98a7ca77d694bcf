"""COCO: COCO-Stuff 164k PNG masks (171 classes) or the 80 thing classes from instance JSON.

Get the 2017 images from https://cocodataset.org/#download (``train2017.zip``, ``val2017.zip``),
COCO-Stuff's ``stuffthingmaps_trainval2017.zip`` from https://github.com/nightrome/cocostuff and
the instance annotations ``annotations_trainval2017.zip`` from the COCO site. Expected tree::

    ROOT/images/{train2017,val2017}/NAME.jpg          (or ROOT/{train2017,val2017}/NAME.jpg)
    ROOT/annotations/{train2017,val2017}/NAME.png     COCO-Stuff: value = COCO id - 1, 255 unlabeled
    ROOT/annotations/instances_{train2017,val2017}.json      for --palette coco_things

COCO ids run 1..182 with 11 unused (``UNUSED``), so the PNG values map to the 171 classes 0..170
(80 things, then 91 stuff classes); an unused value is an error. ``--palette coco_things`` paints
the instance polygons and RLEs (via pycocotools) into masks of the 80 thing classes, whose ids
0..79 equal COCO-Stuff's; background and crowd regions are 255. Splits are ``train`` and ``val``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from semseg.data.dataset import (
    PairTransformFn,
    Sample,
    SegmentationDataset,
    SplitSource,
    build_lut,
    check_split,
    choose_label_set,
    layout_error,
    pair_by_stem,
    require_dirs,
    strict_dataset,
)
from semseg.data.info import IGNORE_INDEX, DatasetInfo, default_palette
from semseg.errors import ConfigError, InputFileError

# COCO-Stuff labels.txt, ids 1..182 (index = id - 1); UNUSED ids never occur in the data.
NAMES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird",
    "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat",
    "backpack", "umbrella", "shoe", "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis",
    "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard",
    "surfboard", "tennis racket", "bottle", "plate", "wine glass", "cup", "fork", "knife", "spoon",
    "bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza",
    "donut", "cake", "chair", "couch", "potted plant", "bed", "mirror", "dining table", "window",
    "desk", "toilet", "door", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush", "banner", "blanket",
    "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard", "carpet",
    "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard",
    "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble", "floor-other",
    "floor-stone", "floor-tile", "floor-wood", "flower", "fog", "food-other", "fruit",
    "furniture-other", "grass", "gravel", "ground-other", "hill", "house", "leaves", "light",
    "mat", "metal", "mirror-stuff", "moss", "mountain", "mud", "napkin", "net", "paper",
    "pavement", "pillow", "plant-other", "plastic", "platform", "playingfield", "railing",
    "railroad", "river", "road", "rock", "roof", "rug", "salad", "sand", "sea", "shelf",
    "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable",
    "wall-brick", "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile",
    "wall-wood", "water-other", "waterdrops", "window-blind", "window-other", "wood",
)
UNUSED = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83, 91)
USED_IDS = tuple(i for i in range(1, 183) if i not in UNUSED)  # 171 ids -> classes 0..170
THING_IDS = tuple(i for i in USED_IDS if i <= 90)  # the 80 instance categories
_PALETTE = default_palette(172)[1:]  # COCO defines no colours; skip the colour map's black
INFO = DatasetInfo(name="coco_stuff", classes=tuple(NAMES[i - 1] for i in USED_IDS),
                   palette=_PALETTE)
THINGS_INFO = DatasetInfo(name="coco_things", classes=INFO.classes[:80], palette=_PALETTE[:80])
LABEL_SETS = {"coco_stuff": INFO, "coco_things": THINGS_INFO}
STUFF_LUT = build_lut({**{i - 1: k for k, i in enumerate(USED_IDS)}, 255: IGNORE_INDEX})
CROWD = 255  # raw value painted for iscrowd regions (ignored, like unannotated pixels)
THINGS_LUT = build_lut({0: IGNORE_INDEX, CROWD: IGNORE_INDEX,
                        **{i: k for k, i in enumerate(THING_IDS)}})
SPLIT_DIRS = {"train": "train2017", "val": "val2017"}
LAYOUT = ("ROOT/images/{train2017,val2017}/*.jpg with ROOT/annotations/{train2017,val2017}/*.png "
          "(COCO-Stuff) or ROOT/annotations/instances_{train2017,val2017}.json (coco_things)")


def _image_dir(root: Path, folder: str) -> Path:
    for d in (root / "images" / folder, root / folder):
        if d.is_dir():
            return d
    raise layout_error(root / "images" / folder, "folder not found", "COCO", LAYOUT)


def _decode(segmentation: list | dict, h: int, w: int) -> np.ndarray:
    """One annotation's (H, W) uint8 mask from polygons, uncompressed or compressed RLE."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):  # polygons [[x0, y0, x1, y1, ...], ...]
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    elif isinstance(segmentation.get("counts"), list):  # uncompressed RLE
        rle = mask_utils.frPyObjects(segmentation, h, w)
    else:  # compressed RLE string
        rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode()}
    with warnings.catch_warnings():  # pycocotools' own NumPy 2 copy-keyword deprecation
        warnings.simplefilter("ignore", DeprecationWarning)
        return mask_utils.decode(rle)


class InstanceMasks:
    """Semantic masks painted from an ``instances_*.json``; called with ``JSON/IMAGE_ID``."""

    def __init__(self, json_path: Path) -> None:
        try:
            import pycocotools  # noqa: F401
        except ImportError:
            raise ConfigError("coco_things masks need pycocotools: pip install pycocotools"
                              ) from None
        try:
            data = json.loads(json_path.read_text())
            self.images = {im["id"]: (im["file_name"], im["height"], im["width"])
                           for im in data["images"]}
            anns = data["annotations"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputFileError(f"{json_path}: not a COCO instances JSON ({exc})") from None
        self.json_path = json_path
        self.anns: dict[int, list[dict]] = {i: [] for i in self.images}
        for ann in anns:
            self.anns.setdefault(ann["image_id"], []).append(ann)

    def __call__(self, path: Path) -> np.ndarray:
        """Raw mask: 0 background, COCO category id per object, ``CROWD`` for crowd regions."""
        image_id = int(path.name)
        _, h, w = self.images[image_id]
        out = np.zeros((h, w), dtype=np.int64)  # (H, W)
        # Crowds first, then objects from large to small so small ones stay visible on top.
        anns = sorted(self.anns[image_id], key=lambda a: (not a.get("iscrowd"), -a.get("area", 0)))
        for ann in anns:
            try:
                m = _decode(ann["segmentation"], h, w).astype(bool)
            except (KeyError, TypeError, ValueError) as exc:
                raise InputFileError(f"{self.json_path}: annotation {ann.get('id')} has an "
                                     f"unreadable segmentation ({exc})") from None
            out[m] = CROWD if ann.get("iscrowd") else ann["category_id"]
        return out


def _things_source(root: Path, split: str) -> SplitSource:
    json_path = root / "annotations" / f"instances_{SPLIT_DIRS[split]}.json"
    if not json_path.is_file():
        raise layout_error(json_path, "file not found", "coco_things", LAYOUT)
    reader = InstanceMasks(json_path)
    image_dir = _image_dir(root, SPLIT_DIRS[split])
    samples, problems = [], []
    for image_id, (name, _, _) in sorted(reader.images.items()):
        image = image_dir / name
        if image.is_file():
            samples.append(Sample(image, json_path / str(image_id)))
        else:
            problems.append(f"{image}: listed in {json_path.name} but not found")
    return SplitSource(split, samples, problems, THINGS_INFO, THINGS_LUT, reader)


def _stuff_source(root: Path, split: str) -> SplitSource:
    mask_dir = root / "annotations" / SPLIT_DIRS[split]
    require_dirs([mask_dir], "COCO-Stuff", LAYOUT)
    pairs, problems = pair_by_stem(_image_dir(root, SPLIT_DIRS[split]), mask_dir)
    return SplitSource(split, pairs, problems, INFO, STUFF_LUT)


def _source(root: Path, split: str, info: DatasetInfo) -> SplitSource:
    split = {v: k for k, v in SPLIT_DIRS.items()}.get(split, split)  # accept folder names too
    check_split(split, SPLIT_DIRS, "COCO")
    require_dirs([root / "annotations"], "COCO", LAYOUT)
    return (_things_source if info is THINGS_INFO else _stuff_source)(root, split)


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """The train and val splits whose annotations are present."""
    root = Path(root)
    info = choose_label_set(palette, LABEL_SETS)
    ann = root / "annotations"
    found = [s for s, d in SPLIT_DIRS.items()
             if (ann / (f"instances_{d}.json" if info is THINGS_INFO else d)).exists()]
    if not found:
        what = "instances_*2017.json" if info is THINGS_INFO else "train2017/ or val2017/"
        raise layout_error(ann, f"no {what}", "COCO", LAYOUT)
    return [_source(root, s, info) for s in found]


def dataset(
    root: str | Path,
    split: str = "train",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One COCO split as COCO-Stuff's 171 classes (default) or ``palette='coco_things'``."""
    info = choose_label_set(palette, LABEL_SETS)
    return strict_dataset(_source(Path(root), split, info), transform, LAYOUT)

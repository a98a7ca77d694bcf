"""Cityscapes fine annotations: 34 label ids mapped to the 19 training classes, 255 ignored.

Get it from https://www.cityscapes-dataset.com/downloads/ (``leftImg8bit_trainvaltest.zip`` and
``gtFine_trainvaltest.zip``; free registration). Expected tree::

    ROOT/leftImg8bit/{train,val,test}/CITY/CITY_SEQ_FRAME_leftImg8bit.png
    ROOT/gtFine/{train,val,test}/CITY/CITY_SEQ_FRAME_gtFine_labelIds.png

Masks store the label ids 0..33 of the official table (``cityscapesscripts/helpers/labels.py``);
``LABELS`` below reproduces it and ``LUT`` maps each id to its train id. When every mask of a
split also has a ``*_gtFine_labelTrainIds.png`` (written by cityscapesscripts'
``createTrainIdLabelImgs``), those are read directly instead. The test split's public masks are
placeholders; evaluate on val.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from semseg.data.dataset import (
    PairTransformFn,
    Sample,
    SegmentationDataset,
    SplitSource,
    build_lut,
    check_split,
    choose_label_set,
    identity_lut,
    layout_error,
    present_splits,
    require_dirs,
    strict_dataset,
)
from semseg.data.info import IGNORE_INDEX, DatasetInfo


class Label(NamedTuple):
    """One row of the official Cityscapes label table."""

    name: str
    id: int
    train_id: int  # 255 = ignored in training and evaluation
    color: tuple[int, int, int]


LABELS = (
    Label("unlabeled", 0, 255, (0, 0, 0)),
    Label("ego vehicle", 1, 255, (0, 0, 0)),
    Label("rectification border", 2, 255, (0, 0, 0)),
    Label("out of roi", 3, 255, (0, 0, 0)),
    Label("static", 4, 255, (0, 0, 0)),
    Label("dynamic", 5, 255, (111, 74, 0)),
    Label("ground", 6, 255, (81, 0, 81)),
    Label("road", 7, 0, (128, 64, 128)),
    Label("sidewalk", 8, 1, (244, 35, 232)),
    Label("parking", 9, 255, (250, 170, 160)),
    Label("rail track", 10, 255, (230, 150, 140)),
    Label("building", 11, 2, (70, 70, 70)),
    Label("wall", 12, 3, (102, 102, 156)),
    Label("fence", 13, 4, (190, 153, 153)),
    Label("guard rail", 14, 255, (180, 165, 180)),
    Label("bridge", 15, 255, (150, 100, 100)),
    Label("tunnel", 16, 255, (150, 120, 90)),
    Label("pole", 17, 5, (153, 153, 153)),
    Label("polegroup", 18, 255, (153, 153, 153)),
    Label("traffic light", 19, 6, (250, 170, 30)),
    Label("traffic sign", 20, 7, (220, 220, 0)),
    Label("vegetation", 21, 8, (107, 142, 35)),
    Label("terrain", 22, 9, (152, 251, 152)),
    Label("sky", 23, 10, (70, 130, 180)),
    Label("person", 24, 11, (220, 20, 60)),
    Label("rider", 25, 12, (255, 0, 0)),
    Label("car", 26, 13, (0, 0, 142)),
    Label("truck", 27, 14, (0, 0, 70)),
    Label("bus", 28, 15, (0, 60, 100)),
    Label("caravan", 29, 255, (0, 0, 90)),
    Label("trailer", 30, 255, (0, 0, 110)),
    Label("train", 31, 16, (0, 80, 100)),
    Label("motorcycle", 32, 17, (0, 0, 230)),
    Label("bicycle", 33, 18, (119, 11, 32)),
    # id -1: never drawn into labelIds PNGs; a tool that writes it as uint8 gives 255.
    Label("license plate", -1, 255, (0, 0, 142)),
)

_TRAIN = sorted((lb for lb in LABELS if lb.train_id != IGNORE_INDEX), key=lambda lb: lb.train_id)
INFO = DatasetInfo(
    name="cityscapes",
    classes=tuple(lb.name for lb in _TRAIN),
    palette=tuple(lb.color for lb in _TRAIN),
)
LABEL_SETS = {"cityscapes": INFO}
LUT = build_lut({**{lb.id: lb.train_id for lb in LABELS if lb.id >= 0}, 255: IGNORE_INDEX})
TRAIN_ID_LUT = identity_lut(INFO.num_classes, IGNORE_INDEX)
SPLITS = ("train", "val", "test")
LAYOUT = ("ROOT/leftImg8bit/SPLIT/CITY/*_leftImg8bit.png and "
          "ROOT/gtFine/SPLIT/CITY/*_gtFine_labelIds.png")
IMAGE_SUFFIX = "_leftImg8bit.png"


def _source(root: Path, split: str) -> SplitSource:
    """Pairs of one split: every left image with its gtFine mask (train ids if all have them)."""
    image_dir, mask_dir = root / "leftImg8bit" / split, root / "gtFine" / split
    require_dirs((image_dir, mask_dir), "Cityscapes", LAYOUT)
    images = sorted(image_dir.glob(f"*/*{IMAGE_SUFFIX}"))
    if not images:
        raise layout_error(image_dir, f"no CITY/*{IMAGE_SUFFIX} files", "Cityscapes", LAYOUT)
    stems = [(p.parent.name, p.name[: -len(IMAGE_SUFFIX)]) for p in images]
    train_ids = [mask_dir / c / f"{s}_gtFine_labelTrainIds.png" for c, s in stems]
    use_train_ids = all(p.is_file() for p in train_ids)
    masks = train_ids if use_train_ids else [
        mask_dir / c / f"{s}_gtFine_labelIds.png" for c, s in stems]
    problems = [f"{m}: mask not found for {i.name}" for i, m in zip(images, masks, strict=True)
                if not m.is_file()]
    samples = [Sample(i, m) for i, m in zip(images, masks, strict=True) if m.is_file()]
    return SplitSource(split, samples, problems, INFO, TRAIN_ID_LUT if use_train_ids else LUT)


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """Every split that has both a leftImg8bit and a gtFine folder."""
    root = Path(root)
    choose_label_set(palette, LABEL_SETS)
    found = present_splits(root / "leftImg8bit", {s: s for s in SPLITS},
                           "no train/val/test folders", "Cityscapes", LAYOUT)
    return [_source(root, s) for s in found]


def dataset(
    root: str | Path,
    split: str = "train",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One Cityscapes split with the 19 train ids (everything else 255)."""
    choose_label_set(palette, LABEL_SETS)
    check_split(split, SPLITS, "Cityscapes")
    root = Path(root)
    require_dirs([root / "leftImg8bit"], "Cityscapes", LAYOUT)
    return strict_dataset(_source(root, split), transform, LAYOUT)

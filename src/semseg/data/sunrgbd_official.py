"""SUN RGB-D in the layout of its official release (``SUNRGBD.zip`` + ``SUNRGBDtoolbox.zip``).

One folder per frame, anywhere below ROOT (sensor/dataset/frame, e.g.
``SUNRGBD/kv1/NYUdata/NYU0001``)::

    FRAME/image/NAME.jpg          RGB
    FRAME/depth_bfx/NAME.png      refined depth (preferred), or FRAME/depth/NAME.png: 16-bit,
                                  bit-rotated millimetres (see ``sunrgbd.read_depth``)
    FRAME/intrinsics.txt          3x3 camera matrix, row-major
    FRAME/seg.mat                 ``seglabel`` (H, W): 1-based indices into ``names`` (0 = none)
    ROOT/SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat   optional: ``alltrain`` / ``alltest``
                                  frame paths (``/n/fs/sun3d/data/SUNRGBD/...``)

Without ``allsplit.mat`` every frame is in split ``all``. Object names map to the 37 benchmark
classes (``sunrgbd.CLASSES``) by name: exact class names plus the synonyms in ``SYNONYMS``; any
other name is ignored (255). This reproduces the official 37-class labels of
``SUNRGBD2Dseg.mat`` only as far as the names agree; that file (64 GB to load) holds the
official ones, which the re-packaged ``sunrgbd`` format reads.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from semseg.data.dataset import (
    PairTransformFn,
    Sample,
    SegmentationDataset,
    SplitSource,
    check_split,
    choose_label_set,
    layout_error,
    strict_dataset,
)
from semseg.data.geometry import Intrinsics
from semseg.data.sunrgbd import CLASSES, INFO, LUT, read_rgbd
from semseg.errors import InputFileError
from semseg.fileio.images import IMAGE_EXTENSIONS

LABEL_SETS = {"sunrgbd": INFO}
SPLIT_FILE = Path("SUNRGBDtoolbox/traintestSUNRGBD/allsplit.mat")
SPLIT_KEYS = {"train": "alltrain", "test": "alltest"}
LAYOUT = ("ROOT/**/FRAME/{image/*.jpg, depth_bfx/*.png or depth/*.png, intrinsics.txt, seg.mat}"
          f" (optional ROOT/{SPLIT_FILE})")
# object names of seg.mat that mean a benchmark class under another name (lower case)
SYNONYMS = {
    "fridge": "refrigerator", "refridgerator": "refrigerator", "tv": "television",
    "nightstand": "night stand", "night_stand": "night stand", "floormat": "floor mat",
    "floor_mat": "floor mat", "shower_curtain": "shower curtain", "bookcase": "bookshelf",
    "book": "books", "shelf": "shelves", "bath tub": "bathtub", "tub": "bathtub",
    "cabinets": "cabinet", "chairs": "chair", "tables": "table", "windows": "window",
    "pictures": "picture", "pillows": "pillow", "lamps": "lamp", "boxes": "box",
}
_CLASS_ID = {name: i + 1 for i, name in enumerate(CLASSES)}  # 1-based, as sunrgbd's label37


def class_of_name(name: str) -> int:
    """The 1-based 37-class id of a seg.mat object name; 0 (ignored) when it has none."""
    key = " ".join(name.strip().lower().split())
    return _CLASS_ID.get(SYNONYMS.get(key, key), 0)


def read_seg(path: Path) -> np.ndarray:
    """(H, W) 37-class labels (0 = none, 1..37) of a frame's seg.mat."""
    from scipy.io import loadmat
    from scipy.io.matlab import MatReadError

    try:
        m = loadmat(path, squeeze_me=True)
        seg, names = np.asarray(m["seglabel"]), np.atleast_1d(m["names"])
    except (MatReadError, ValueError, TypeError, OSError, KeyError) as exc:
        raise InputFileError(f"{path}: expected a MATLAB file with 'seglabel' and 'names' "
                             f"({type(exc).__name__}: {exc})") from None
    if seg.ndim != 2 or seg.dtype.kind not in "iuf" or seg.min() < 0 or seg.max() > len(names):
        raise InputFileError(f"{path}: 'seglabel' must be an (H, W) map of 0..{len(names)} "
                             "(indices into 'names')")
    table = np.array([0] + [class_of_name(str(n)) for n in names], dtype=np.int64)
    return table[seg.astype(np.int64)]


def read_intrinsics(path: Path) -> Intrinsics:
    """A frame's intrinsics.txt (3x3 row-major camera matrix)."""
    try:
        k = np.loadtxt(path, dtype=np.float64)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: expected a 3x3 camera matrix ({exc})") from None
    if k.size != 9:
        raise InputFileError(f"{path}: expected 9 numbers (a 3x3 camera matrix), got {k.size}")
    return Intrinsics.from_matrix(k)


def _one_file(folder: Path) -> Path | None:
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    return files[0] if len(files) == 1 else None


def frame_sample(frame: Path) -> tuple[Sample | None, str | None]:
    """The sample of one frame folder, or the problem that prevents it."""
    image = _one_file(frame / "image")
    depth = _one_file(frame / "depth_bfx") or _one_file(frame / "depth")
    if image is None:
        return None, f"{frame / 'image'}: expected exactly one image"
    if depth is None:
        return None, f"{frame}: expected exactly one PNG in depth_bfx/ or depth/"
    return Sample(image, frame / "seg.mat", depth), None


def _frames(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("seg.mat") if (p.parent / "image").is_dir())


def _split_frames(root: Path, frames: list[Path]) -> dict[str, list[Path]]:
    if not (root / SPLIT_FILE).is_file():
        return {"all": frames}
    from scipy.io import loadmat

    try:
        m = loadmat(root / SPLIT_FILE, squeeze_me=True)
        lists = {s: [str(p) for p in np.atleast_1d(m[k])] for s, k in SPLIT_KEYS.items()}
    except (ValueError, TypeError, OSError, KeyError) as exc:
        raise InputFileError(f"{root / SPLIT_FILE}: expected alltrain and alltest "
                             f"({type(exc).__name__}: {exc})") from None
    return {s: [root / p.split("/n/fs/sun3d/data/")[-1].strip("/") for p in paths]
            for s, paths in lists.items()}


def _source(root: Path, split: str, frames: list[Path]) -> SplitSource:
    samples, problems = [], []
    for frame in frames:
        if not (frame / "seg.mat").is_file():
            problems.append(f"{frame / 'seg.mat'}: listed in the {split} split but not found")
            continue
        sample, problem = frame_sample(frame)
        if sample is None:
            problems.append(problem)
        else:
            samples.append(sample)
    return SplitSource(split, samples, problems, INFO, LUT, read_seg, read_rgbd)


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """train/test (with allsplit.mat) or all frames under ROOT."""
    choose_label_set(palette, LABEL_SETS)
    root = Path(root)
    if not root.is_dir():
        raise layout_error(root, "folder not found", "SUN RGB-D (official)", LAYOUT)
    frames = _frames(root)
    if not frames:
        raise layout_error(root, "no frame folder with seg.mat and image/", "SUN RGB-D "
                           "(official)", LAYOUT)
    return [_source(root, s, f) for s, f in _split_frames(root, frames).items()]


def dataset(
    root: str | Path,
    split: str = "train",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One split of the official SUN RGB-D tree with the 37 classes."""
    sources = {s.split: s for s in splits(root, palette)}
    check_split(split, sources, "SUN RGB-D (official)")
    return strict_dataset(sources[split], transform, LAYOUT)

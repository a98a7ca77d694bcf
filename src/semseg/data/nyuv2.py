"""NYU Depth v2, labeled subset: 1449 RGB-D frames, 894 raw classes mapped to 40 (or 13).

Get ``nyu_depth_v2_labeled.mat`` (2.8 GB) from
http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/nyu_depth_v2_labeled.mat and the standard
795/654 split ``splits.mat`` from http://horatio.cs.nyu.edu/mit/silberman/indoor_seg_sup/splits.mat.
Expected tree::

    ROOT/nyu_depth_v2_labeled.mat   MATLAB v7.3 (HDF5): images, depths (metres), labels (0..894)
    ROOT/splits.mat                 trainNdxs (795) and testNdxs (654), 1-based frame indices
                                    (or ROOT/train.txt and ROOT/test.txt, one index per line)

MATLAB stores arrays column-major, so HDF5 holds images as (N, 3, W, H) and depths/labels as
(N, W, H); they are transposed back to (H, W). Label 0 (unlabeled) is ignored; the 894 raw classes
map to the 40 classes of Gupta et al. (CVPR 2013, ``mapClass`` of ``classMapping40.mat``) and,
with ``--palette nyuv2_13``, on to the 13 classes of Couprie et al. (``class13Mapping.mat``; both
files as redistributed in github.com/ankurhanda/nyuv2-meta-data). Samples are RGB-D: (H, W, 4)
float32 with the in-painted depth as channel 3 (see ``dataset.DEPTH_PER_METER``); train models
with ``in_channels=4``. Sample paths are ``ROOT/nyu_depth_v2_labeled.mat/INDEX`` (1-based).
"""

from __future__ import annotations

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
    rgbd_image,
    strict_dataset,
)
from semseg.data.info import IGNORE_INDEX, IMAGENET_MEAN, IMAGENET_STD, DatasetInfo, default_palette
from semseg.errors import InputFileError

# mapClass of classMapping40.mat: entry k-1 is the 40-class id (1-based) of raw class k.
MAP_894_TO_40 = (
    40, 40, 3, 22, 5, 40, 12, 38, 40, 40, 2, 39, 40, 40, 26, 40, 24, 40, 7, 40, 1, 40, 40, 34, 38,
    29, 40, 8, 40, 40, 40, 40, 38, 40, 40, 14, 40, 38, 40, 40, 40, 15, 39, 40, 30, 40, 40, 39, 40,
    39, 38, 40, 38, 40, 37, 40, 38, 38, 9, 40, 40, 38, 40, 11, 38, 40, 40, 40, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 38, 13, 40, 40, 6, 40, 23, 40, 39, 10, 16, 40, 40, 40, 40, 38, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 38, 40, 39, 40, 40, 40, 40, 39, 38, 40, 40, 40, 40, 40, 40, 18, 40, 40,
    19, 28, 33, 40, 40, 40, 40, 40, 40, 40, 40, 40, 38, 27, 36, 40, 40, 40, 40, 21, 40, 20, 35, 40,
    40, 40, 40, 40, 40, 40, 40, 38, 40, 40, 40, 4, 32, 40, 40, 39, 40, 39, 40, 40, 40, 40, 40, 17,
    40, 40, 25, 40, 39, 40, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 38, 38, 40,
    40, 39, 40, 39, 40, 38, 39, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 40, 38, 40, 40, 38,
    38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 38, 40, 40, 40, 40, 40, 39, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    40, 39, 40, 40, 40, 38, 40, 40, 39, 40, 40, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 31, 40, 40, 40, 40, 40, 40,
    40, 38, 40, 40, 38, 39, 39, 40, 40, 40, 40, 40, 40, 40, 40, 40, 38, 40, 39, 40, 40, 39, 40, 40,
    40, 38, 40, 40, 40, 40, 40, 40, 40, 40, 38, 39, 40, 40, 40, 40, 40, 40, 38, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 38, 39, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 40, 38, 40,
    40, 40, 38, 40, 39, 40, 40, 40, 39, 39, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 39, 40, 40, 39, 39, 40, 40, 40, 40, 38, 40, 40, 38, 39,
    39, 40, 39, 40, 39, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 40, 38, 40, 39, 40, 40,
    40, 40, 40, 39, 39, 40, 40, 40, 40, 40, 40, 39, 39, 40, 40, 38, 39, 39, 40, 40, 40, 40, 40, 40,
    40, 40, 40, 39, 39, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 39, 40, 40, 39, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 38, 40, 40, 40, 40, 40, 40, 40, 39, 38, 39, 40, 38,
    39, 40, 39, 40, 39, 40, 40, 40, 40, 40, 40, 40, 40, 38, 40, 40, 40, 40, 40, 38, 40, 40, 39, 40,
    40, 40, 39, 40, 38, 40, 40, 40, 40, 40, 40, 40, 40, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 39, 38, 40, 40, 38, 40, 40, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 38, 40, 40, 38, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 38, 38, 38, 40, 40, 40, 38, 40, 40, 40, 38, 38, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    40, 40, 38, 40, 38, 39, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    39, 40, 39, 40, 40, 40, 40, 38, 38, 40, 40, 40, 38, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40,
    40, 40, 40, 39, 40, 40, 39, 40, 40, 39, 39, 40, 40, 40, 40, 40, 40, 40, 40, 39, 39, 39, 40, 40,
    40, 40, 39, 40, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 40,
    40, 40, 40, 40, 40, 40, 40, 40, 38, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 38, 40, 39, 40, 40,
    40, 40, 38, 40, 40, 40, 40, 40, 38, 40, 40, 40, 40, 40, 40, 40, 39, 40, 40, 40, 40, 40, 40, 40,
    40, 40, 39, 40, 40,
)

CLASSES40 = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel",
    "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
)
# labels13 of class13Mapping.mat: entry c-1 is the 13-class id (1-based) of 40-class id c.
MAP_40_TO_13 = (12, 5, 6, 1, 4, 9, 10, 12, 13, 6, 8, 6, 13, 10, 6, 13, 6, 7, 7, 5, 7, 3, 2, 6, 11,
                7, 7, 7, 7, 7, 7, 6, 7, 7, 7, 7, 7, 7, 6, 7)
CLASSES13 = ("bed", "books", "ceiling", "chair", "floor", "furniture", "objects", "picture",
             "sofa", "table", "tv", "wall", "window")
# Depth statistics of the in-painted NYUv2 depth (ESANet's), in the 10 m units of channel 3.
DEPTH_MEAN_M, DEPTH_STD_M = 2.842, 1.417
RGBD_MEAN = (*IMAGENET_MEAN, DEPTH_MEAN_M / 10.0)
RGBD_STD = (*IMAGENET_STD, DEPTH_STD_M / 10.0)
INFO = DatasetInfo(name="nyuv2", classes=CLASSES40, palette=default_palette(41)[1:],
                   mean=RGBD_MEAN, std=RGBD_STD)
INFO13 = DatasetInfo(name="nyuv2_13", classes=CLASSES13, palette=default_palette(14)[1:],
                     mean=RGBD_MEAN, std=RGBD_STD)
LABEL_SETS = {"nyuv2": INFO, "nyuv2_13": INFO13}
LUTS = {
    "nyuv2": build_lut({0: IGNORE_INDEX, **{k: c - 1 for k, c in enumerate(MAP_894_TO_40, 1)}}),
    "nyuv2_13": build_lut({0: IGNORE_INDEX, **{k: MAP_40_TO_13[c - 1] - 1
                                               for k, c in enumerate(MAP_894_TO_40, 1)}}),
}
LABELED = "nyu_depth_v2_labeled.mat"
SPLITS = ("train", "test")
LAYOUT = f"ROOT/{LABELED} (MATLAB v7.3) and ROOT/splits.mat (or ROOT/train.txt, ROOT/test.txt)"


def _open(mat: Path):
    """The labeled .mat as an open h5py file; anything else raises ``InputFileError``."""
    import h5py  # only the RGB-D datasets need h5py

    if not mat.is_file():
        raise InputFileError(f"{mat}: file not found (NYUv2 expects {LAYOUT})")
    try:
        return h5py.File(mat, "r")
    except OSError as exc:
        raise InputFileError(f"{mat}: not a MATLAB v7.3 (HDF5) file ({exc}); expected the "
                             f"{LABELED} distributed by NYU") from None


def _array(f, key: str, mat: Path, ndim: int):
    if key not in f or f[key].ndim != ndim:
        raise InputFileError(f"{mat}: no {ndim}-D '{key}' array (expected {LABELED} with "
                             "images (N, 3, W, H), depths and labels (N, W, H))")
    return f[key]


def _frame(path: Path) -> tuple[Path, int]:
    """The .mat file and 0-based frame of a ``ROOT/nyu_depth_v2_labeled.mat/INDEX`` path."""
    return path.parent, int(path.name) - 1


def read_labels(path: Path) -> np.ndarray:
    """The (H, W) raw 894-class labels of one frame."""
    mat, i = _frame(path)
    with _open(mat) as f:
        return np.asarray(_array(f, "labels", mat, 3)[i]).T.astype(np.int64)  # (W, H) -> (H, W)


def read_rgbd(sample: Sample) -> np.ndarray:
    """The (H, W, 4) float32 RGB + depth input of one frame."""
    mat, i = _frame(sample.image)
    with _open(mat) as f:
        rgb = np.asarray(_array(f, "images", mat, 4)[i]).transpose(2, 1, 0)  # (H, W, 3)
        depth = np.asarray(_array(f, "depths", mat, 3)[i], dtype=np.float32).T  # (H, W), metres
    if rgb.shape[:2] != depth.shape:
        raise InputFileError(f"{sample.image}: image is {rgb.shape[:2]} but depth {depth.shape}")
    return rgbd_image(rgb, depth)


def read_split_indices(root: Path) -> dict[str, list[int]]:
    """1-based frame indices of the train and test splits."""
    if (root / "splits.mat").is_file():
        from scipy.io import loadmat
        from scipy.io.matlab import MatReadError

        try:
            m = loadmat(root / "splits.mat")
            return {"train": np.ravel(m["trainNdxs"]).astype(int).tolist(),
                    "test": np.ravel(m["testNdxs"]).astype(int).tolist()}
        except (MatReadError, ValueError, TypeError, OSError, KeyError) as exc:
            raise InputFileError(f"{root / 'splits.mat'}: expected trainNdxs and testNdxs "
                                 f"({type(exc).__name__}: {exc})") from None
    out = {}
    for split in SPLITS:
        path = root / f"{split}.txt"
        if not path.is_file():
            raise layout_error(root / "splits.mat", "file not found", "NYUv2",
                               f"{LAYOUT}; the standard split has 795 train, 654 test")
        try:
            out[split] = [int(v) for v in path.read_text().split()]
        except ValueError:
            raise InputFileError(f"{path}: expected one 1-based frame index per line") from None
    return out


def _sources(root: Path, info: DatasetInfo) -> list[SplitSource]:
    root = Path(root)
    mat = root / LABELED
    with _open(mat) as f:
        n = _array(f, "images", mat, 4).shape[0]
        for key in ("depths", "labels"):
            if _array(f, key, mat, 3).shape[0] != n:
                raise InputFileError(f"{mat}: '{key}' has {f[key].shape[0]} frames, images {n}")
    out = []
    for split, indices in read_split_indices(root).items():
        bad = [i for i in indices if not 1 <= i <= n]
        problems = [f"{split} split: frame indices {bad[:5]} outside 1..{n}"] if bad else []
        samples = [Sample(mat / str(i), mat / str(i)) for i in indices if 1 <= i <= n]
        out.append(SplitSource(split, samples, problems, info, LUTS[info.name], read_labels,
                               read_rgbd))
    return out


def splits(root: str | Path, palette: str | None = None) -> list[SplitSource]:
    """The train (795) and test (654) splits of the labeled frames."""
    return _sources(Path(root), choose_label_set(palette, LABEL_SETS))


def dataset(
    root: str | Path,
    split: str = "train",
    transform: PairTransformFn | None = None,
    palette: str | None = None,
) -> SegmentationDataset:
    """One NYUv2 split of RGB-D frames with 40 (default) or 13 (``'nyuv2_13'``) classes."""
    check_split(split, SPLITS, "NYUv2")
    sources = {s.split: s for s in splits(root, palette)}
    return strict_dataset(sources[split], transform, LAYOUT)

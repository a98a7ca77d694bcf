"""``Forest``: train, predict, smooth, save and load per-pixel random forests.

Three kinds share one tree format (``semseg.forest.tree``):

- ``learned``: learned sparse filters over CIELAB (Kang & Nguyen, IEEE TIP 2019);
- ``pixel-pair``: random fixed-offset pixel pairs over CIELAB (Shotton et al., CVPR 2008);
- ``cnn-head``: learned filters at offset 0 over a trained CNN's final features.

Files are ``.npz`` archives of plain numeric arrays (``np.load(allow_pickle=False)``) plus a JSON
header stored as a uint8 array; a wrong format name or version raises ``ModelError``.

Example:
    >>> forest = train_forest(camvid.dataset(root, "train"), "learned", trees=4)
    >>> forest.save("forest.npz")
    >>> mask = Forest.load("forest.npz").predict(image_uint8_rgb)   # (H, W) class ids
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from semseg.errors import ConfigError, InputFileError, ModelError
from semseg.forest.features import CnnFeatures, lab_stack, pad_stack
from semseg.forest.splits import learned_filter_proposer, pixel_pair_proposer
from semseg.forest.tree import Samples, Tree, grow_tree, tree_leaves

FORMAT = "semseg-forest"
VERSION = 1
KINDS = ("learned", "pixel-pair", "cnn-head")
ARRAYS = ("taps", "threshold", "left", "right", "hist", "tree_offsets")


@dataclass
class ForestParams:
    """Training knobs (defaults: minutes on CamVid train subsamples at 1 thread)."""

    trees: int = 4
    max_depth: int = 14
    min_samples: int = 20  # a node with fewer training pixels becomes a leaf
    images: int = 60  # training images (evenly spaced over the split)
    pixels_per_image: int = 1500  # random labelled pixels per image and tree
    scale: float = 0.5  # pixel forests work on images resized by this factor
    radius: int = 12  # offsets in [-radius, radius] pixels at that scale
    max_taps: int = 4  # learned filters: most non-zero taps
    candidates: int = 48  # random filters tried per node
    max_eval: int = 2000  # node samples used to choose a split
    seed: int = 0


@dataclass
class Forest:
    """A trained forest with what is needed to run it on an RGB image."""

    kind: str
    classes: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    trees: list[Tree]
    scale: float
    radius: int
    features: str = "lab"  # "lab" or "cnn:<model name or checkpoint path>"
    meta: dict[str, Any] = field(default_factory=dict)
    _cnn: CnnFeatures | None = field(default=None, repr=False, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def stack(self, image: np.ndarray) -> np.ndarray:
        """The forest's (C, h, w) input for an RGB uint8 image (not padded)."""
        if self.features == "lab":
            return lab_stack(image, self.scale)
        if self._cnn is None:
            self._cnn = CnnFeatures(self.features.removeprefix("cnn:"))
        return self._cnn(image)

    def predict_proba(self, image: np.ndarray, smooth_iters: int = 0) -> np.ndarray:
        """(K, H, W) float32 class probabilities at the image's size."""
        stack = self.stack(image)
        _, h, w = stack.shape
        padded = pad_stack(stack, self.radius)
        probs = np.zeros((h * w, self.num_classes), dtype=np.float32)
        for tree in self.trees:
            probs += tree.hist[tree_leaves(tree, padded, self.radius)]
        probs = (probs / len(self.trees)).T.reshape(self.num_classes, h, w)
        if smooth_iters:
            probs = smooth_probs(probs, lab_stack(image, w / image.shape[1]), smooth_iters)
        big = cv2.resize(probs.transpose(1, 2, 0), (image.shape[1], image.shape[0]),
                         interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(big.reshape(*image.shape[:2], -1).transpose(2, 0, 1))

    def predict(self, image: np.ndarray, smooth_iters: int = 0) -> np.ndarray:
        """(H, W) int64 class ids."""
        return self.predict_proba(image, smooth_iters).argmax(0)

    def save(self, path: str | Path) -> Path:
        """Write the forest as .npz (plain arrays + JSON header), atomically."""
        from semseg.fileio.images import atomic_write

        offsets = np.cumsum([0] + [len(t.left) for t in self.trees])
        header = {"format": FORMAT, "version": VERSION, "kind": self.kind,
                  "classes": list(self.classes), "palette": [list(c) for c in self.palette],
                  "scale": self.scale, "radius": self.radius, "features": self.features,
                  "meta": self.meta}
        arrays = {name: np.concatenate([getattr(t, name) for t in self.trees])
                  for name in ARRAYS[:-1]}
        arrays["tree_offsets"] = offsets.astype(np.int64)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

        return atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> Forest:
        """Read a file written by ``save``; never unpickles."""
        p = Path(path)
        if not p.is_file():
            raise InputFileError(f"{p}: forest file not found")
        try:
            with np.load(p, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
            header = json.loads(data["header"].tobytes().decode())
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
            raise InputFileError(f"{p}: not a semseg forest file ({exc})".splitlines()[0]) from None
        if header.get("format") != FORMAT:
            raise ModelError(f"{p}: format {header.get('format')!r} is not {FORMAT!r}")
        if header.get("version") != VERSION:
            raise ModelError(f"{p}: forest format version {header.get('version')!r}; this "
                             f"semseg reads version {VERSION} (retrain with `semseg forest train`)")
        missing = [k for k in ARRAYS if k not in data]
        if missing:
            raise InputFileError(f"{p}: missing arrays {missing}")
        off = data["tree_offsets"]
        trees = [Tree(*(data[k][a:b] for k in ARRAYS[:-1])) for a, b in pairwise(off)]
        return cls(header["kind"], tuple(header["classes"]),
                   tuple(tuple(c) for c in header["palette"]), trees, float(header["scale"]),
                   int(header["radius"]), header["features"], header.get("meta", {}))


def smooth_probs(probs: np.ndarray, guide: np.ndarray, iters: int, sigma: float = 8.0
                 ) -> np.ndarray:
    """Edge-aware label propagation: each step averages a pixel's class probabilities with its 4
    neighbours, weighted by exp(-|dLab|^2 / (2 sigma^2)) from the (3, h, w) guide."""
    p = probs.copy()  # (K, h, w)
    wy = np.exp(-((guide[:, 1:] - guide[:, :-1]) ** 2).sum(0) / (2 * sigma**2))  # (h-1, w)
    wx = np.exp(-((guide[:, :, 1:] - guide[:, :, :-1]) ** 2).sum(0) / (2 * sigma**2))
    norm = np.ones(p.shape[1:], dtype=np.float32)
    norm[1:] += wy
    norm[:-1] += wy
    norm[:, 1:] += wx
    norm[:, :-1] += wx
    for _ in range(iters):
        acc = p.copy()
        acc[:, 1:] += wy * p[:, :-1]
        acc[:, :-1] += wy * p[:, 1:]
        acc[:, :, 1:] += wx * p[:, :, :-1]
        acc[:, :, :-1] += wx * p[:, :, 1:]
        p = acc / norm
    return p.astype(np.float32)


def _training_stacks(dataset, forest: Forest, params: ForestParams,
                     progress: Callable[[str], None]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Padded input stacks (N, C, h+2R, w+2R) and masks at stack size of evenly spaced images."""
    n = min(params.images, len(dataset))
    picks = np.unique(np.linspace(0, len(dataset) - 1, n).round().astype(int))
    stacks, masks = [], []
    for i in picks:
        image, mask = dataset.load(int(i))
        stack = forest.stack(image)
        masks.append(cv2.resize(mask, stack.shape[:0:-1], interpolation=cv2.INTER_NEAREST))
        stacks.append(pad_stack(stack, forest.radius))
    progress(f"features of {len(picks)} images")
    return np.stack(stacks).astype(np.float32), masks


def _samples(stack: np.ndarray, masks: Sequence[np.ndarray], per_image: int, num_classes: int,
             radius: int, rng: np.random.Generator) -> Samples:
    """Random labelled pixels of every image, weighted so that every class weighs the same."""
    n, r, c, y = [], [], [], []
    for i, m in enumerate(masks):
        idx = np.flatnonzero(m.ravel() < num_classes)
        if idx.size == 0:
            continue
        idx = rng.choice(idx, min(per_image, idx.size), replace=False)
        rows, cols = np.divmod(idx, m.shape[1])
        n.append(np.full(idx.size, i))
        r.append(rows + radius)
        c.append(cols + radius)
        y.append(m.ravel()[idx].astype(np.int64))
    if not y:
        raise ConfigError("no labelled pixels in the training images")
    y_all = np.concatenate(y)
    counts = np.bincount(y_all, minlength=num_classes).astype(np.float64)
    w = (y_all.size / (np.count_nonzero(counts) * np.maximum(counts, 1)))[y_all]
    return Samples(stack, np.concatenate(n), np.concatenate(r), np.concatenate(c), y_all, w,
                   num_classes)


def train_forest(dataset, kind: str, params: ForestParams | None = None,
                 cnn: str = "camvid-litefpn",
                 progress: Callable[[str], None] = lambda msg: None) -> Forest:
    """Train a forest of ``kind`` (see ``KINDS``) on a ``SegmentationDataset``."""
    if kind not in KINDS:
        raise ConfigError(f"unknown forest kind {kind!r}; choose from {', '.join(KINDS)}")
    params = params or ForestParams()
    info = dataset.info
    cnn_kind = kind == "cnn-head"
    forest = Forest(kind, tuple(info.classes), tuple(tuple(c) for c in info.palette), [],
                    1.0 if cnn_kind else params.scale, 0 if cnn_kind else params.radius,
                    f"cnn:{cnn}" if cnn_kind else "lab")
    if cnn_kind:
        forest._cnn = CnnFeatures(cnn)
        if tuple(forest._cnn.info.classes) != forest.classes:
            raise ConfigError(f"CNN {cnn!r} predicts {list(forest._cnn.info.classes)}, the "
                              f"dataset has {list(forest.classes)}")
    start, cpu = time.perf_counter(), time.process_time()
    stack, masks = _training_stacks(dataset, forest, params, progress)
    channels = stack.shape[1]
    if kind == "pixel-pair":
        propose = pixel_pair_proposer(channels, forest.radius, params.candidates)
        taps = 2
    else:
        propose = learned_filter_proposer(channels, forest.radius, params.max_taps,
                                          params.candidates)
        taps = params.max_taps
    rng = np.random.default_rng(params.seed)
    for t in range(params.trees):
        samples = _samples(stack, masks, params.pixels_per_image, forest.num_classes,
                           forest.radius, rng)
        forest.trees.append(grow_tree(samples, propose, rng, params.max_depth,
                                      params.min_samples, params.max_eval, taps))
        progress(f"tree {t + 1}/{params.trees}: {len(forest.trees[-1].left)} nodes, "
                 f"{time.perf_counter() - start:.0f} s")
    forest.meta = {"params": vars(params), "train_seconds": time.perf_counter() - start,
                   "train_cpu_seconds": time.process_time() - cpu, "train_images": len(masks)}
    return forest

"""Score predicted index masks (arrays or a folder of ``<stem>.png``) against a dataset split with
the same confusion matrix and boundary F-score as ``semseg eval``.

Example:
    >>> report = score_mask_folder("pred/", "../shared/data/camvid", "camvid", "val")
    >>> report["miou"], report["boundary_f"]
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semseg.errors import ConfigError, InputFileError
from semseg.metrics.boundary import BoundaryFScore
from semseg.metrics.confusion import ConfusionMatrix


def score_masks(pairs: Iterable[tuple[np.ndarray, np.ndarray]], classes: list[str],
                ignore_index: int = 255, boundary_tolerance: int | None = 2) -> dict[str, Any]:
    """mIoU, pixel accuracy, per-class IoU (and boundary F) of (prediction, target) id masks."""
    k = len(classes)
    cm = ConfusionMatrix(k, ignore_index)
    bf = None if boundary_tolerance is None else BoundaryFScore(
        k, tolerance=boundary_tolerance, ignore_index=ignore_index)
    images = 0
    for pred, target in pairs:
        p = torch.from_numpy(np.asarray(pred, dtype=np.int64))[None]  # (1, H, W)
        t = torch.from_numpy(np.asarray(target, dtype=np.int64))[None]
        cm.update(p, t)
        if bf is not None:
            bf.update(p, t)
        images += 1
    report: dict[str, Any] = {"images": images, **cm.compute().to_dict(classes)}
    if bf is not None:
        report["boundary_f"] = bf.compute().mean
        report["boundary_tolerance_px"] = boundary_tolerance
    return report


def split_dataset(data: str, fmt: str, split: str, palette: str | None = None):
    """The untransformed ``SegmentationDataset`` of one split."""
    from semseg.data import get_format

    sources = {s.split: s for s in get_format(fmt).splits(data, palette=palette)}
    if split not in sources:
        raise ConfigError(f"{data}: split {split!r} not found; have {list(sources)}")
    return sources[split].dataset()


def score_mask_folder(pred_dir: str | Path, data: str, fmt: str, split: str,
                      palette: str | None = None, limit: int | None = None,
                      boundary_tolerance: int | None = 2) -> dict[str, Any]:
    """Score ``pred_dir/<image stem>.png`` for every image of the split (all must exist)."""
    from semseg.fileio.images import read_mask

    ds = split_dataset(data, fmt, split, palette)
    n = min(limit or len(ds), len(ds))
    paths = [Path(pred_dir) / f"{ds.samples[i].image.stem}.png" for i in range(n)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InputFileError(f"{missing[0]}: prediction missing ({len(missing)} of {n} missing)")

    def pairs():
        for i, path in enumerate(paths):
            pred = read_mask(path)
            target = ds.load(i)[1]
            if pred.shape != target.shape:
                raise InputFileError(f"{path}: {pred.shape} but the mask is {target.shape}")
            yield pred, target

    return score_masks(pairs(), list(ds.info.classes), ds.info.ignore_index, boundary_tolerance)

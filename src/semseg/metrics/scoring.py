"""Helpers every metric shares: checking predictions against targets, NaN-safe ratios, JSON values.

`semseg.metrics.confusion` (confusion matrix) and `semseg.metrics.boundary` (boundary F / IoU)
both build on this
module and on nothing else of semseg, so neither depends on the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def class_ids(
    pred: torch.Tensor, target: torch.Tensor, num_classes: int, ignore_index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return (predicted ids, target ids, valid mask), all int64/bool of the target's shape."""
    if target.is_floating_point() or target.is_complex():
        raise ValueError(f"target must hold integer class ids, got dtype {target.dtype}")
    ids = pred
    if pred.dim() == target.dim() + 1:  # logits (N, C, H, W) or (C, H, W)
        if pred.shape[-3] != num_classes:
            raise ValueError(
                f"logits of shape {tuple(pred.shape)} have {pred.shape[-3]} channels on the "
                f"class axis (-3), expected num_classes={num_classes}"
            )
        ids = pred.argmax(dim=-3)  # (N, H, W)
    elif pred.is_floating_point():
        raise ValueError(
            f"floating-point prediction of shape {tuple(pred.shape)} for target of shape "
            f"{tuple(target.shape)}: pass logits with a class axis or integer class ids"
        )
    if ids.shape != target.shape:
        raise ValueError(
            f"prediction of shape {tuple(pred.shape)} does not match target of shape "
            f"{tuple(target.shape)}: expected class ids of the target's shape or logits "
            f"(N, {num_classes}, H, W)"
        )
    ids = ids.long()
    target = target.to(device=ids.device, dtype=torch.int64)
    valid = (target != ignore_index) & (target >= 0) & (target < num_classes)  # (N, H, W)
    bad = ids[valid]
    bad = bad[(bad < 0) | (bad >= num_classes)]
    if bad.numel():
        raise ValueError(
            f"prediction holds class id {int(bad[0])} on a labelled pixel; expected ids in "
            f"0..{num_classes - 1} (num_classes={num_classes})"
        )
    return ids, target, valid


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Elementwise num / den as float64, NaN where den == 0."""
    out = np.full(np.shape(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def nanmean(values: np.ndarray) -> float:
    """Mean of the non-NaN values; NaN (without a warning) when there are none."""
    kept = values[~np.isnan(values)]
    return float(kept.mean()) if kept.size else float("nan")


def json_float(value: float) -> float | None:
    """Return `value` as a float, or None for NaN (JSON has no NaN)."""
    return None if math.isnan(value) else float(value)


def per_class_dict(
    values: Sequence[float], class_names: Sequence[str] | None
) -> dict[str, float | None]:
    """Map class names (default: "0", "1", ...) to JSON-safe values."""
    names = [str(i) for i in range(len(values))] if class_names is None else list(class_names)
    if len(names) != len(values):
        raise ValueError(f"got {len(names)} class names for {len(values)} classes")
    return {name: json_float(v) for name, v in zip(names, values, strict=True)}

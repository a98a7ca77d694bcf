"""Segmentation losses and class weights.

Example:
    >>> counts = class_pixel_counts(train_dataset)          # pixels per class in the masks
    >>> criterion = CrossEntropy(weight=enet_class_weights(counts), ohem_thresh=0.7)
    >>> loss = criterion(logits, target)                      # (N, C, H, W), (N, H, W)
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semseg.data.info import IGNORE_INDEX


def class_pixel_counts(dataset, num_classes: int, indices=None) -> np.ndarray:
    """Pixels per class over a dataset's masks (decoded once, untransformed)."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for i in range(len(dataset)) if indices is None else indices:
        _, mask = dataset.load(i)
        counts += np.bincount(mask[mask < num_classes].ravel(), minlength=num_classes)
    return counts


def enet_class_weights(counts: np.ndarray, c: float = 1.02) -> torch.Tensor:
    """ENet's class weights w = 1 / ln(c + p_class) (Paszke et al. 2016, sec. 5.2)."""
    p = counts / max(counts.sum(), 1)
    return torch.tensor(1.0 / np.log(c + p), dtype=torch.float32)


class CrossEntropy(nn.Module):
    """Cross-entropy with optional class weights and online hard example mining (OHEM).

    With ``ohem_thresh`` set, only pixels whose true-class probability is below the threshold
    contribute (at least ``ohem_min_kept`` per batch, the hardest ones), as in Wu et al. 2016 /
    PSPNet's training code.
    """

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        ignore_index: int = IGNORE_INDEX,
        ohem_thresh: float | None = None,
        ohem_min_kept: int = 100_000,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight if weight is not None else None)
        self.ignore_index = ignore_index
        self.ohem_thresh = ohem_thresh
        self.ohem_min_kept = ohem_min_kept

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not (target != self.ignore_index).any():
            # A crop with only ignored pixels (common in ADE20K): the mean would be 0/0 = NaN.
            return logits.sum() * 0.0
        if self.ohem_thresh is None:
            return F.cross_entropy(logits, target, weight=self.weight,
                                   ignore_index=self.ignore_index)
        pixel_loss = F.cross_entropy(logits, target, weight=self.weight,
                                     ignore_index=self.ignore_index, reduction="none")  # (N,H,W)
        valid = target != self.ignore_index
        losses = pixel_loss[valid]
        # loss > -ln(thresh)  <=>  p_true < thresh
        hard = losses > -np.log(self.ohem_thresh)
        min_kept = min(self.ohem_min_kept, losses.numel())
        if hard.sum() < min_kept:
            return losses.topk(min_kept).values.mean()
        return losses[hard].mean()

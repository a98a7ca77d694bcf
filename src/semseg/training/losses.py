"""Segmentation losses and class weights.

Every loss is an ``nn.Module`` called as ``loss(logits, target)`` with logits (N, C, H, W) and
integer targets (N, H, W); pixels equal to ``ignore_index`` contribute nothing, and a batch with
only ignored pixels gives a zero loss (not NaN). ``build_loss`` turns a config string such as
``"ce+0.5*lovasz"`` into a weighted sum of them.

Example:
    >>> counts = class_pixel_counts(train_dataset)          # pixels per class in the masks
    >>> criterion = CrossEntropy(weight=enet_class_weights(counts), ohem_thresh=0.7)
    >>> loss = criterion(logits, target)                      # (N, C, H, W), (N, H, W)
    >>> criterion = build_loss("ce+0.5*lovasz", weight=enet_class_weights(counts))
"""

from __future__ import annotations

import math
import re

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semseg.data.info import IGNORE_INDEX
from semseg.errors import ConfigError


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


def _valid_probs(logits: torch.Tensor, target: torch.Tensor, ignore_index: int):
    """Softmax probabilities (P, C) and labels (P,) of the non-ignored pixels."""
    c = logits.shape[1]
    probs = logits.float().softmax(1).permute(0, 2, 3, 1).reshape(-1, c)  # (N*H*W, C)
    labels = target.reshape(-1)
    valid = labels != ignore_index
    return probs[valid], labels[valid]


class DiceLoss(nn.Module):
    """Soft multi-class Dice loss: 1 - mean over classes of 2|P∩G| / (|P| + |G|).

    Sums run over every valid pixel of the batch (softmax probabilities P, one-hot labels G);
    the mean is over the classes present in the batch's labels, so a class absent from a crop
    neither helps nor hurts (its false positives still lower the present classes' scores).
    ``smooth`` is added to numerator and denominator.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX, smooth: float = 0.0) -> None:
        super().__init__()
        self.ignore_index, self.smooth = ignore_index, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        probs, labels = _valid_probs(logits, target, self.ignore_index)  # (P, C), (P,)
        if labels.numel() == 0:
            return logits.sum() * 0.0
        onehot = F.one_hot(labels, probs.shape[1]).to(probs.dtype)  # (P, C)
        inter = (probs * onehot).sum(0)  # (C,)
        denom = probs.sum(0) + onehot.sum(0)
        dice = (2 * inter + self.smooth) / (denom + self.smooth).clamp_min(1e-12)
        present = onehot.sum(0) > 0
        return 1 - dice[present].mean()


class LovaszSoftmax(nn.Module):
    """Lovász-softmax loss (Berman et al., CVPR 2018): a convex surrogate of 1 - IoU per class.

    For each class present in the batch's labels, pixel errors |1[y = c] - p_c| are sorted in
    decreasing order and dotted with the Lovász gradient of the Jaccard loss; the loss is the
    mean over those classes. With one-hot predictions it equals the mean of 1 - IoU_c. All valid
    pixels of the batch are pooled (the paper's batch variant).
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from semseg.training.lovasz import lovasz_softmax

        if not (target != self.ignore_index).any():
            return logits.sum() * 0.0
        return lovasz_softmax(logits.float().softmax(1), target, self.ignore_index)


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., ICCV 2017): -(1 - p_t)^gamma log p_t, optionally class-weighted.

    With class weights the mean is weighted like ``F.cross_entropy``'s (sum of w_t * loss over
    sum of w_t), so ``gamma=0`` is exactly the (weighted) cross-entropy.
    """

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None,
                 ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.gamma, self.ignore_index = gamma, ignore_index
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target != self.ignore_index  # (N, H, W)
        if not valid.any():
            return logits.sum() * 0.0
        logp = logits.float().log_softmax(1)  # (N, C, H, W)
        safe = torch.where(valid, target, torch.zeros_like(target))
        logp_t = logp.gather(1, safe[:, None])[:, 0][valid]  # (P,)
        loss = -((1 - logp_t.exp()) ** self.gamma) * logp_t
        if self.weight is None:
            return loss.mean()
        w = self.weight[safe[valid]]
        return (w * loss).sum() / w.sum()


class WeightedSum(nn.Module):
    """``sum_i w_i * loss_i(logits, target)`` over named terms (built by ``build_loss``)."""

    def __init__(self, terms: list[tuple[float, str, nn.Module]]) -> None:
        super().__init__()
        self.weights = [w for w, _, _ in terms]
        self.names = [n for _, n, _ in terms]
        self.terms = nn.ModuleList(m for _, _, m in terms)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = None
        for w, loss in zip(self.weights, self.terms, strict=True):
            value = w * loss(logits, target)
            total = value if total is None else total + value
        return total


LOSS_NAMES = ("ce", "dice", "lovasz", "focal")
_TERM = re.compile(r"^(?:(?P<w>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?(?P<name>[a-z]+)$")


def parse_loss(spec: str) -> list[tuple[float, str]]:
    """``"ce+0.5*lovasz"`` -> ``[(1.0, "ce"), (0.5, "lovasz")]``; bad specs: ``ConfigError``."""
    help_text = (f"expected terms from {list(LOSS_NAMES)} joined by '+', each optionally "
                 "weighted like 0.5*dice, e.g. 'ce+0.5*lovasz'")
    terms: list[tuple[float, str]] = []
    for raw in str(spec).lower().split("+"):
        m = _TERM.match(raw.strip())
        if m is None or m["name"] not in LOSS_NAMES:
            raise ConfigError(f"invalid loss {spec!r}: bad term {raw.strip()!r}; {help_text}")
        weight = float(m["w"]) if m["w"] else 1.0
        if not (math.isfinite(weight) and weight > 0):
            raise ConfigError(f"invalid loss {spec!r}: weight of {m['name']!r} must be > 0")
        if m["name"] in [n for _, n in terms]:
            raise ConfigError(f"invalid loss {spec!r}: {m['name']!r} appears twice")
        terms.append((weight, m["name"]))
    return terms


def build_loss(
    spec: str = "ce",
    weight: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
    ohem_thresh: float | None = None,
    focal_gamma: float = 2.0,
) -> nn.Module:
    """The loss named by ``spec`` (see ``parse_loss``).

    Class ``weight`` applies to the cross-entropy and focal terms, ``ohem_thresh`` to the
    cross-entropy term; Dice and Lovász are unweighted (they already balance classes). A single
    unweighted term is returned as is, so ``"ce"`` is exactly ``CrossEntropy``.
    """
    def make(name: str) -> nn.Module:
        if name == "ce":
            return CrossEntropy(weight, ignore_index=ignore_index, ohem_thresh=ohem_thresh)
        if name == "focal":
            return FocalLoss(focal_gamma, weight, ignore_index=ignore_index)
        if name == "dice":
            return DiceLoss(ignore_index=ignore_index)
        return LovaszSoftmax(ignore_index=ignore_index)

    terms = parse_loss(spec)
    if len(terms) == 1 and terms[0][0] == 1.0:
        return make(terms[0][1])
    return WeightedSum([(w, name, make(name)) for w, name in terms])

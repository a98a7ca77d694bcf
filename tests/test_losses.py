"""Losses and class weights on hand-built tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semseg.losses import CrossEntropy, enet_class_weights


def test_enet_weights_by_hand() -> None:
    # p = (0.5, 0.25, 0.25): w = 1 / ln(1.02 + p)
    w = enet_class_weights(np.array([2, 1, 1]))
    expected = [1 / math.log(1.52), 1 / math.log(1.27), 1 / math.log(1.27)]
    assert w.tolist() == pytest.approx(expected, rel=1e-6)


def test_cross_entropy_ignores_void_pixels() -> None:
    logits = torch.zeros(1, 2, 1, 2)
    logits[0, 0, 0, 0] = math.log(3)  # pixel 0: p(class 0) = 3 / 4
    target = torch.tensor([[[0, 255]]])
    loss = CrossEntropy()(logits, target)
    assert loss.item() == pytest.approx(-math.log(0.75), rel=1e-6)


def test_ohem_keeps_only_hard_pixels() -> None:
    # four pixels with p_true = 0.9, 0.8, 0.3, 0.1; threshold 0.7 keeps the last two
    p = torch.tensor([0.9, 0.8, 0.3, 0.1])
    logits = torch.stack([torch.log(p), torch.log(1 - p)]).view(1, 2, 1, 4)
    target = torch.zeros(1, 1, 4, dtype=torch.long)
    loss = CrossEntropy(ohem_thresh=0.7, ohem_min_kept=1)(logits, target)
    assert loss.item() == pytest.approx(-(math.log(0.3) + math.log(0.1)) / 2, rel=1e-5)
    # min_kept larger than the hard set: the hardest min_kept pixels are used
    loss3 = CrossEntropy(ohem_thresh=0.7, ohem_min_kept=3)(logits, target)
    assert loss3.item() == pytest.approx(-(math.log(0.8) + math.log(0.3) + math.log(0.1)) / 3,
                                         rel=1e-5)


def test_weighted_matches_torch() -> None:
    torch.manual_seed(0)
    logits, target = torch.randn(2, 3, 4, 5), torch.randint(0, 3, (2, 4, 5))
    w = torch.tensor([1.0, 2.0, 0.5])
    assert CrossEntropy(w)(logits, target).item() == pytest.approx(
        F.cross_entropy(logits, target, weight=w).item(), rel=1e-6)

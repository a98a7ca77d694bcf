"""Losses and class weights on hand-built tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from semseg.errors import ConfigError
from semseg.training.config import TrainConfig
from semseg.training.losses import (
    CrossEntropy,
    DiceLoss,
    FocalLoss,
    LovaszSoftmax,
    WeightedSum,
    build_loss,
    enet_class_weights,
    parse_loss,
)


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


def _two_class_logits(p0: list[float]) -> torch.Tensor:
    """(1, 2, 1, P) logits whose softmax gives p(class 0) = p0 at each pixel."""
    p = torch.tensor(p0, dtype=torch.float64)
    return torch.stack([torch.log(p), torch.log(1 - p)]).view(1, 2, 1, -1)


def test_dice_by_hand_ignores_void_pixels() -> None:
    # pixel 0: p = (0.75, 0.25), label 0; pixel 1: p = (0.5, 0.5), label 1; pixel 2 ignored
    # class 0: 2 * 0.75 / (0.75 + 0.5 + 1) = 2/3; class 1: 2 * 0.5 / (0.25 + 0.5 + 1) = 4/7
    logits = _two_class_logits([0.75, 0.5, 0.01])
    target = torch.tensor([[[0, 1, 255]]])
    loss = DiceLoss()(logits, target)
    assert loss.item() == pytest.approx(1 - (2 / 3 + 4 / 7) / 2, rel=1e-6)


def test_dice_averages_only_present_classes() -> None:
    # three classes, only class 0 labelled: p(0) = 0.5 at both pixels -> 2 * 1 / (1 + 2) = 2/3
    logits = torch.log(torch.tensor([0.5, 0.25, 0.25])).view(1, 3, 1, 1).expand(1, 3, 1, 2)
    loss = DiceLoss()(logits, torch.zeros(1, 1, 2, dtype=torch.long))
    assert loss.item() == pytest.approx(1 / 3, rel=1e-6)


def test_lovasz_by_hand() -> None:
    # p(class 0) = 0.9, 0.4, 0.2; labels 0, 0, 1.
    # class 0: errors 0.1, 0.6, 0.2 -> sorted 0.6 (fg), 0.2 (bg), 0.1 (fg); Jaccard losses of the
    #   growing error sets 1/2, 2/3, 1 -> gradient 1/2, 1/6, 1/3 -> 0.3 + 0.2/6 + 0.1/3 = 11/30
    # class 1: errors 0.1, 0.6, 0.2 -> sorted 0.6 (bg), 0.2 (fg), 0.1 (bg); Jaccard losses
    #   1/2, 1, 1 -> gradient 1/2, 1/2, 0 -> 0.3 + 0.1 = 0.4
    loss = LovaszSoftmax()(_two_class_logits([0.9, 0.4, 0.2]), torch.tensor([[[0, 0, 1]]]))
    assert loss.item() == pytest.approx((11 / 30 + 0.4) / 2, rel=1e-6)


def test_lovasz_of_hard_predictions_is_one_minus_iou() -> None:
    # 2x3 image, three classes; prediction vs labels (255 ignored):
    #   pred   0 0 1      labels  0 1 1
    #          2 2 2              2 2 255
    # IoU: class 0: 1/2, class 1: 1/2, class 2: 2/2 (the ignored pixel does not count)
    pred = torch.tensor([[0, 0, 1], [2, 2, 2]])
    logits = 30.0 * F.one_hot(pred, 3).permute(2, 0, 1)[None].double()  # (1, 3, 2, 3)
    target = torch.tensor([[[0, 1, 1], [2, 2, 255]]])
    loss = LovaszSoftmax()(logits, target)
    assert loss.item() == pytest.approx(((1 - 0.5) + (1 - 0.5) + 0) / 3, abs=1e-6)


def test_focal_by_hand_and_gamma_zero_is_weighted_ce() -> None:
    # p_t = 0.75 (label 0) and 0.5 (label 1): -(1 - p_t)^2 ln p_t
    logits = _two_class_logits([0.75, 0.5, 0.3])
    target = torch.tensor([[[0, 1, 255]]])
    a, b = -(0.25**2) * math.log(0.75), -(0.5**2) * math.log(0.5)
    assert FocalLoss(gamma=2)(logits, target).item() == pytest.approx((a + b) / 2, rel=1e-6)
    w = torch.tensor([1.0, 3.0], dtype=torch.float64)
    weighted = FocalLoss(gamma=2, weight=w)(logits, target).item()
    assert weighted == pytest.approx((a + 3 * b) / 4, rel=1e-6)
    ce = -(math.log(0.75) + 3 * math.log(0.5)) / 4
    assert FocalLoss(gamma=0, weight=w)(logits, target).item() == pytest.approx(ce, rel=1e-6)


def test_combined_loss_is_the_weighted_sum() -> None:
    logits = _two_class_logits([0.9, 0.4, 0.2])
    target = torch.tensor([[[0, 0, 1]]])
    ce = -(math.log(0.9) + math.log(0.4) + math.log(0.8)) / 3
    loss = build_loss("ce+0.5*lovasz")(logits, target)
    assert loss.item() == pytest.approx(ce + 0.5 * (11 / 30 + 0.4) / 2, rel=1e-6)


def test_parse_loss_accepts_weighted_sums() -> None:
    assert parse_loss("ce") == [(1.0, "ce")]
    assert parse_loss("CE + 0.5*Lovasz") == [(1.0, "ce"), (0.5, "lovasz")]
    assert parse_loss("2*focal+dice") == [(2.0, "focal"), (1.0, "dice")]
    assert isinstance(build_loss("ce"), CrossEntropy)
    assert isinstance(build_loss("ce+dice"), WeightedSum)


@pytest.mark.parametrize("spec", ["", "ce+", "ce+foo", "0*dice", "-1*ce", "ce+ce", "ce*0.5",
                                  "ce,dice"])
def test_bad_loss_specs_raise_config_error(spec: str) -> None:
    with pytest.raises(ConfigError, match="invalid loss"):
        parse_loss(spec)
    with pytest.raises(ConfigError, match="invalid loss"):
        TrainConfig(loss=spec)


@pytest.mark.parametrize("spec", ["ce", "dice", "lovasz", "focal", "ce+0.5*dice",
                                  "ce+lovasz", "focal+dice"])
def test_losses_backprop_and_skip_ignored_pixels(spec: str) -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, requires_grad=True)
    target = torch.randint(0, 3, (2, 4, 5))
    target[0, 0] = 255
    loss = build_loss(spec, weight=torch.tensor([1.0, 2.0, 0.5]))(logits, target)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert logits.grad[0, :, 0].abs().max() == 0  # ignored pixels get no gradient
    assert logits.grad[1].abs().sum() > 0
    empty = build_loss(spec)(logits, torch.full((2, 4, 5), 255))
    assert empty.item() == 0.0

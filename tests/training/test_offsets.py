"""Class offsets: fitting on hand-built logits, folding into a classifier bias."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semseg.errors import ModelError
from semseg.metrics.confusion import mean_iou
from semseg.models import create_model
from semseg.training.offsets import classifier_layer, fit_offsets, fold_offsets, offset_confusion


def _frames() -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Two classes; class 1's logit is 0.6 too low everywhere, so half its pixels go to 0."""
    mask = torch.zeros(4, 10, dtype=torch.long)
    mask[:, 5:] = 1
    mask[0, 0] = 255  # ignored
    logits = torch.zeros(2, 4, 10)
    logits[0, :, :5] = 1.0  # class 0 pixels: class 0 wins by 1.0
    logits[1, :, 5:] = torch.tensor([0.5, 0.5, 0.5, 1.5, 1.5])
    logits[1] -= 0.6  # class 1 pixels: -0.1 (three columns, lost to class 0's 0) or 0.9
    return [logits], [mask]


def test_offset_confusion_counts_the_shifted_argmax() -> None:
    logits, masks = _frames()
    cm = offset_confusion(logits, masks, torch.zeros(2))
    # rows: truth. Class 0: 19 counted pixels (one ignored), all right; class 1: 20, 8 right.
    assert cm.tolist() == [[19, 0], [12, 8]]
    cm = offset_confusion(logits, masks, torch.tensor([0.0, 0.75]))
    assert cm.tolist() == [[19, 0], [0, 20]]  # -0.1 + 0.75 > 0; class 0 keeps 1.0 > 0.15


def test_fit_offsets_recovers_the_missing_shift() -> None:
    logits, masks = _frames()
    plain = mean_iou(offset_confusion(logits, masks, torch.zeros(2)))
    offsets = fit_offsets(logits, masks, grid=(0.0, 0.25, 0.5, 0.75, 1.0, 1.25))
    assert offsets[0] == 0.0
    # class 1 needs more than 0.1 (its weak pixels sit at -0.1 vs 0) and less than 1.6 (class
    # 0's pixels sit at 1.0 vs -0.6 and must keep winning).
    assert mean_iou(offset_confusion(logits, masks, offsets)) == 1.0 > plain
    assert 0.1 < float(offsets[1]) < 1.6


def _brute_force_fit(logits, masks, grid, rounds=2) -> torch.Tensor:
    """The definition: every trial recomputes the whole argmax."""
    offsets = torch.zeros(int(logits[0].shape[0]))
    best = mean_iou(offset_confusion(logits, masks, offsets))
    for _ in range(rounds):
        for c in range(1, len(offsets)):
            for value in grid:
                trial = offsets.clone()
                trial[c] = value
                score = mean_iou(offset_confusion(logits, masks, trial))
                if score > best + 1e-9:
                    best, offsets = score, trial
    return offsets


def test_fit_offsets_equals_the_brute_force_search_with_ties() -> None:
    gen = torch.Generator().manual_seed(0)
    # quarter steps in fp16, as the logits are stored: many exact ties between classes
    logits = [(torch.randint(-6, 7, (5, 12, 17), generator=gen) / 4).half() for _ in range(3)]
    masks = [torch.randint(0, 5, (12, 17), generator=gen) for _ in range(3)]
    masks[0][0, :4] = 255
    for lg, m in zip(logits, masks, strict=True):  # make the logits informative
        lg.scatter_add_(0, m.clamp_max(4)[None], torch.full((1, 12, 17), 0.5).half())
    grid = (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0)
    fast = fit_offsets(logits, masks, grid=grid)
    assert torch.equal(fast, _brute_force_fit(logits, masks, grid))
    assert fast.abs().sum() > 0  # the search moved something


def test_fit_offsets_needs_frames() -> None:
    with pytest.raises(ValueError):
        fit_offsets([], [])


def test_fold_offsets_shifts_the_logits_exactly() -> None:
    torch.manual_seed(0)
    model = create_model("espnetv2", num_classes=5, s=0.5).eval()
    x = torch.randn(1, 3, 64, 96)
    offsets = torch.tensor([0.0, 0.5, -0.25, 1.0, 0.75])
    with torch.no_grad():
        before = model(x)
        name = fold_offsets(model, offsets)
        after = model(x)
    assert name == classifier_layer(model, 5)[0]
    torch.testing.assert_close(after, before + offsets.view(1, 5, 1, 1), atol=1e-4, rtol=0)


class _Squashed(nn.Module):
    """A classifier followed by a sigmoid: an offset before it is not a shift after it."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.head(x))


def test_fold_offsets_refuses_a_nonlinear_tail_and_leaves_the_model_alone() -> None:
    model = _Squashed()
    bias = model.head.bias.detach().clone()
    with pytest.raises(ModelError, match="head"):
        fold_offsets(model, torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert torch.equal(model.head.bias, bias)


def test_fold_offsets_needs_a_classifier_with_bias() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False))
    with pytest.raises(ModelError, match="no 4-output convolution"):
        fold_offsets(model, torch.zeros(4))

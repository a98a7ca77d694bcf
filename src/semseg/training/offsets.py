"""Per-class logit offsets (a decision prior): fit them on labelled frames, fold them into a model.

A network trained with cross-entropy under-predicts thin, rare classes (CamVid pole). Adding
``b_c`` to class ``c``'s logit before the argmax moves the decision boundary toward it; the
offsets are fitted by coordinate ascent on mIoU over a grid (class 0 stays at 0: only
differences matter). ``fold_offsets`` adds them to the bias of the model's final classifier
convolution, so the released model carries them at no inference cost; it checks that the model's
logits really move by exactly the offsets (nothing nonlinear after that layer) before keeping
the change.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from semseg.errors import ModelError
from semseg.metrics.confusion import ConfusionMatrix, mean_iou

GRID = tuple(float(v) for v in np.round(np.arange(-1.0, 2.01, 0.25), 2))


def offset_confusion(logits: Sequence[torch.Tensor], masks: Sequence[torch.Tensor],
                     offsets: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """(K, K) confusion matrix of ``argmax(logits + offsets)`` against ``masks``.

    ``logits``: per frame (K, H, W); ``masks``: per frame (H, W) class indices, ``ignore_index``
    (or any value >= K) not counted.
    """
    k = int(offsets.numel())
    cm = ConfusionMatrix(k, ignore_index=ignore_index)
    b = offsets.view(k, 1, 1)
    for lg, m in zip(logits, masks, strict=True):
        cm.update((lg.float() + b).max(0).indices, m)  # max: faster than argmax on (K, H, W)
    return cm.matrix


def _others(logits: Sequence[torch.Tensor], offsets: torch.Tensor, c: int
            ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per frame: class ``c``'s logit, and the best other class's shifted logit and index."""
    k = int(offsets.numel())
    b = offsets.view(k, 1, 1).clone()
    b[c] = -torch.inf  # class c never wins here
    out = []
    for lg in logits:
        best, arg = (lg.float() + b).max(0)
        out.append((lg[c].float(), best, arg))
    return out


def _confusion_with(others, masks, c: int, value: float, k: int, ignore_index: int
                    ) -> torch.Tensor:
    """The confusion matrix when class ``c``'s offset is ``value`` and the others are fixed:
    the argmax of (logits + offsets), computed from ``_others`` in one comparison per pixel
    (ties go to the lower class index, as ``max`` does)."""
    cm = ConfusionMatrix(k, ignore_index=ignore_index)
    for (lc, best, arg), m in zip(others, masks, strict=True):
        shifted = lc + value
        wins = (shifted > best) | ((shifted == best) & (arg > c))
        cm.update(torch.where(wins, c, arg), m)
    return cm.matrix


def fit_offsets(logits: Sequence[torch.Tensor], masks: Sequence[torch.Tensor],
                grid: Sequence[float] = GRID, rounds: int = 2,
                ignore_index: int = 255) -> torch.Tensor:
    """Offsets (K,) maximising mIoU on the frames, by ``rounds`` sweeps of coordinate ascent.

    Each trial changes one class's offset, so the best of the other classes is computed once per
    class and a trial costs one comparison per pixel (the same result as recomputing
    ``offset_confusion`` for every trial, which ``tests/training/test_offsets.py`` checks).
    """
    if not logits:
        raise ValueError("fit_offsets needs at least one frame")
    k = int(logits[0].shape[0])
    offsets = torch.zeros(k)
    best = mean_iou(offset_confusion(logits, masks, offsets, ignore_index))
    for _ in range(rounds):
        for c in range(1, k):
            others = _others(logits, offsets, c)
            for value in grid:
                score = mean_iou(_confusion_with(others, masks, c, float(value), k,
                                                 ignore_index))
                if score > best + 1e-9:
                    best = score
                    offsets = offsets.clone()
                    offsets[c] = float(value)
    return offsets


def classifier_layer(model: nn.Module, num_classes: int) -> tuple[str, nn.Conv2d]:
    """Name and module of the last ``Conv2d`` with ``num_classes`` outputs and a bias."""
    found = [(n, m) for n, m in model.named_modules()
             if isinstance(m, nn.Conv2d) and m.out_channels == num_classes and m.bias is not None]
    if not found:
        raise ModelError(f"{type(model).__name__} has no {num_classes}-output convolution with a "
                         "bias to fold class offsets into")
    return found[-1]


@torch.no_grad()
def fold_offsets(model: nn.Module, offsets: torch.Tensor, in_channels: int = 3,
                 size: tuple[int, int] = (64, 96)) -> str:
    """Add ``offsets`` to the final classifier's bias in place; returns that layer's name.

    Raises ``ModelError`` (and leaves the model unchanged) when the logits do not then move by
    exactly ``offsets`` on a random input, e.g. when a nonlinearity follows the classifier.
    """
    k = int(offsets.numel())
    name, conv = classifier_layer(model, k)
    was_training = model.training
    x = torch.randn(1, in_channels, *size, generator=torch.Generator().manual_seed(0))
    device = conv.bias.device
    original = conv.bias.detach().clone()
    try:
        model.eval()
        before = model(x.to(device)).float()
        conv.bias += offsets.to(device=device, dtype=conv.bias.dtype)
        after = model(x.to(device)).float()
        expected = before[:, :k] + offsets.to(device).view(1, k, 1, 1)
        tolerance = 1e-3 * (1.0 + float(before.abs().max()))
        if not torch.allclose(after[:, :k], expected, atol=tolerance, rtol=0):
            raise ModelError(f"cannot fold class offsets into {name!r}: the logits after it are "
                             "not a plain shift of its output")
    except BaseException:
        conv.bias.copy_(original)
        raise
    finally:
        model.train(was_training)
    return name

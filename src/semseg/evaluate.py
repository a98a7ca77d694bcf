"""Evaluation loop: predictions at full mask resolution into a streaming confusion matrix."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from semseg.boundary import BoundaryFScore
from semseg.metrics import ConfusionMatrix

LogitsFn = Callable[[nn.Module, torch.Tensor, tuple[int, int]], torch.Tensor]


def plain_logits(model: nn.Module, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Model logits resized (bilinear) to the mask size."""
    logits = model(x)  # (N, K, h, w)
    if logits.shape[-2:] != size:
        logits = nn.functional.interpolate(logits, size=size, mode="bilinear",
                                           align_corners=False)
    return logits


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    num_classes: int,
    ignore_index: int = 255,
    device: torch.device | str = "cpu",
    logits_fn: LogitsFn = plain_logits,
    boundary_tolerance: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ConfusionMatrix, BoundaryFScore | None]:
    """Run ``model`` over (image, mask) batches; returns the confusion matrix (and boundary F).

    Logits beyond ``num_classes`` (e.g. a model's extra "background/ignore" output) are never
    predicted.
    """
    model.eval()
    cm = ConfusionMatrix(num_classes, ignore_index, device=device)
    bf = None if boundary_tolerance is None else BoundaryFScore(
        num_classes, tolerance=boundary_tolerance, ignore_index=ignore_index)
    for images, masks in batches:
        images, masks = images.to(device), masks.to(device)
        logits = logits_fn(model, images, tuple(masks.shape[-2:]))  # (N, K, H, W)
        # max(1).indices == argmax(1), several times faster over NCHW channels on the CPU
        pred = logits[:, :num_classes].max(1).indices  # (N, H, W)
        cm.update(pred, masks)
        if bf is not None:
            bf.update(pred, masks)
        if progress is not None:
            progress(images.shape[0])
    return cm, bf

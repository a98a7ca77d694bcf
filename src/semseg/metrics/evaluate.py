"""The evaluation loop of training validation and ``semseg eval``: predictions at full mask
resolution into a streaming confusion matrix.

Example:
    >>> loader = DataLoader(camvid.dataset(root, "val", eval_transform), batch_size=1)
    >>> cm, bf = evaluate(model, loader, spec.info, InferenceOptions(input_size=(360, 480)))
    >>> cm.compute().miou
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from semseg.data.info import DatasetInfo
from semseg.data.label_maps import map_logits
from semseg.inference.segmenter import InferenceOptions, class_map, predict_logits
from semseg.metrics.boundary import BoundaryFScore
from semseg.metrics.confusion import ConfusionMatrix


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    info: DatasetInfo,
    options: InferenceOptions | None = None,
    *,
    device: torch.device | str = "cpu",
    label_map: DatasetInfo | None = None,
    boundary_tolerance: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[ConfusionMatrix, BoundaryFScore | None]:
    """Run ``model`` over (uint8 image (N, C, H, W), mask (N, H, W)) batches through
    ``predict_logits``; returns the confusion matrix (and the boundary F-score).

    ``info`` is the model's (its mean/std normalize the images; its classes are scored).
    ``label_map``: score in that label set instead, the model's class probabilities summed
    into it (``semseg.data.label_maps.map_logits``). Logits beyond the scored classes (e.g. a
    model's extra "background/ignore" output) are never predicted.
    """
    options = options or InferenceOptions()
    scored = label_map or info
    cm = ConfusionMatrix(scored.num_classes, scored.ignore_index, device=device)
    bf = None if boundary_tolerance is None else BoundaryFScore(
        scored.num_classes, tolerance=boundary_tolerance, ignore_index=scored.ignore_index)
    for images, masks in batches:
        images, masks = images.to(device), masks.to(device)
        logits = predict_logits(model, images, info, options)  # (N, K, H, W)
        if label_map is not None:
            logits = map_logits(logits, info.name, label_map.name)
        # max(1).indices == argmax(1), several times faster over NCHW channels on the CPU
        pred = class_map(logits[:, :scored.num_classes], tuple(masks.shape[-2:]))  # (N, H, W)
        cm.update(pred, masks)
        if bf is not None:
            bf.update(pred, masks)
        if progress is not None:
            progress(images.shape[0])
    return cm, bf

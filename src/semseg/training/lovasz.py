"""Lovasz-softmax loss (Berman, Rannen Triki & Blaschko, "The Lovasz-Softmax loss: A tractable
surrogate for the optimization of the intersection-over-union measure", CVPR 2018).

For each class c present in the labels, the errors e_i = |[y_i = c] - p_i(c)| are sorted in
decreasing order and dotted with the gradient of the Lovasz extension of the Jaccard loss (the
increments of 1 - IoU as pixels are added one by one in that order); the loss is the mean over
present classes. A perfect prediction gives 0; it equals 1 - IoU for hard 0/1 probabilities.

Example:
    >>> probs = logits.softmax(dim=1)                          # (N, C, H, W)
    >>> loss = lovasz_softmax(probs, target, ignore_index=255)  # target (N, H, W)
"""

from __future__ import annotations

import torch


def lovasz_grad(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss at foreground flags sorted by error."""
    gts = fg_sorted.sum()
    intersection = gts - fg_sorted.cumsum(0)
    union = gts + (1.0 - fg_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union  # (P,) Jaccard loss after the first i+1 errors
    jaccard[1:] = jaccard[1:] - jaccard[:-1].clone()
    return jaccard


def lovasz_softmax(probs: torch.Tensor, labels: torch.Tensor, ignore_index: int = 255
                   ) -> torch.Tensor:
    """Mean Lovasz-softmax over the classes present in ``labels``.

    ``probs`` is (N, C, ...) softmax output or (P, C); ``labels`` is (N, ...) or (P,) class ids,
    ``ignore_index`` marking pixels left out. Returns a scalar (0 when nothing is labelled).
    """
    c = probs.shape[1]
    flat = probs.movedim(1, -1).reshape(-1, c)  # (P, C)
    target = labels.reshape(-1)
    valid = target != ignore_index
    flat, target = flat[valid], target[valid]
    losses = []
    for k in torch.unique(target).tolist():
        fg = (target == k).to(flat.dtype)  # (P,)
        errors = (fg - flat[:, k]).abs()
        errors_sorted, perm = errors.sort(descending=True)
        losses.append(torch.dot(errors_sorted, lovasz_grad(fg[perm])))
    if not losses:
        return probs.sum() * 0.0
    return torch.stack(losses).mean()

"""Lovasz-softmax against hand computations."""

from __future__ import annotations

import pytest
import torch

from semseg.training.lovasz import lovasz_grad, lovasz_softmax


def probs_of(p0: list[float]) -> torch.Tensor:
    """(P, 2) probabilities with p(class 0) = p0."""
    p = torch.tensor(p0, dtype=torch.float64)
    return torch.stack([p, 1 - p], dim=1)


def test_grad_by_hand() -> None:
    # gts = 2; fg sorted [1, 0, 1]: jaccard after each step 1 - [1/2, 1/3, 0] -> increments
    g = lovasz_grad(torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64))
    assert g.tolist() == pytest.approx([0.5, 1 / 6, 1 / 3])


def test_hard_probabilities_give_one_minus_iou() -> None:
    probs = probs_of([1.0, 0.0, 0.0, 0.0])  # predicted classes [0, 1, 1, 1]
    labels = torch.tensor([0, 0, 1, 1])
    # class 0: IoU 1/2; class 1: IoU 2/3 -> mean of (1/2, 1/3)
    assert float(lovasz_softmax(probs, labels)) == pytest.approx((0.5 + 1 / 3) / 2)
    assert float(lovasz_softmax(probs_of([1.0, 1.0, 0.0, 0.0]), labels)) == 0.0


def test_soft_probabilities_by_hand() -> None:
    probs = probs_of([0.8, 0.4, 0.3])
    labels = torch.tensor([0, 1, 0])
    # class 0: errors [0.2, 0.4, 0.7] sorted 0.7, 0.4, 0.2 with fg [1, 0, 1]: grad [1/2, 1/6,
    # 1/3] -> 0.35 + 0.4/6 + 0.2/3; class 1: same errors, fg [0, 1, 0]: union [2, 2, 3],
    # jaccard [1/2, 1, 1] -> grad [1/2, 1/2, 0] -> 0.35 + 0.2
    expected = ((0.35 + 0.4 / 6 + 0.2 / 3) + 0.55) / 2
    assert float(lovasz_softmax(probs, labels)) == pytest.approx(expected)
    # ignored pixels and classes absent from the labels change nothing
    extra = torch.cat([probs, torch.tensor([[0.5, 0.5]], dtype=torch.float64)])
    three = torch.cat([extra, torch.zeros(4, 1, dtype=torch.float64)], dim=1)  # class 2 absent
    assert float(lovasz_softmax(three, torch.tensor([0, 1, 0, 255]))) == pytest.approx(expected)


def test_image_layout_and_gradient() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, requires_grad=True)
    labels = torch.randint(0, 3, (2, 4, 5))
    loss = lovasz_softmax(logits.softmax(dim=1), labels)
    flat = logits.softmax(dim=1).movedim(1, -1).reshape(-1, 3)
    expected = lovasz_softmax(flat.detach(), labels.reshape(-1))
    assert float(loss.detach()) == pytest.approx(float(expected))
    loss.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_nothing_labelled_is_zero_with_a_gradient() -> None:
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    loss = lovasz_softmax(logits.softmax(dim=1), torch.full((1, 2, 2), 255))
    loss.backward()
    assert float(loss.detach()) == 0.0 and logits.grad is not None

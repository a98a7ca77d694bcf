"""Monte-Carlo dropout: zero spread without dropout, spread with it, bounds, restored modes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from semseg.errors import ConfigError
from semseg.inference.uncertainty import mc_dropout_predict


def _net(dropout: float) -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Dropout2d(dropout), nn.Conv2d(8, 4, 1),
    )


def test_no_dropout_gives_zero_variance_and_plain_softmax() -> None:
    model = _net(0.0).eval()
    x = torch.randn(2, 3, 5, 7)
    result = mc_dropout_predict(model, x, samples=5)
    assert torch.equal(result.variance, torch.zeros(2, 5, 7))
    torch.testing.assert_close(result.mean_probs, model(x).softmax(1))


def test_dropout_gives_variance_and_entropy_within_log_c() -> None:
    model = _net(0.5)
    result = mc_dropout_predict(model, torch.randn(2, 3, 5, 7), samples=16)
    assert result.mean_probs.shape == (2, 4, 5, 7)
    assert result.variance.shape == result.entropy.shape == (2, 5, 7)
    assert (result.variance > 0).float().mean() > 0.9
    assert float(result.entropy.min()) >= 0.0
    assert float(result.entropy.max()) <= math.log(4) + 1e-6
    torch.testing.assert_close(result.mean_probs.sum(1), torch.ones(2, 5, 7))


def test_variance_is_population_variance_of_samples() -> None:
    class Alternating(nn.Module):
        """Logits that alternate between two fixed values, one per call."""

        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            big = 10.0 if self.calls % 2 else -10.0
            return torch.stack([torch.full_like(x[:, 0], big), torch.zeros_like(x[:, 0])], 1)

    result = mc_dropout_predict(Alternating(), torch.zeros(1, 1, 2, 2), samples=4)
    p = torch.tensor([10.0, 0.0]).softmax(0)[0]  # probability of class 0 on odd calls
    # Class 0 takes p and 1-p equally often: mean 0.5, variance (p - 0.5)^2, same for class 1.
    torch.testing.assert_close(result.mean_probs, torch.full((1, 2, 2, 2), 0.5))
    torch.testing.assert_close(result.variance, torch.full((1, 2, 2), float((p - 0.5) ** 2)))
    torch.testing.assert_close(result.entropy, torch.full((1, 2, 2), math.log(2)))


def test_batchnorm_stays_in_eval_and_modes_are_restored() -> None:
    model = _net(0.5).train()
    model[1].eval()  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    running_mean = model[1].running_mean.clone()
    mc_dropout_predict(model, torch.randn(2, 3, 5, 7) + 3.0, samples=3)
    assert [m.training for m in model.modules()] == before
    assert torch.equal(model[1].running_mean, running_mean)  # BN ran on running stats


def test_rejects_zero_samples() -> None:
    with pytest.raises(ConfigError, match="samples must be >= 1"):
        mc_dropout_predict(_net(0.5), torch.zeros(1, 3, 4, 4), samples=0)

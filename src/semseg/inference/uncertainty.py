"""Monte-Carlo dropout inference (Gal & Ghahramani 2016; Kendall et al., Bayesian SegNet 2015).

Example:
    >>> from semseg.models import create_model
    >>> model = create_model("bayesian_segnet", num_classes=11)
    >>> result = mc_dropout_predict(model, torch.randn(1, 3, 64, 64), samples=8)
    >>> result.mean_probs.shape, result.entropy.shape
    (torch.Size([1, 11, 64, 64]), torch.Size([1, 64, 64]))
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from semseg.errors import ConfigError

DROPOUT_TYPES = (
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout
)


@dataclass(frozen=True)
class MCResult:
    """Summary of ``samples`` stochastic forward passes."""

    mean_probs: torch.Tensor  # (N, C, H, W) mean of the softmax samples
    entropy: torch.Tensor  # (N, H, W) predictive entropy of mean_probs, in nats (<= log C)
    variance: torch.Tensor  # (N, H, W) per-class variance over samples, averaged over classes


def mc_dropout_predict(model: nn.Module, x: torch.Tensor, samples: int) -> MCResult:
    """Softmax mean, entropy and variance over ``samples`` passes with only dropout active."""
    if samples < 1:
        raise ConfigError(f"samples must be >= 1, got {samples}")
    modes = {m: m.training for m in model.modules()}
    # eval() first so BatchNorm uses its running statistics; then only dropout samples masks.
    model.eval()
    for m in model.modules():
        if isinstance(m, DROPOUT_TYPES):
            m.train()
    try:
        with torch.inference_mode():
            mean, m2 = _welford(model, x, samples)
    finally:
        for m, mode in modes.items():
            m.training = mode
    variance = (m2 / samples).mean(dim=1)  # (N, H, W) population variance, mean over classes
    entropy = -(mean * mean.clamp_min(1e-12).log()).sum(dim=1)  # (N, H, W)
    return MCResult(mean_probs=mean, entropy=entropy, variance=variance)


def _welford(model: nn.Module, x: torch.Tensor, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Running mean and sum of squared deviations of softmax outputs (Welford's update).

    Welford keeps memory at two maps whatever ``samples`` is, and gives exactly zero spread
    when every sample is identical (E[p^2] - E[p]^2 would leave rounding noise).
    """
    mean = m2 = None
    for k in range(1, samples + 1):
        probs = model(x).softmax(dim=1)  # (N, C, H, W)
        if mean is None:
            mean, m2 = probs.clone(), torch.zeros_like(probs)
            continue
        delta = probs - mean
        mean += delta / k
        m2 += delta * (probs - mean)
    return mean, m2

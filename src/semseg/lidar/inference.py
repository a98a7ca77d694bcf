"""Segment a LiDAR scan: project, run the range-image model (optionally N MC-dropout passes),
label every point with the KNN vote, and carry the uncertainty back to the points.

Uncertainty (Gal & Ghahramani 2016; Kendall & Gal 2017). With ``mc_samples`` = T > 0 dropout
stays active for T passes (BatchNorm in eval mode) and, per pixel, with p_t the softmax of pass t
and p = mean_t p_t:

- ``entropy``: predictive entropy H[p] (total uncertainty, nats, at most log C);
- ``aleatoric``: expected entropy mean_t H[p_t] (the data's own ambiguity);
- ``epistemic``: their difference, the mutual information between label and weights;
- ``variance``: variance of p_t over passes, averaged over classes (SalsaNext's epistemic map).

SalsaNext's paper estimates the aleatoric part by assumed density filtering (propagating input
noise variance through the net); here the expected-entropy split of the same MC samples is used
instead, which needs no second network. With T = 0 a single deterministic pass gives ``entropy``
only (the others are zero). Points hidden behind a closer point in the range image get the
uncertainty of the pixel they fall in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from semseg.inference.uncertainty import DROPOUT_TYPES
from semseg.lidar.knn import knn_labels
from semseg.lidar.projection import ProjectionConfig, RangeProjection, project


@dataclass(frozen=True)
class PixelUncertainty:
    """Per-pixel class probabilities and uncertainty maps of one range image."""

    probs: torch.Tensor  # (C, H, W) mean softmax
    entropy: torch.Tensor  # (H, W) predictive entropy, nats
    aleatoric: torch.Tensor  # (H, W) expected entropy over MC passes
    epistemic: torch.Tensor  # (H, W) mutual information = entropy - aleatoric
    variance: torch.Tensor  # (H, W) MC variance of the softmax, mean over classes


@dataclass(frozen=True)
class ScanPrediction:
    """Labels and uncertainty of every point of a scan, and the range images behind them."""

    labels: np.ndarray  # (N,) train ids after the KNN vote
    entropy: np.ndarray  # (N,) predictive entropy of the point's pixel
    epistemic: np.ndarray  # (N,) mutual information of the point's pixel
    aleatoric: np.ndarray  # (N,) expected entropy of the point's pixel
    variance: np.ndarray  # (N,) MC variance of the point's pixel
    pixel_labels: np.ndarray  # (H, W) argmax per pixel (valid where projection.mask)
    pixels: PixelUncertainty
    projection: RangeProjection


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -(p * p.clamp_min(1e-12).log()).sum(dim=0)


def range_image_uncertainty(model: nn.Module, image: torch.Tensor, mc_samples: int = 0
                            ) -> PixelUncertainty:
    """Mean softmax and uncertainty maps of a (C_in, H, W) image; ``mc_samples`` dropout passes."""
    modes = {m: m.training for m in model.modules()}
    model.eval()
    if mc_samples > 0:
        for m in model.modules():
            if isinstance(m, DROPOUT_TYPES):
                m.train()
    try:
        with torch.inference_mode():
            mean = m2 = exp_entropy = None
            for t in range(1, max(mc_samples, 1) + 1):
                p = model(image[None])[0].softmax(dim=0)  # (C, H, W)
                if mean is None:
                    mean, m2, exp_entropy = p.clone(), torch.zeros_like(p), _entropy(p)
                    continue
                delta = p - mean  # Welford: exact zero spread when all passes agree
                mean += delta / t
                m2 += delta * (p - mean)
                exp_entropy += (_entropy(p) - exp_entropy) / t
    finally:
        for m, mode in modes.items():
            m.training = mode
    entropy = _entropy(mean)
    if mc_samples == 0:
        zero = torch.zeros_like(entropy)
        return PixelUncertainty(mean, entropy, zero, zero, zero)
    epistemic = (entropy - exp_entropy).clamp_min(0.0)
    return PixelUncertainty(mean, entropy, exp_entropy, epistemic,
                            (m2 / max(mc_samples, 1)).mean(dim=0))


def predict_scan(model: nn.Module, points: np.ndarray, cfg: ProjectionConfig,
                 mean: tuple[float, ...], std: tuple[float, ...], mc_samples: int = 0,
                 knn: bool = True, device: str = "cpu") -> ScanPrediction:
    """Labels and uncertainty for every point of an (N, 4) scan."""
    proj = project(points, cfg, mean, std)
    image = torch.from_numpy(proj.image).to(device)
    pix = range_image_uncertainty(model, image, mc_samples)
    pixel_labels = pix.probs.argmax(dim=0).cpu().numpy()  # (H, W)
    if knn:
        labels = knn_labels(proj.range_image, pixel_labels, proj.u, proj.v, proj.point_range,
                            num_classes=pix.probs.shape[0])
    else:
        labels = pixel_labels[proj.v, proj.u]
    at = (proj.v, proj.u)
    return ScanPrediction(
        labels=labels.astype(np.int64),
        entropy=pix.entropy.cpu().numpy()[at], epistemic=pix.epistemic.cpu().numpy()[at],
        aleatoric=pix.aleatoric.cpu().numpy()[at], variance=pix.variance.cpu().numpy()[at],
        pixel_labels=pixel_labels, pixels=pix, projection=proj)

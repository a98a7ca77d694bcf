"""MC-dropout uncertainty of a range image and its split into aleatoric and epistemic parts."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from semseg.errors import ConfigError
from semseg.lidar.inference import predict_scan, range_image_uncertainty
from semseg.lidar.projection import ProjectionConfig

from .test_projection import POINTS


def test_without_dropout_all_uncertainty_is_aleatoric() -> None:
    torch.manual_seed(0)
    model = nn.Conv2d(5, 3, 1)
    x = torch.randn(5, 4, 6)
    pix = range_image_uncertainty(model, x, mc_samples=4)
    p = model(x[None])[0].softmax(0).detach()
    expected = -(p * p.log()).sum(0)
    torch.testing.assert_close(pix.entropy, expected)
    torch.testing.assert_close(pix.aleatoric, expected)
    assert (pix.epistemic == 0).all() and (pix.variance == 0).all()  # identical passes


def test_dropout_passes_disagree_and_bounds_hold() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(5, 16, 1), nn.Dropout2d(0.5), nn.Conv2d(16, 3, 1))
    x = torch.randn(5, 4, 6)
    pix = range_image_uncertainty(model, x, mc_samples=8)
    assert (pix.epistemic > 0).any() and (pix.variance > 0).any()
    assert (pix.entropy <= math.log(3) + 1e-6).all()
    torch.testing.assert_close(pix.entropy, pix.aleatoric + pix.epistemic)
    single = range_image_uncertainty(model, x, mc_samples=0)  # deterministic: dropout off
    assert (single.epistemic == 0).all() and torch.equal(
        single.probs, model.eval()(x[None])[0].softmax(0))
    assert model.training is False  # modes are restored (it was put in eval just above)


def test_every_point_gets_a_label_and_its_pixel_uncertainty() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(5, 8, 1), nn.Dropout2d(0.3), nn.Conv2d(8, 4, 1))
    cfg = ProjectionConfig(height=4, width=8)
    pred = predict_scan(model, POINTS, cfg, (0,) * 5, (1,) * 5, mc_samples=3)
    assert pred.labels.shape == (len(POINTS),) and pred.labels.max() < 4
    v, u = pred.projection.v, pred.projection.u
    np.testing.assert_allclose(pred.entropy, pred.pixels.entropy.numpy()[v, u])
    # point 0 hides behind point 2 (same pixel, 5 m closer): with no range neighbour within
    # 1 m but its own pixel, it keeps that pixel's class
    assert pred.labels[0] == pred.pixel_labels[0, 4] == pred.labels[2]
    with pytest.raises(ConfigError, match=r"\(N, 4\) array"):
        predict_scan(model, POINTS[:, :2], cfg, (0,) * 5, (1,) * 5)

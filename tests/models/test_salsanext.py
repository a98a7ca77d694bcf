"""SalsaNext: the paper's size and structure, MC dropout (the contract tests cover the rest)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from semseg.models import create_model, model_entry


def test_parameter_count_matches_the_paper() -> None:
    model = create_model("salsanext", num_classes=20, in_channels=5)
    n = sum(p.numel() for p in model.parameters())
    assert n == 6_711_572  # the reference code's count; the paper quotes 6.73M
    assert n == pytest.approx(model_entry("salsanext").paper_params, rel=0.005)


def test_structure_average_pooling_pixel_shuffle_dropout() -> None:
    model = create_model("salsanext", num_classes=20, in_channels=5)
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(nn.AvgPool2d) == 4  # four encoder downsamplings, none strided
    assert kinds.count(nn.PixelShuffle) == 4
    assert not any(isinstance(m, nn.ConvTranspose2d | nn.MaxPool2d) for m in model.modules())
    drops = [m for m in model.modules() if isinstance(m, nn.Dropout2d)]
    assert len(drops) == 4 + 3 * 3 and all(d.p == 0.2 for d in drops)  # encoder 2-5, decoder 1-3
    assert not any(isinstance(m, nn.Dropout2d) for m in model.encoder[0].modules())


def test_range_image_shape_and_mc_dropout_varies() -> None:
    torch.manual_seed(0)
    model = create_model("salsanext", num_classes=19, in_channels=5, width=8).eval()
    x = torch.randn(1, 5, 64, 200)
    with torch.inference_mode():
        out = model(x)
        assert out.shape == (1, 19, 64, 200)
        assert torch.equal(out, model(x))  # eval: deterministic
        for m in model.modules():
            if isinstance(m, nn.Dropout2d):
                m.train()
        assert not torch.equal(model(x), model(x))  # MC dropout: passes differ

"""U-Net: the paper's Fig. 1 network size, widths, up modes."""

from __future__ import annotations

import pytest
import torch

from semseg.errors import ConfigError
from semseg.models import create_model


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_configuration_has_31_0m_parameters() -> None:
    # Fig. 1 of the paper: 1 input channel, 2 classes, no BN -> 31,030,658 weights and biases.
    model = create_model("unet", num_classes=2, in_channels=1, batch_norm=False)
    assert _n_params(model) == 31_030_658


def test_base_width_scales_every_stage() -> None:
    model = create_model("unet", num_classes=2, base_width=8)
    assert [d[0].out_channels for d in model.downs] == [16, 32, 64, 128]
    assert model.classifier.in_channels == 8


def test_bilinear_up_mode_has_no_transposed_convs() -> None:
    model = create_model("unet", num_classes=2, base_width=8, up="bilinear").eval()
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in model.modules())
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 33, 47)).shape == (1, 2, 33, 47)


def test_unknown_up_mode_is_rejected() -> None:
    with pytest.raises(ConfigError, match="up must be one of"):
        create_model("unet", num_classes=2, up="nearest")

"""FCN: bilinear-initialised upsampling, zero-initialised skips, paper parameter count."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semseg.models import create_model
from semseg.models.fcn import _upsample, bilinear_kernel


def _n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_bilinear_kernel_values() -> None:
    # Factor 2 (kernel 4): the 1-D filter is (0.25, 0.75, 0.75, 0.25), only on the diagonal.
    k = bilinear_kernel(2, 4)
    row = torch.tensor([0.25, 0.75, 0.75, 0.25])
    torch.testing.assert_close(k[0, 0], row[:, None] * row[None, :])
    assert torch.equal(k[0, 1], torch.zeros(4, 4))


@pytest.mark.parametrize("factor", [2, 8])
def test_upsampling_starts_as_bilinear_interpolation(factor: int) -> None:
    x = torch.randn(1, 3, 6, 7)
    with torch.no_grad():
        up = _upsample(3, factor)(x)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert up.shape == ref.shape
    m = factor  # borders differ: the transposed conv zero-pads, interpolate clamps
    torch.testing.assert_close(up[..., m:-m, m:-m], ref[..., m:-m, m:-m])
    assert up.requires_grad is False and _upsample(3, factor).weight.requires_grad


def test_skips_start_at_zero_so_fcn8s_begins_as_upsampled_fcn32s_score() -> None:
    torch.manual_seed(0)
    model = create_model("fcn8s", num_classes=4, fc_width=64).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        feats = model.encoder.forward_features(x)
        coarse = model.score_fr(model.head(feats[4]))  # (1, 4, 2, 3)
        expected = model.upscore(model.upscore_pool4(model.upscore2(coarse)))
        torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("name", ["fcn8s", "fcn16s", "fcn32s"])
def test_parameter_count_matches_paper_134m(name: str) -> None:
    # Paper Table 1: 134M for FCN-VGG16 on PASCAL (21 classes). Without the upsampling filters
    # (fixed bilinear in the paper's final layer) ours is 134.35-134.36M; with them, up to
    # 136.2M for FCN-32s, whose 64x64 filter alone holds 21*21*64*64 = 1.8M weights.
    model = create_model(name, num_classes=21)
    n = sum(p.numel() for k, p in model.named_parameters() if not k.startswith("upscore"))
    assert abs(n - 134e6) / 134e6 < 0.003
    assert abs(_n_params(model) - 134e6) / 134e6 < 0.02


def test_fc_width_shrinks_the_head() -> None:
    small = create_model("fcn32s", num_classes=3, fc_width=256)
    head = 512 * 49 * 256 + 256 + 256 * 256 + 256
    assert _n_params(small) == 14_714_688 + head + 256 * 3 + 3 + 3 * 3 * 64 * 64

"""ESPNetv2: the public EdgeNets checkpoints load strictly; structure facts from the paper/zoo."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from semseg.errors import ConfigError
from semseg.models import create_model
from semseg.models.espnetv2 import EESP, EfficientPyrPool, adaptive_pool
from semseg.models.layers import pool_matrix

WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "espnetv2"
CHECKPOINTS = [("espnetv2_s_2.0_pascal_384x384.pth", 21), ("espnetv2_s_2.0_city_1024x512.pth", 20)]


def _state_dict(file_name: str) -> dict[str, torch.Tensor]:
    path = WEIGHTS / file_name
    if not path.is_file():
        pytest.skip(f"{path} not found: the weights mirror ../shared/weights is absent")
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.parametrize(("file_name", "outputs"), CHECKPOINTS)
def test_published_checkpoint_loads_strictly(file_name: str, outputs: int) -> None:
    state = _state_dict(file_name)
    model = create_model("espnetv2", num_classes=outputs, s=2.0)
    assert len(state) == 526
    model.load_state_dict(state, strict=True)  # raises on any missing/unexpected key or shape
    assert model.bu_dec_l4.merge_layer[3].weight.shape == (outputs, 10, 1, 1)


def test_parameter_count_matches_the_model_zoo() -> None:
    model = create_model("espnetv2", num_classes=21, s=2.0)
    trainable = sum(p.numel() for p in model.parameters())
    unused = sum(b.numel() for n, b in model.named_buffers() if n.endswith("module_act.weight"))
    # EdgeNets reports 0.79M; 480 of its parameters are PReLU slopes it never applies.
    assert trainable == 788_773
    assert trainable + unused == 789_253


def test_eesp_branch_dilations_follow_the_receptive_field_limit() -> None:
    # Effective kernels 3, 5, 7, 9 capped at r_lim (else 3), sorted: dilations (k - 1) / 2.
    assert [b.conv.dilation[0] for b in EESP(64, 64, r_lim=7).spp_dw] == [1, 1, 2, 3]
    assert [b.conv.dilation[0] for b in EESP(64, 64, r_lim=13).spp_dw] == [1, 2, 3, 4]


@pytest.mark.parametrize("size", [(64, 64), (50, 77)])
def test_encoder_strides_for_any_size(size: tuple[int, int]) -> None:
    model = create_model("espnetv2", num_classes=4, s=0.5).eval()
    with torch.inference_mode():
        feats = model.base_net(torch.randn(1, 3, *size))
        out = model(torch.randn(1, 3, *size))
    h, w = size
    expected = [(-(-h // 2**k), -(-w // 2**k)) for k in range(1, 5)]  # ceil(H / 2^k)
    assert [tuple(f.shape[-2:]) for f in feats] == expected
    assert [f.shape[1] for f in feats] == [16, 32, 64, 128]
    assert out.shape == (1, 4, h, w)


def test_decoder_matches_reference_x2_upsampling_at_multiples_of_16() -> None:
    torch.manual_seed(0)
    model = create_model("espnetv2", num_classes=3, s=0.5).eval()
    y, skip = torch.randn(1, 2, 4, 6), torch.randn(1, 2, 8, 12)
    ours = model._up(y, skip)
    reference = F.interpolate(y, scale_factor=2, mode="bilinear", align_corners=True)
    assert torch.equal(ours, reference)


def test_onnx_pooling_form_equals_adaptive_pooling() -> None:
    x = torch.randn(2, 3, 13, 18)
    expected = F.adaptive_avg_pool2d(x, (5, 7))
    got = pool_matrix(13, 5, x) @ x @ pool_matrix(18, 7, x).t()  # (5, 13) @ x @ (18, 7)
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.equal(adaptive_pool(x, (5, 7)), expected)  # eager keeps the native op


def test_pyramid_pool_keeps_size_and_projects() -> None:
    pool = EfficientPyrPool(in_ch=8, proj_ch=4, out_ch=6).eval()
    with torch.inference_mode():
        out = pool(torch.randn(1, 8, 7, 9))
    assert out.shape == (1, 6, 7, 9)


def test_unknown_scale_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"s=3.0 not supported"):
        create_model("espnetv2", num_classes=21, s=3.0)

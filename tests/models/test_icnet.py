"""ICNet: branch resolutions, cascade label guidance, CFF unit, export at odd sizes."""

from __future__ import annotations

import pytest
import torch

from semseg.export.onnx import export_onnx, onnx_parity
from semseg.models import create_model
from semseg.models.icnet import CascadeFeatureFusion, ICNet


@pytest.fixture(scope="module")
def light() -> ICNet:
    torch.manual_seed(0)
    return create_model("icnet", num_classes=3, backbone="resnet18")


def test_branch_resolutions_on_padded_input(light) -> None:
    # 64x96 is a multiple of 32: low 1/32, medium 1/16, high 1/8; main 1/4, aux 1/16 and 1/8.
    shapes = {}
    hooks = [
        getattr(light, name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name in ("low", "medium", "high")
    ]
    light.eval()
    with torch.no_grad():
        main, aux = light._branches(torch.randn(1, 3, 64, 96), with_aux=True)
    for h in hooks:
        h.remove()
    assert shapes == {"low": (512, 2, 3), "medium": (128, 4, 6), "high": (64, 8, 12)}
    assert main.shape[-2:] == (16, 24)
    assert aux["sub4"].shape[-2:] == (4, 6)
    assert aux["sub24"].shape[-2:] == (8, 12)


def test_label_guidance_only_via_forward_with_aux(light) -> None:
    assert light.aux_weights == {"sub4": 0.4, "sub24": 0.4}
    light.train()
    out = light(torch.randn(2, 3, 45, 70))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 3, 45, 70)
    main, aux = light.forward_with_aux(torch.randn(2, 3, 45, 70))
    assert main.shape == (2, 3, 45, 70)
    assert set(aux) == set(light.aux_weights)
    assert all(a.shape == (2, 3, 45, 70) for a in aux.values())
    light.eval()
    x = torch.randn(1, 3, 50, 50)
    with torch.no_grad():
        torch.testing.assert_close(light.forward_with_aux(x)[0], light(x))


def test_cascade_feature_fusion_sums_both_branches() -> None:
    cff = CascadeFeatureFusion(low_ch=4, high_ch=2, out_ch=3, num_classes=5).eval()
    low, high = torch.randn(1, 4, 3, 5), torch.randn(1, 2, 6, 10)
    with torch.no_grad():
        fused, low_up = cff(low, high)
        assert fused.shape == (1, 3, 6, 10) and low_up.shape == (1, 4, 6, 10)
        expected = torch.relu(cff.low_conv(low_up) + cff.high_proj(high))
        torch.testing.assert_close(fused, expected)
        # Silencing the low branch leaves ReLU(1x1 projection of the high branch).
        torch.nn.init.zeros_(cff.low_conv[0].weight)
        cff.low_conv[1].bias.zero_()
        cff.low_conv[1].running_mean.zero_()
        torch.testing.assert_close(cff(low, high)[0], torch.relu(cff.high_proj(high)))


def test_onnx_export_at_odd_size(light, tmp_path) -> None:
    # 97x131 -> padded 128x160 -> 4x5 at 1/32: pyramid bins 3 and 6 do not divide it.
    path = export_onnx(light, tmp_path / "icnet.onnx", input_size=(97, 131))
    assert onnx_parity(light, path, torch.randn(2, 3, 97, 131)) < 1e-4


def test_parameter_counts() -> None:
    for backbone in ("resnet50", "resnet18"):
        model = create_model("icnet", num_classes=19, backbone=backbone)
        total = sum(p.numel() for p in model.parameters())
        print(f"icnet[{backbone}] params: {total / 1e6:.2f}M")
        # No count in the paper; the full-width ResNet-50 trunk (23.5M) dominates.
        if backbone == "resnet50":
            assert 24.0e6 < total < 25.5e6

"""PSPNet: export-friendly pyramid pooling, auxiliary head contract, output stride."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from semseg.errors import ConfigError
from semseg.export.onnx import export_onnx, onnx_parity
from semseg.models import create_model
from semseg.models.layers import PyramidPoolingModule, adaptive_avg_pool2d_static
from semseg.models.pspnet import PSPNet


def test_static_pool_hand_built_overlapping_bins() -> None:
    # 1x5 row pooled to 2 bins: torch's bins are [0, 3) and [2, 5), overlapping at index 2.
    x = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 1, 2, 5)
    out = adaptive_avg_pool2d_static(x, 2)
    assert out.shape == (1, 1, 2, 2)
    assert torch.equal(out[0, 0, 0], torch.tensor([1.0, 3.0]))


@pytest.mark.parametrize("size", [(13, 17), (7, 5), (2, 3), (45, 60), (1, 1), (11, 11)])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_static_pool_equals_adaptive_avg_pool_on_odd_sizes(size, bins) -> None:
    x = torch.randn(2, 3, *size)
    expected = F.adaptive_avg_pool2d(x, bins)
    got = adaptive_avg_pool2d_static(x, bins)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_pyramid_pooling_module_shape_and_batch_of_one_in_training() -> None:
    ppm = PyramidPoolingModule(16, (1, 2, 3, 6)).train()
    out = ppm(torch.randn(1, 16, 13, 17))  # batch 1: the 1x1 branch must not use BatchNorm
    assert out.shape == (1, 16 + 4 * 4, 13, 17)
    assert ppm.out_channels == 32


@pytest.fixture(scope="module")
def light() -> PSPNet:
    torch.manual_seed(0)
    return create_model("pspnet_resnet18", num_classes=3)


def test_forward_returns_only_main_logits(light) -> None:
    light.train()
    out = light(torch.randn(2, 3, 33, 47))
    assert isinstance(out, torch.Tensor)
    assert out.shape == (2, 3, 33, 47)


def test_aux_only_via_forward_with_aux(light) -> None:
    assert light.aux_weights == {"aux": 0.4}
    light.train()
    main, aux = light.forward_with_aux(torch.randn(2, 3, 33, 47))
    assert main.shape == (2, 3, 33, 47)
    assert set(aux) == set(light.aux_weights)
    assert aux["aux"].shape == (2, 3, 33, 47)
    light.eval()
    x = torch.randn(1, 3, 40, 56)
    with torch.no_grad():
        torch.testing.assert_close(light.forward_with_aux(x)[0], light(x))


def test_dilated_trunk_is_output_stride_8(light) -> None:
    feats = light.encoder.forward_features(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape[-2:]) for f in feats[2:]] == [(8, 12)] * 3


def test_onnx_export_at_size_not_divisible_by_bins(light, tmp_path) -> None:
    # 97x131 -> padded 104x136 -> 13x17 features: neither divisible by 2, 3 nor 6.
    path = export_onnx(light, tmp_path / "pspnet.onnx", input_size=(97, 131))
    assert onnx_parity(light, path, torch.randn(2, 3, 97, 131)) < 1e-4


def test_unknown_backbone_raises() -> None:
    with pytest.raises(ConfigError, match="resnet50"):
        create_model("pspnet", num_classes=3, backbone="vgg16")


def test_parameter_count_resnet50() -> None:
    model = create_model("pspnet", num_classes=21)
    total = sum(p.numel() for p in model.parameters())
    aux = sum(p.numel() for p in model.aux_head.parameters())
    print(f"pspnet params: {total / 1e6:.2f}M ({(total - aux) / 1e6:.2f}M without aux head)")
    # The paper reports no count; 46.7M is the figure usually quoted for PSPNet-50 inference.
    assert abs((total - aux) - 46.7e6) < 0.01 * 46.7e6

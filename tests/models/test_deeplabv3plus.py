"""DeepLabv3+: Xception-65 / MobileNetV2 output strides, ASPP rates, decoder low-level taps."""

from __future__ import annotations

import pytest
import torch

from semseg.errors import ModelError
from semseg.models import create_model
from semseg.models.backbones.mobilenetv2 import mobilenet_v2
from semseg.models.backbones.xception import xception65
from semseg.models.layers import ASPP

# Feature sizes of a 64x64 input: [stem 1/2, low-level 1/4, 1/8, 1/16 level, deepest].
EXPECTED_SIZES = {
    32: [32, 16, 8, 4, 2],
    16: [32, 16, 8, 4, 4],
    8: [32, 16, 8, 8, 8],
}


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_xception65_output_stride(output_stride) -> None:
    enc = xception65(output_stride=output_stride).eval()
    with torch.no_grad():
        feats = enc.forward_features(torch.zeros(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == EXPECTED_SIZES[output_stride]
    assert [f.shape[1] for f in feats] == enc.out_channels == [64, 256, 256, 728, 2048]


@pytest.mark.parametrize("output_stride", [8, 16, 32])
def test_mobilenetv2_output_stride(output_stride) -> None:
    enc = mobilenet_v2(output_stride=output_stride).eval()
    with torch.no_grad():
        feats = enc.forward_features(torch.zeros(1, 3, 64, 64))
    assert [f.shape[-1] for f in feats] == EXPECTED_SIZES[output_stride]
    assert [f.shape[1] for f in feats] == enc.out_channels == [16, 24, 32, 96, 320]


def _depthwise_dilations(module) -> list[int]:
    return [
        m.dilation[0]
        for m in module.modules()
        if isinstance(m, torch.nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels
    ]


def test_xception_trades_strides_for_dilation_like_the_reference() -> None:
    os16, os8 = xception65(output_stride=16), xception65(output_stride=8)
    # OS 16: exit block1 loses its stride at rate 1, exit block2 runs at rate 2.
    assert _depthwise_dilations(os16.middle) == [1] * 48
    assert _depthwise_dilations(os16.exit) == [1, 1, 1, 2, 2, 2]
    assert os16.exit[0].convs[2].depthwise[0].stride == (1, 1)
    # OS 8: entry block3 loses its stride, middle flow at rate 2, exit block2 at rate 4.
    assert _depthwise_dilations(os8.middle) == [2] * 48
    assert _depthwise_dilations(os8.exit) == [2, 2, 2, 4, 4, 4]


@pytest.mark.parametrize(("output_stride", "rates"),
                         [(32, [3, 6, 9]), (16, [6, 12, 18]), (8, [12, 24, 36])])
def test_aspp_rates_scale_with_output_stride(output_stride, rates) -> None:
    model = create_model("deeplabv3plus_mobilenetv2", 3, output_stride=output_stride)
    assert _depthwise_dilations(model.aspp) == rates
    assert model.encoder.output_stride == output_stride


def test_output_stride_4_is_rejected() -> None:
    with pytest.raises(ModelError, match="output_stride must be one of 8, 16, 32, got 4"):
        create_model("deeplabv3plus", 3, output_stride=4)


def test_aspp_image_pooling_is_a_broadcast_global_mean() -> None:
    torch.manual_seed(0)
    aspp = ASPP(4, 3, rates=(1,), dropout=0.0).train()
    assert aspp(torch.randn(1, 4, 5, 7)).shape == (1, 3, 5, 7)  # batch 1 trains: no BN on 1x1
    aspp.eval()
    for branch in aspp.branches:  # silence every branch but image pooling
        for conv in (m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)):
            torch.nn.init.zeros_(conv.weight)
    x = torch.randn(1, 4, 5, 7)
    with torch.no_grad():
        out = aspp(x)
        # Only the pooled branch is left: the output is constant over H, W ...
        torch.testing.assert_close(out, out[..., :1, :1].expand_as(out))
        # ... and depends on x only through its per-channel mean.
        shuffled = x.flatten(2)[..., torch.randperm(35)].view_as(x)
        torch.testing.assert_close(aspp(shuffled), out)
        assert not torch.allclose(aspp(x + 1.0), out)


def test_decoder_uses_48_channel_quarter_resolution_features() -> None:
    model = create_model("deeplabv3plus_mobilenetv2", 3).eval()
    seen = {}
    hook = model.low_proj.register_forward_hook(
        lambda _m, inp, out: seen.update(inp=tuple(inp[0].shape[1:]), out=tuple(out.shape[1:]))
    )
    with torch.no_grad():
        assert model(torch.randn(1, 3, 50, 70)).shape == (1, 3, 50, 70)
    hook.remove()
    assert seen == {"inp": (24, 16, 20), "out": (48, 16, 20)}  # padded 64x80 / 4


def test_xception65_model_forward_and_parameter_count() -> None:
    model = create_model("deeplabv3plus", 21, in_channels=1).eval()
    total = sum(p.numel() for p in model.parameters())
    print(f"deeplabv3plus[xception65] params: {total / 1e6:.2f}M (commonly quoted: ~41M)")
    assert abs(total - 41e6) < 0.02 * 41e6
    with torch.no_grad():
        assert model(torch.randn(1, 1, 64, 64)).shape == (1, 21, 64, 64)

"""ResNet / VGG encoders: feature shapes per output stride, channels, parameter counts."""

from __future__ import annotations

import pytest
import torch

from semseg.errors import ModelError
from semseg.models.backbones import resnet18, resnet34, resnet50, resnet101, vgg16


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("builder", "expected"),
    [
        # torchvision's counts minus the fc layer (512*1000+1000 and 2048*1000+1000).
        (resnet18, 11_689_512 - 513_000),
        (resnet34, 21_797_672 - 513_000),
        (resnet50, 25_557_032 - 2_049_000),
        (resnet101, 44_549_160 - 2_049_000),
    ],
)
def test_resnet_parameter_counts_match_torchvision(builder, expected: int) -> None:
    assert _n_params(builder()) == expected


@pytest.mark.parametrize(
    ("output_stride", "strides"),
    [(32, [2, 4, 8, 16, 32]), (16, [2, 4, 8, 16, 16]), (8, [2, 4, 8, 8, 8])],
)
@pytest.mark.parametrize("builder", [resnet18, resnet50])
def test_resnet_feature_strides(builder, output_stride: int, strides: list[int]) -> None:
    enc = builder(output_stride=output_stride).eval()
    with torch.inference_mode():
        feats = enc.forward_features(torch.randn(1, 3, 64, 96))
    assert [f.shape[-2:] for f in feats] == [(64 // s, 96 // s) for s in strides]
    assert [f.shape[1] for f in feats] == enc.out_channels


def test_resnet_channels_by_depth_and_stem() -> None:
    assert resnet34().out_channels == [64, 64, 128, 256, 512]
    assert resnet101().out_channels == [64, 256, 512, 1024, 2048]
    assert resnet50(deep_stem=True).out_channels == [128, 256, 512, 1024, 2048]


def test_resnet_deep_stem_is_three_3x3_convs_and_in_channels() -> None:
    enc = resnet18(in_channels=4, deep_stem=True)
    convs = [m for m in enc.stem if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (4, 64, (3, 3), (2, 2)),
        (64, 64, (3, 3), (1, 1)),
        (64, 128, (3, 3), (1, 1)),
    ]
    feats = enc.eval().forward_features(torch.randn(2, 4, 32, 32))
    assert feats[0].shape == (2, 128, 16, 16)
    assert feats[1].shape == (2, 64, 8, 8)  # layer1 consumes the 128-channel deep stem


def test_resnet_dilation_replaces_stride() -> None:
    enc = resnet50(output_stride=8)
    # First block of a newly dilated stage keeps the previous dilation (as torchvision/DeepLab).
    assert enc.layer3[0].conv2.dilation == (1, 1) and enc.layer3[0].conv2.stride == (1, 1)
    assert enc.layer3[1].conv2.dilation == (2, 2)
    assert enc.layer4[0].conv2.dilation == (2, 2)
    assert enc.layer4[2].conv2.dilation == (4, 4)
    # Dilation changes no parameter shapes: counts equal the OS-32 trunk.
    assert _n_params(enc) == _n_params(resnet50())


def test_resnet_rejects_unknown_output_stride() -> None:
    with pytest.raises(ModelError, match="output_stride must be one of 8, 16, 32"):
        resnet18(output_stride=4)


def test_vgg16_parameter_counts_match_torchvision_features() -> None:
    # torchvision vgg16().features has 14,714,688 parameters; BN adds 2 per channel (4224 ch).
    assert _n_params(vgg16()) == 14_714_688
    assert _n_params(vgg16(batch_norm=True)) == 14_714_688 + 2 * 4224


def test_vgg16_features_halve_resolution_per_stage() -> None:
    enc = vgg16(in_channels=1).eval()
    with torch.inference_mode():
        feats = enc.forward_features(torch.randn(1, 1, 64, 96))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (64, 32, 48), (128, 16, 24), (256, 8, 12), (512, 4, 6), (512, 2, 3)
    ]
    assert enc.out_channels == [64, 128, 256, 512, 512]

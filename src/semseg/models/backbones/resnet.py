"""ResNet encoders (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

Plain-torch ResNet-18/34/50/101 without the classification head, returning the feature pyramid
that segmentation decoders consume. ``output_stride`` 16 or 8 replaces the stride of layer4 (and
layer3) with dilation, as in the dilated ResNets of DeepLab (Chen et al. 2017) and PSPNet
(Zhao et al. 2017); ``deep_stem`` swaps the 7x7 stem conv for PSPNet's three 3x3 convs.

Example:
    >>> enc = resnet50(output_stride=8)
    >>> feats = enc.forward_features(torch.zeros(1, 3, 64, 64))
    >>> [f.shape[-1] for f in feats], enc.out_channels
    ([32, 16, 8, 8, 8], [64, 256, 512, 1024, 2048])
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.layers import check_output_stride, init_conv_bn


def _conv_bn(in_ch: int, out_ch: int, kernel_size: int, stride: int = 1, dilation: int = 1):
    """Conv (no bias) + BatchNorm, padded so that stride 1 keeps the size."""
    pad = dilation * (kernel_size - 1) // 2
    conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride, pad, dilation=dilation, bias=False)
    return conv, nn.BatchNorm2d(out_ch)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1 projection) shortcut; ResNet-18/34."""

    expansion = 1

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, dilation: int = 1, first_dilation: int = 1
    ) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1, self.bn1 = _conv_bn(in_ch, width, 3, stride, first_dilation)
        self.conv2, self.bn2 = _conv_bn(width, out_ch, 3, 1, dilation)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 -> 1x1 expand x4; ResNet-50/101.

    The stride sits on the 3x3 conv (ResNet v1.5, as torchvision). ``dilation`` is accepted for a
    common block signature; the single 3x3 conv uses ``first_dilation``, which ``ResNet`` sets to
    the stage dilation for every block but the first of a newly dilated stage.
    """

    expansion = 4

    def __init__(
        self, in_ch: int, width: int, stride: int = 1, dilation: int = 1, first_dilation: int = 1
    ) -> None:
        super().__init__()
        out_ch = width * self.expansion
        self.conv1, self.bn1 = _conv_bn(in_ch, width, 1)
        # Only the 3x3 conv of a block changes receptive field, so only it takes the dilation;
        # in the first block of a dilated stage it keeps the previous stage's dilation.
        self.conv2, self.bn2 = _conv_bn(width, width, 3, stride, first_dilation)
        self.conv3, self.bn3 = _conv_bn(width, out_ch, 1)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _projection(in_ch, out_ch, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def _projection(in_ch: int, out_ch: int, stride: int) -> nn.Sequential | None:
    """1x1 conv + BN shortcut when the block changes shape, else None (identity)."""
    if stride == 1 and in_ch == out_ch:
        return None
    return nn.Sequential(*_conv_bn(in_ch, out_ch, 1, stride))


class ResNet(nn.Module):
    """ResNet trunk (stem + layer1..layer4) exposing a 5-level feature list."""

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        in_channels: int = 3,
        output_stride: int = 32,
        deep_stem: bool = False,
    ) -> None:
        super().__init__()
        check_output_stride(output_stride, "ResNet")
        stem_ch = 128 if deep_stem else 64
        self.stem = _deep_stem(in_channels) if deep_stem else _plain_stem(in_channels)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # layer3 is dilated only at OS 8, layer4 at OS 8 and 16 (stride -> dilation trade).
        dilate3, dilate4 = output_stride == 8, output_stride in (8, 16)
        self._in_ch, self._dilation = stem_ch, 1
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=dilate3)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=dilate4)
        e = block.expansion
        self.out_channels: list[int] = [stem_ch, 64 * e, 128 * e, 256 * e, 512 * e]
        self.output_stride = output_stride
        _init_weights(self)

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], width: int, blocks: int, stride: int,
        dilate: bool = False,
    ) -> nn.Sequential:
        previous = self._dilation
        if dilate:
            self._dilation *= stride
            stride = 1
        first = block(self._in_ch, width, stride, self._dilation, first_dilation=previous)
        self._in_ch = width * block.expansion
        d = self._dilation
        rest = [block(self._in_ch, width, 1, d, first_dilation=d) for _ in range(1, blocks)]
        return nn.Sequential(first, *rest)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[stem (1/2), layer1 (1/4), layer2 (1/8), layer3, layer4] feature maps."""
        c0 = self.stem(x)  # (N, 64|128, H/2, W/2)
        c1 = self.layer1(self.maxpool(c0))  # (N, 64e, H/4, W/4)
        c2 = self.layer2(c1)  # (N, 128e, H/8, W/8)
        c3 = self.layer3(c2)  # (N, 256e, H/16 or H/8, ...)
        c4 = self.layer4(c3)  # (N, 512e, H/output_stride, W/output_stride)
        return [c0, c1, c2, c3, c4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest feature map (layer4 output)."""
        return self.forward_features(x)[-1]


def _plain_stem(in_channels: int) -> nn.Sequential:
    """7x7 stride-2 conv + BN + ReLU (the original ResNet stem, before its max-pool)."""
    return nn.Sequential(*_conv_bn(in_channels, 64, 7, 2), nn.ReLU(inplace=True))


def _deep_stem(in_channels: int) -> nn.Sequential:
    """Three 3x3 convs (64, 64, 128), the first with stride 2, as in PSPNet's ResNet."""
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate([(in_channels, 64), (64, 64), (64, 128)]):
        layers += [*_conv_bn(cin, cout, 3, 2 if i == 0 else 1), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _init_weights(model: nn.Module) -> None:
    """Kaiming-normal convs; BN gamma 1, except 0 on each residual branch's last BN."""
    init_conv_bn(model)
    # Zero-init of the last BN makes each block start as identity (Goyal et al. 2017),
    # which trains these deep trunks from scratch more stably.
    for m in model.modules():
        if isinstance(m, Bottleneck):
            nn.init.zeros_(m.bn3.weight)
        elif isinstance(m, BasicBlock):
            nn.init.zeros_(m.bn2.weight)


def resnet18(in_channels: int = 3, output_stride: int = 32, deep_stem: bool = False) -> ResNet:
    """ResNet-18 trunk: BasicBlock x (2, 2, 2, 2)."""
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, output_stride, deep_stem)


def resnet34(in_channels: int = 3, output_stride: int = 32, deep_stem: bool = False) -> ResNet:
    """ResNet-34 trunk: BasicBlock x (3, 4, 6, 3)."""
    return ResNet(BasicBlock, (3, 4, 6, 3), in_channels, output_stride, deep_stem)


def resnet50(in_channels: int = 3, output_stride: int = 32, deep_stem: bool = False) -> ResNet:
    """ResNet-50 trunk: Bottleneck x (3, 4, 6, 3)."""
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels, output_stride, deep_stem)


def resnet101(in_channels: int = 3, output_stride: int = 32, deep_stem: bool = False) -> ResNet:
    """ResNet-101 trunk: Bottleneck x (3, 4, 23, 3)."""
    return ResNet(Bottleneck, (3, 4, 23, 3), in_channels, output_stride, deep_stem)

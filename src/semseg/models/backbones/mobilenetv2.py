"""MobileNetV2 encoder (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
CVPR 2018), as used by DeepLabv3+ for its mobile models.

Inverted residual blocks (1x1 expand x t -> 3x3 depthwise -> linear 1x1 project, identity
shortcut when shape is kept), following the paper's Table 2: stem conv 32 /2, then
(t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1).
The final 1x1 conv to 1280 channels (classification only) is dropped, as in DeepLab.
``output_stride`` 16 or 8 replaces the last strides with dilation of the depthwise convs; the
block that loses its stride keeps the previous rate, later blocks use the multiplied rate.

Example:
    >>> enc = mobilenet_v2(output_stride=16)
    >>> [f.shape[-1] for f in enc.forward_features(torch.zeros(1, 3, 64, 64))]
    [32, 16, 8, 4, 4]
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.layers import ConvBNAct, check_output_stride, init_conv_bn

# (expansion t, channels c, repeats n, stride s) from the paper's Table 2.
SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
# Index (into SETTINGS) of the stage whose output closes each pyramid level 1/2 .. 1/32.
LEVEL_ENDS = (0, 1, 2, 4, 6)


def _make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of ``divisor`` without dropping below 90% (paper's code)."""
    out = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * value else out


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise (stride, dilation) -> linear 1x1 project, + x if same shape."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int, dilation: int = 1):
        super().__init__()
        hidden = in_ch * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(in_ch, hidden, 1, act=nn.ReLU6))
        layers += [
            ConvBNAct(hidden, hidden, 3, stride, dilation, groups=hidden, act=nn.ReLU6),
            ConvBNAct(hidden, out_ch, 1, act=None),  # linear bottleneck: no activation
        ]
        self.conv = nn.Sequential(*layers)
        self.use_shortcut = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        return x + out if self.use_shortcut else out


class MobileNetV2(nn.Module):
    """MobileNetV2 trunk exposing a 5-level feature list like ``ResNet.forward_features``."""

    def __init__(
        self, in_channels: int = 3, width_mult: float = 1.0, output_stride: int = 32,
        divisor: int = 8,
    ) -> None:
        super().__init__()
        check_output_stride(output_stride, "MobileNetV2")
        in_ch = _make_divisible(32 * width_mult, divisor)
        self.stem = ConvBNAct(in_channels, in_ch, 3, 2, act=nn.ReLU6)
        current, rate = 2, 1
        stages: list[nn.Sequential] = []
        for t, c, n, s in SETTINGS:
            out_ch = _make_divisible(c * width_mult, divisor)
            first_rate, stride = rate, s
            if current * s > output_stride:  # trade this stage's stride for dilation
                rate, stride = rate * s, 1
            else:
                current *= s
            blocks = [InvertedResidual(in_ch, out_ch, stride, t, first_rate)]
            blocks += [InvertedResidual(out_ch, out_ch, 1, t, rate) for _ in range(1, n)]
            stages.append(nn.Sequential(*blocks))
            in_ch = out_ch
        self.stages = nn.ModuleList(stages)
        self.out_channels: list[int] = [
            _make_divisible(SETTINGS[i][1] * width_mult, divisor) for i in LEVEL_ENDS
        ]
        self.output_stride = output_stride
        init_conv_bn(self)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[1/2 (16), 1/4 (24), 1/8 (32), 1/16 (96), 1/OS (320)] feature maps (width 1.0)."""
        x = self.stem(x)  # (N, 32, H/2, W/2)
        feats = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in LEVEL_ENDS:
                feats.append(x)  # (N, out_channels[level], H/2**(level+1), ...)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest feature map (320 channels at width 1.0)."""
        return self.forward_features(x)[-1]


def mobilenet_v2(
    in_channels: int = 3, width_mult: float = 1.0, output_stride: int = 32, divisor: int = 8
) -> MobileNetV2:
    """MobileNetV2 trunk without its 1280-channel classification conv.

    ``divisor`` rounds the widths (8 in the paper's code; TF DeepLab's width-0.5 model uses 1).
    """
    return MobileNetV2(in_channels, width_mult, output_stride, divisor)

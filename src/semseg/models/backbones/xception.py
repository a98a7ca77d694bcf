"""Aligned Xception-65 encoder of DeepLabv3+ (Chen et al., "Encoder-Decoder with Atrous Separable
Convolution for Semantic Image Segmentation", ECCV 2018, Sec. 3.2).

Xception (Chollet, CVPR 2017) modified as in the paper and the DeepLab reference code
(tensorflow/models research/deeplab/core/xception.py): a deeper middle flow (16 modules instead
of 8), every max-pool replaced by a strided depthwise separable conv (so atrous rates can replace
strides), and BatchNorm after every depthwise and pointwise conv.

Module layout (three separable convs each; ``stride`` on the third):
    entry  conv3x3 32 /2, conv3x3 64; [128]x3 /2, [256]x3 /2, [728]x3 /2   (1x1-conv shortcut)
    middle 16 x [728]x3                                                   (identity shortcut)
    exit   [728, 1024, 1024] /2 (1x1-conv shortcut); [1536, 1536, 2048] (no shortcut, ReLU inside)

Modules with a shortcut apply ReLU *before* each separable conv (pre-activation, as the
reference code); the last exit module applies BN-ReLU after the depthwise and pointwise convs.
``output_stride`` 16 or 8 turns the strides of the last strided modules into dilation, exactly as
the reference ``stack_blocks_dense``: the module that would overshoot runs with stride 1 at the
current rate, and every later module gets the rate multiplied by that stride.

Example:
    >>> enc = xception65(output_stride=16)
    >>> [f.shape[-1] for f in enc.forward_features(torch.zeros(1, 3, 64, 64))]
    [32, 16, 8, 4, 4]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.models.layers import ConvBNAct, check_output_stride, init_conv_bn


class SeparableConv(nn.Module):
    """Depthwise 3x3 (stride, dilation) -> BN [-> ReLU] -> pointwise 1x1 -> BN [-> ReLU]."""

    def __init__(
        self, in_ch: int, out_ch: int, stride: int = 1, dilation: int = 1, act: bool = False
    ) -> None:
        super().__init__()
        relu = nn.ReLU if act else None
        self.depthwise = ConvBNAct(in_ch, in_ch, 3, stride, dilation, groups=in_ch, act=relu)
        self.pointwise = ConvBNAct(in_ch, out_ch, 1, act=relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionModule(nn.Module):
    """Three separable convs plus a shortcut ("conv": 1x1 conv + BN, "sum": identity, "none")."""

    def __init__(
        self,
        in_ch: int,
        depths: tuple[int, int, int],
        stride: int = 1,
        dilation: int = 1,
        shortcut: str = "sum",
        act_inside: bool = False,
    ) -> None:
        super().__init__()
        chans = (in_ch, *depths)
        self.act_inside = act_inside
        self.convs = nn.ModuleList(
            SeparableConv(chans[i], chans[i + 1], stride if i == 2 else 1, dilation, act_inside)
            for i in range(3)
        )
        self.shortcut_kind = shortcut
        self.shortcut = (
            ConvBNAct(in_ch, depths[-1], 1, stride, act=None) if shortcut == "conv" else None
        )

    def forward_with_hidden(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Module output and the second separable conv's output (DeepLabv3+'s low-level tap)."""
        out, hidden = x, x
        for i, conv in enumerate(self.convs):
            # Not in-place: x is still needed by the shortcut.
            out = conv(out if self.act_inside else F.relu(out))
            if i == 1:
                hidden = out
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        elif self.shortcut_kind == "sum":
            out = out + x
        return out, hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_hidden(x)[0]


# (depths, stride, shortcut, act_inside, repeats) of Xception-65, as in the reference code.
XCEPTION65 = (
    ((128, 128, 128), 2, "conv", False, 1),  # entry block1
    ((256, 256, 256), 2, "conv", False, 1),  # entry block2 (low-level features inside)
    ((728, 728, 728), 2, "conv", False, 1),  # entry block3
    ((728, 728, 728), 1, "sum", False, 16),  # middle flow
    ((728, 1024, 1024), 2, "conv", False, 1),  # exit block1
    ((1536, 1536, 2048), 1, "none", True, 1),  # exit block2
)


class AlignedXception(nn.Module):
    """Aligned Xception trunk exposing a 5-level feature list like ``ResNet.forward_features``."""

    def __init__(
        self, in_channels: int = 3, output_stride: int = 16, blocks: tuple = XCEPTION65
    ) -> None:
        super().__init__()
        check_output_stride(output_stride, "Xception-65")
        self.stem = nn.Sequential(ConvBNAct(in_channels, 32, 3, 2), ConvBNAct(32, 64, 3))
        current, rate, in_ch = 2, 1, 64
        modules: list[XceptionModule] = []
        for depths, stride, shortcut, act_inside, repeats in blocks:
            for _ in range(repeats):
                if current == output_stride:  # trade the stride for dilation from here on
                    modules.append(XceptionModule(in_ch, depths, 1, rate, shortcut, act_inside))
                    rate *= stride
                else:
                    modules.append(XceptionModule(in_ch, depths, stride, 1, shortcut, act_inside))
                    current *= stride
                in_ch = depths[-1]
        self.entry = nn.ModuleList(modules[:3])
        self.middle = nn.Sequential(*modules[3:-2])
        self.exit = nn.Sequential(*modules[-2:])
        self.out_channels: list[int] = [64, 256, 256, 728, 2048]
        self.output_stride = output_stride
        init_conv_bn(self)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[stem 1/2, low-level 1/4, entry block2 1/8, middle flow 1/16, exit flow 1/OS]."""
        c0 = self.stem(x)  # (N, 64, H/2, W/2)
        x = self.entry[0](c0)  # (N, 128, H/4, W/4)
        c2, c1 = self.entry[1].forward_with_hidden(x)  # (N, 256, H/8, ..), (N, 256, H/4, ..)
        c3 = self.middle(self.entry[2](c2))  # (N, 728, H/16 or H/8, ...)
        c4 = self.exit(c3)  # (N, 2048, H/OS, W/OS)
        return [c0, c1, c2, c3, c4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest feature map (exit flow output)."""
        return self.forward_features(x)[-1]


def xception65(in_channels: int = 3, output_stride: int = 16) -> AlignedXception:
    """Aligned Xception-65 trunk (entry 3, middle 16, exit 2 modules)."""
    return AlignedXception(in_channels, output_stride, XCEPTION65)

"""VGG-16 encoder (Simonyan & Zisserman, "Very Deep Convolutional Networks", ICLR 2015).

The 13 convolutions of VGG-16 grouped into five stages, without pooling inside a stage so that
FCN (plain max-pool) and SegNet (max-pool with indices) can each pool their own way.
``batch_norm=True`` gives the VGG16-BN variant that SegNet uses.

Example:
    >>> enc = vgg16()
    >>> [f.shape[-1] for f in enc.forward_features(torch.zeros(1, 3, 64, 64))]
    [32, 16, 8, 4, 2]
"""

from __future__ import annotations

import torch
from torch import nn

# Output widths of the convs of each stage (configuration "D" of the paper's Table 1).
VGG16_STAGES: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)


def conv_stage(in_ch: int, widths: tuple[int, ...], batch_norm: bool) -> nn.Sequential:
    """3x3 convs (padding 1) each followed by optional BN and ReLU."""
    layers: list[nn.Module] = []
    for width in widths:
        # With BN the conv bias is kept, as in torchvision's vgg16_bn (and SegNet's Caffe model).
        layers.append(nn.Conv2d(in_ch, width, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU(inplace=True))
        in_ch = width
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """VGG conv trunk as a list of stages; each stage halves resolution when followed by a pool."""

    def __init__(
        self,
        stages: tuple[tuple[int, ...], ...] = VGG16_STAGES,
        in_channels: int = 3,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        blocks, in_ch = [], in_channels
        for widths in stages:
            blocks.append(conv_stage(in_ch, widths, batch_norm))
            in_ch = widths[-1]
        self.stages = nn.ModuleList(blocks)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.out_channels: list[int] = [widths[-1] for widths in stages]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[pool1 (1/2), pool2 (1/4), pool3 (1/8), pool4 (1/16), pool5 (1/32)] feature maps."""
        feats = []
        for stage in self.stages:
            x = self.pool(stage(x))  # (N, C_i, H / 2^(i+1), W / 2^(i+1))
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The pool5 feature map."""
        return self.forward_features(x)[-1]


def vgg16(in_channels: int = 3, batch_norm: bool = False) -> VGG:
    """VGG-16 conv trunk (13 convs), optionally with BatchNorm after every conv."""
    return VGG(VGG16_STAGES, in_channels, batch_norm)

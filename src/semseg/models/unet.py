"""U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for Biomedical Image
Segmentation", MICCAI 2015).

Four down steps (2x2 max-pool, double 3x3 conv, width doubling from ``base_width``), four up steps
(2x2 up-convolution halving the width, concatenation with the encoder map, double 3x3 conv) and a
1x1 classifier (paper Fig. 1). Differences from the paper: convs are padded ("same") so no border
is lost and the skip maps need no cropping, BatchNorm follows each conv (``batch_norm=False`` gives
the paper's plain convs), and ``up="bilinear"`` swaps the up-convolution for bilinear x2 + 1x1 conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.errors import ConfigError
from semseg.models.layers import pad_to_multiple
from semseg.models.registry import register_model

UP_MODES = ("transpose", "bilinear")


def double_conv(in_ch: int, out_ch: int, batch_norm: bool) -> nn.Sequential:
    """Two 3x3 convs, each followed by optional BatchNorm and ReLU."""
    layers: list[nn.Module] = []
    for cin in (in_ch, out_ch):
        layers.append(nn.Conv2d(cin, out_ch, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_ch))
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Up(nn.Module):
    """x2 upsampling halving the width, concat with the skip, then a double conv."""

    def __init__(self, in_ch: int, out_ch: int, batch_norm: bool, up: str) -> None:
        super().__init__()
        if up == "transpose":
            self.up: nn.Module = nn.ConvTranspose2d(in_ch, in_ch // 2, 2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_ch, in_ch // 2, 1),
            )
        self.conv = double_conv(in_ch // 2 + out_ch, out_ch, batch_norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)  # (N, in_ch/2, 2h, 2w)
        return self.conv(torch.cat([skip, x], dim=1))  # (N, out_ch, 2h, 2w)


class UNet(nn.Module):
    """Symmetric encoder-decoder with skip concatenation at four scales."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        base_width: int = 64,
        batch_norm: bool = True,
        up: str = "transpose",
    ) -> None:
        super().__init__()
        if up not in UP_MODES:
            raise ConfigError(f"up must be one of {UP_MODES}, got {up!r}")
        widths = [base_width * 2**i for i in range(5)]  # 64, 128, 256, 512, 1024
        self.inc = double_conv(in_channels, widths[0], batch_norm)
        self.downs = nn.ModuleList(
            double_conv(widths[i], widths[i + 1], batch_norm) for i in range(4)
        )
        self.ups = nn.ModuleList(
            Up(widths[i + 1], widths[i], batch_norm, up) for i in reversed(range(4))
        )
        self.classifier = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 16)
        skips = [self.inc(x)]  # (N, 64, H, W)
        for down in self.downs:
            skips.append(down(F.max_pool2d(skips[-1], 2)))  # (N, 2C, H/2, W/2)
        x = skips.pop()  # (N, 1024, H/16, W/16)
        for up in self.ups:
            x = up(x, skips.pop())  # (N, C/2, 2h, 2w)
        return self.classifier(x)[..., :h, :w]  # (N, K, H, W)


@register_model(
    "unet",
    paper="Ronneberger et al., U-Net: Convolutional Networks for Biomedical Image Segmentation,"
    " MICCAI 2015",
    note="paper reports no parameter count; its Fig. 1 net (1 input channel, 2 classes, no BN)"
    " has 31.03M",
)
def unet(
    num_classes: int,
    in_channels: int = 3,
    base_width: int = 64,
    batch_norm: bool = True,
    up: str = "transpose",
) -> UNet:
    """U-Net with widths base_width * (1, 2, 4, 8, 16)."""
    return UNet(num_classes, in_channels, base_width, batch_norm, up)

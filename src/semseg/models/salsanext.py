"""SalsaNext (Cortinhal, Tzelepis & Aksoy, "SalsaNext: Fast, Uncertainty-aware Semantic
Segmentation of LiDAR Point Clouds for Autonomous Driving", ISVC 2020, arXiv 2003.03653).

A range-image network: three residual context blocks (1x1 shortcut, 3x3 and dilated 3x3 convs),
a residual dilated encoder of five blocks (3x3, dilated 3x3 and dilated 2x2 convs concatenated and
fused by a 1x1 conv; 3x3 average pooling with stride 2 instead of strided convs; Dropout2d 0.2 from
the second block on), and a decoder of four pixel-shuffle (x2) blocks concatenating the encoder
skips, then a 1x1 classifier. Widths follow the reference code (TiagoCortinhal/SalsaNext): context
32, encoder 64-128-256-256-256, decoder 128-128-64-32; 6.71M parameters for 5 inputs and 20
outputs (the paper quotes 6.73M). Differences: the input is zero-padded to a multiple of 16 and the
logits cropped back, so any H x W works (the paper uses 64 x 2048); logits, not the softmax, are
returned (the losses take logits).
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.layers import pad_to_multiple
from semseg.models.registry import register_model


def conv_act_bn(in_ch: int, out_ch: int, kernel: int, dilation: int = 1,
                padding: int | None = None) -> nn.Sequential:
    """Conv -> LeakyReLU -> BatchNorm (SalsaNext's order: the norm follows the activation)."""
    pad = dilation * (kernel - 1) // 2 if padding is None else padding
    return nn.Sequential(nn.Conv2d(in_ch, out_ch, kernel, padding=pad, dilation=dilation),
                         nn.LeakyReLU(), nn.BatchNorm2d(out_ch))


class ResContextBlock(nn.Module):
    """1x1 conv shortcut, then 3x3 and dilated 3x3 convs added back onto it."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.LeakyReLU())
        self.conv1 = conv_act_bn(out_ch, out_ch, 3)
        self.conv2 = conv_act_bn(out_ch, out_ch, 3, dilation=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.shortcut(x)
        return shortcut + self.conv2(self.conv1(shortcut))


class MultiDilation(nn.Module):
    """3x3, dilated 3x3 and dilated 2x2 convs in sequence, their outputs concatenated and fused."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = conv_act_bn(in_ch, out_ch, 3)
        self.conv2 = conv_act_bn(out_ch, out_ch, 3, dilation=2)
        self.conv3 = conv_act_bn(out_ch, out_ch, 2, dilation=2, padding=1)
        self.fuse = conv_act_bn(3 * out_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.conv1(x)
        b = self.conv2(a)
        c = self.conv3(b)
        return self.fuse(torch.cat([a, b, c], dim=1))  # (N, out, H, W)


class ResBlock(nn.Module):
    """Encoder block: multi-dilation residual; returns (pooled for the next block, skip)."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float, pool: bool = True) -> None:
        super().__init__()
        self.shortcut = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.LeakyReLU())
        self.body = MultiDilation(in_ch, out_ch)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.pool = nn.AvgPool2d(3, stride=2, padding=1) if pool else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.shortcut(x) + self.body(x)  # (N, out, H, W)
        return self.pool(self.dropout(skip)), skip  # (N, out, H/2, W/2), (N, out, H, W)


class UpBlock(nn.Module):
    """Decoder block: pixel shuffle x2, concatenate the skip, multi-dilation fuse."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, dropout: float) -> None:
        super().__init__()
        self.shuffle = nn.PixelShuffle(2)
        self.drop_up = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.drop_cat = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.body = MultiDilation(in_ch // 4 + skip_ch, out_ch)
        self.drop_out = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.drop_up(self.shuffle(x))  # (N, in/4, 2h, 2w)
        cat = self.drop_cat(torch.cat([up, skip], dim=1))
        return self.drop_out(self.body(cat))  # (N, out, 2h, 2w)


class SalsaNext(nn.Module):
    """Range image (N, in_channels, H, W) -> logits (N, num_classes, H, W)."""

    def __init__(self, num_classes: int, in_channels: int = 5, width: int = 32,
                 dropout: float = 0.2) -> None:
        super().__init__()
        w = width
        self.context = nn.Sequential(ResContextBlock(in_channels, w), ResContextBlock(w, w),
                                     ResContextBlock(w, w))
        enc = [w, 2 * w, 4 * w, 8 * w, 8 * w, 8 * w]  # 32, 64, 128, 256, 256, 256
        self.encoder = nn.ModuleList(
            ResBlock(enc[i], enc[i + 1], 0.0 if i == 0 else dropout, pool=i < 4) for i in range(5)
        )
        dec = [8 * w, 4 * w, 4 * w, 2 * w, w]  # 256 -> 128, 128, 64, 32
        skips = [8 * w, 8 * w, 4 * w, 2 * w]  # skip widths of encoder blocks 4, 3, 2, 1
        self.decoder = nn.ModuleList(
            UpBlock(dec[i], skips[i], dec[i + 1], dropout if i < 3 else 0.0) for i in range(4)
        )
        self.classifier = nn.Conv2d(w, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 16)
        x = self.context(x)  # (N, 32, H, W)
        skips = []
        for block in self.encoder:
            x, skip = block(x)
            skips.append(skip)
        skips = skips[:4]  # the 5th block does not pool; its output x is the bottleneck
        for block in self.decoder:
            x = block(x, skips.pop())  # (N, C, 2h, 2w)
        return self.classifier(x)[..., :h, :w]  # (N, K, H, W)


@register_model(
    "salsanext",
    paper="Cortinhal et al., SalsaNext: Fast, Uncertainty-aware Semantic Segmentation of LiDAR "
    "Point Clouds, ISVC 2020",
    paper_params=6.73e6,
    paper_gflops=62.84,
    note="64x2048 range image, 5 input channels, 20 classes; the paper's 'FLOPs' are MACs",
)
def salsanext(num_classes: int, in_channels: int = 5, width: int = 32,
              dropout: float = 0.2) -> SalsaNext:
    """SalsaNext with context width ``width`` (32 in the paper) and Dropout2d ``dropout``."""
    return SalsaNext(num_classes, in_channels, width, dropout)

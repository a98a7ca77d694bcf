"""MOSAIC (Wang, Howard et al., "MOSAIC: Mobile Segmentation via decoding Aggregated
Information and encoded Context", arXiv 2112.11623, 2021).

Encoder: a searched MobileNet-style trunk (inverted residuals with 3x3/5x5 depthwise convs,
ReLU) at output stride 16 (``output_stride`` 8 or 32 runs the same weights with more or less
dilation), widened to 448 channels by a 1x1 conv. Multi-scale context
(Sec. 3.2): the features are average-pooled by 8, 4 and 2; each pooled map is split into two
channel halves, one through a 3x3 and one through a 5x5 depthwise separable conv (64 channels
each), the 128 channels upsampled back, concatenated with the unpooled features and projected
to 128 by a 1x1 conv. Hybrid decoder (Sec. 3.3): upsample to 1/8, concatenate the encoder's
expanded 1/8 activation, fuse (1x1 conv, depthwise 3x3, 1x1 to K), upsample to 1/4 and add a
1x1 projection of the expanded 1/4 activation; the sum is the K logits, upsampled to the input.

Resizes follow TF1's ``align_corners=False`` sampling (``resize_asymmetric``) and strided convs
TF's SAME padding, so the published 512x512 TFLite model gives the same outputs here. Inputs
are replicate-padded to a multiple of 128 (output stride 16 x largest pool 8) and the logits
cropped.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.models.layers import check_output_stride
from semseg.models.mobile_blocks import (
    BlockSpec,
    SameConvBNAct,
    dilate,
    make_blocks,
    resize_asymmetric,
)
from semseg.models.registry import register_model

B = BlockSpec
TABLE = (
    B(3, 2, 1, 96, 32, False),
    B(3, 1, 1, 64, 32, True),  # its expanded activation feeds the decoder at 1/4
    B(5, 2, 1, 160, 64, False),
    B(3, 1, 1, 192, 64, True),
    B(3, 1, 1, 128, 64, True),
    B(3, 1, 1, 192, 64, True),  # its expanded activation feeds the decoder at 1/8
    B(5, 2, 1, 384, 128, False),
    *[B(3, 1, 1, 384, 128, True)] * 3,
    B(3, 1, 1, 768, 160, False),
    B(3, 1, 1, 640, 160, True),
    B(3, 1, 1, 960, 192, False),
    B(5, 2, 1, 384, 96, False),  # stride 2 traded for dilation 2 here at output stride 16
    *[B(5, 1, 1, 384, 96, True)] * 2,
)
TAP_QUARTER, TAP_EIGHTH = 1, 5
STEM, WIDTH, POOLS, CONTEXT = 32, 448, (8, 4, 2), 128


class MosaicEncoder(nn.Module):
    """The trunk: returns (1/OS features (448), 1/8 activation (192), 1/4 activation (64))."""

    def __init__(self, in_channels: int = 3, output_stride: int = 16) -> None:
        super().__init__()
        self.stem = SameConvBNAct(in_channels, STEM, 3, 2)
        # The published graph dilates the block that loses its stride too (not DeepLab's rule).
        self.blocks = make_blocks(STEM, dilate(TABLE, output_stride, traded_rate="new"))
        self.head = SameConvBNAct(TABLE[-1].out, WIDTH, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.stem(x)  # (N, 32, H/2, W/2)
        taps = {}
        for i, block in enumerate(self.blocks):
            x, hidden = block.forward_hidden(x)
            taps[i] = hidden
        return self.head(x), taps[TAP_EIGHTH], taps[TAP_QUARTER]


class MultiKernelBranch(nn.Module):
    """Average pool, then 3x3 and 5x5 depthwise separable convs on the two channel halves."""

    def __init__(self, in_ch: int, pool: int, out_ch: int = 64) -> None:
        super().__init__()
        half = in_ch // 2
        self.pool = pool
        self.convs = nn.ModuleList(
            nn.Sequential(SameConvBNAct(half, half, k, groups=half), SameConvBNAct(half, out_ch))
            for k in (3, 5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x, self.pool)  # (N, C, h/p, w/p)
        halves = pooled.chunk(2, dim=1)
        out = torch.cat([conv(h) for conv, h in zip(self.convs, halves, strict=True)], dim=1)
        return resize_asymmetric(out, x.shape[-2:])  # (N, 2 * out_ch, h, w)


class Mosaic(nn.Module):
    """MOSAIC: encoder, multi-kernel context module and the two-level hybrid decoder."""

    def __init__(self, num_classes: int, in_channels: int = 3, output_stride: int = 16) -> None:
        super().__init__()
        check_output_stride(output_stride, "mosaic")
        self.encoder = MosaicEncoder(in_channels, output_stride)
        self.multiple = output_stride * max(POOLS)
        self.context = nn.ModuleList(MultiKernelBranch(WIDTH, p) for p in POOLS)
        self.context_proj = SameConvBNAct(WIDTH + CONTEXT * len(POOLS), CONTEXT)
        eighth_ch, quarter_ch = TABLE[TAP_EIGHTH].hidden, TABLE[TAP_QUARTER].hidden
        self.fuse_eighth = nn.Sequential(
            SameConvBNAct(CONTEXT + eighth_ch, 64),
            SameConvBNAct(64, 64, 3, groups=64),
            SameConvBNAct(64, num_classes),
        )
        self.proj_quarter = SameConvBNAct(quarter_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes, H, W)."""
        h, w = x.shape[-2:]
        x = F.pad(x, (0, -w % self.multiple, 0, -h % self.multiple), mode="replicate")
        feats, eighth, quarter = self.encoder(x)  # 1/OS (448), 1/8 (192), 1/4 (64)
        context = [branch(feats) for branch in self.context]  # 3 x (N, 128, H/OS, W/OS)
        y = self.context_proj(torch.cat([*context, feats], dim=1))  # (N, 128, H/OS, W/OS)
        y = resize_asymmetric(y, eighth.shape[-2:])
        y = self.fuse_eighth(torch.cat([y, eighth], dim=1))  # (N, K, H/8, W/8)
        y = resize_asymmetric(y, quarter.shape[-2:]) + self.proj_quarter(quarter)  # (N, K, H/4, .)
        return resize_asymmetric(y, x.shape[-2:])[..., :h, :w]


@register_model("mosaic", paper="Wang et al., MOSAIC: Mobile Segmentation via decoding "
                "Aggregated Information and encoded Context, arXiv 2112.11623, 2021",
                note="ADE20K top-31 + other, 512x512; output_stride 16 (default), 8 or 32 with "
                "the same weights")
def mosaic(num_classes: int, in_channels: int = 3, output_stride: int = 16) -> Mosaic:
    """MOSAIC with its published widths; ``num_classes`` logits (32 for ADE20K-top31)."""
    return Mosaic(num_classes, in_channels, output_stride)

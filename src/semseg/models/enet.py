"""ENet (Paszke, Chaurasia, Kim & Culurciello, "ENet: A Deep Neural Network Architecture for
Real-Time Semantic Segmentation", arXiv 1606.02147, 2016).

Layout follows the paper's Table 1: an initial block (3x3 stride-2 conv with 13 filters
concatenated with a max-pool of the input), bottleneck stages 1-3 (encoder) and 4-5 (decoder),
and a final 2x2 full convolution. Each bottleneck (Fig. 2b) is a 1x1 projection to a quarter of
the output width, a regular / dilated / asymmetric (5x1 then 1x5) conv, a 1x1 expansion and
spatial dropout, added to the main branch. Downsampling bottlenecks use a 2x2 stride-2 projection
and a max-pool whose indices the matching upsampling bottleneck reuses to unpool. The 1x1
projections have no bias (Sec. 4: "no bias terms"); encoder activations are PReLU, decoder ones
ReLU (as in the authors' Torch code). Difference: with ``in_channels`` other than 3 the initial
block and stage 5 are 13 + in_channels maps wide (the paper's 16 for RGB).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.errors import ConfigError
from semseg.models.layers import max_unpool2d, pad_to_multiple
from semseg.models.registry import register_model


def _act(channels: int, prelu: bool) -> nn.Module:
    """PReLU with one slope per channel (encoder) or ReLU (decoder)."""
    return nn.PReLU(channels) if prelu else nn.ReLU(inplace=True)


def _conv_bn_act(in_ch: int, out_ch: int, prelu: bool, **conv_kw) -> list[nn.Module]:
    """Conv, BatchNorm, activation."""
    return [nn.Conv2d(in_ch, out_ch, **conv_kw), nn.BatchNorm2d(out_ch), _act(out_ch, prelu)]


def _main_conv(internal: int, kind: str, dilation: int) -> nn.Sequential:
    """The bottleneck's middle conv: 'regular', 'dilated' or 'asymmetric' (5x1 then 1x5).

    Only the 1x1 projections are bias-free in the paper; the middle conv keeps its bias (one
    per asymmetric pair), as in the authors' Torch code.
    """
    if kind == "asymmetric":
        return nn.Sequential(
            nn.Conv2d(internal, internal, (5, 1), padding=(2, 0), bias=False),
            nn.Conv2d(internal, internal, (1, 5), padding=(0, 2)),
        )
    return nn.Sequential(nn.Conv2d(internal, internal, 3, padding=dilation, dilation=dilation))


class InitialBlock(nn.Module):
    """3x3/2 conv (13 filters) concatenated with a 2x2 max-pool of the input, then BN + PReLU."""

    def __init__(self, in_channels: int, conv_filters: int = 13) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, conv_filters, 3, stride=2, padding=1)
        self.out_channels = conv_filters + in_channels
        self.bn = nn.BatchNorm2d(self.out_channels)
        self.act = nn.PReLU(self.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.conv(x), F.max_pool2d(x, 2)], dim=1)  # (N, 13 + C_in, H/2, W/2)
        return self.act(self.bn(x))


class Bottleneck(nn.Module):
    """Residual bottleneck keeping width and resolution (paper Fig. 2b)."""

    def __init__(
        self, channels: int, kind: str = "regular", dilation: int = 1, dropout: float = 0.1,
        prelu: bool = True,
    ) -> None:
        super().__init__()
        internal = channels // 4
        self.ext = nn.Sequential(
            *_conv_bn_act(channels, internal, prelu, kernel_size=1, bias=False),
            _main_conv(internal, kind, dilation),
            nn.BatchNorm2d(internal),
            _act(internal, prelu),
            nn.Conv2d(internal, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.Dropout2d(dropout),
        )
        self.act = _act(channels, prelu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.ext(x))  # (N, C, H, W)


class DownsamplingBottleneck(nn.Module):
    """Bottleneck halving resolution; the main branch max-pools (keeping indices) and zero-pads."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float) -> None:
        super().__init__()
        internal = out_ch // 4
        self.ext = nn.Sequential(
            *_conv_bn_act(in_ch, internal, True, kernel_size=2, stride=2, bias=False),
            *_conv_bn_act(internal, internal, True, kernel_size=3, padding=1),
            nn.Conv2d(internal, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.Dropout2d(dropout),
        )
        self.extra_channels = out_ch - in_ch
        self.act = nn.PReLU(out_ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Size]:
        """Output (N, out_ch, H/2, W/2), pooling indices and the pre-pool size."""
        main, idx = F.max_pool2d(x, 2, 2, return_indices=True)  # (N, in_ch, H/2, W/2)
        main = F.pad(main, (0, 0, 0, 0, 0, self.extra_channels))  # (N, out_ch, H/2, W/2)
        return self.act(main + self.ext(x)), idx, x.shape[-2:]


class UpsamplingBottleneck(nn.Module):
    """Bottleneck doubling resolution: main branch 1x1 conv + max-unpool, ext a 3x3 full conv."""

    def __init__(self, in_ch: int, out_ch: int, dropout: float) -> None:
        super().__init__()
        internal = out_ch // 4
        self.main = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        self.ext = nn.Sequential(
            *_conv_bn_act(in_ch, internal, False, kernel_size=1, bias=False),
            nn.ConvTranspose2d(internal, internal, 3, 2, padding=1, output_padding=1),
            nn.BatchNorm2d(internal),
            nn.ReLU(inplace=True),
            nn.Conv2d(internal, out_ch, 1, bias=False),
            nn.BatchNorm2d(out_ch),
            nn.Dropout2d(dropout),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor, idx: torch.Tensor, size: torch.Size) -> torch.Tensor:
        main = max_unpool2d(self.main(x), idx, size)  # (N, out_ch, 2H, 2W)
        return self.act(main + self.ext(x))


def _stage_2_or_3(dropout: float) -> nn.Sequential:
    """Bottlenecks x.1-x.8 of stages 2 and 3 (Table 1): dilation 2, 4, 8, 16 and two asymmetric."""
    plan = [("regular", 1), ("dilated", 2), ("asymmetric", 1), ("dilated", 4),
            ("regular", 1), ("dilated", 8), ("asymmetric", 1), ("dilated", 16)]
    return nn.Sequential(*(Bottleneck(128, kind, d, dropout) for kind, d in plan))


class ENet(nn.Module):
    """ENet encoder (initial, stages 1-3) and decoder (stages 4-5, full conv)."""

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        if in_channels > 64 - 13:
            raise ConfigError(f"ENet takes at most 51 input channels (13 conv + pooled input maps"
                              f" must fit stage 1's 64), got {in_channels}")
        self.initial = InitialBlock(in_channels)
        init_ch = self.initial.out_channels  # 16 for RGB
        self.down1 = DownsamplingBottleneck(self.initial.out_channels, 64, dropout=0.01)
        self.stage1 = nn.Sequential(*(Bottleneck(64, dropout=0.01) for _ in range(4)))
        self.down2 = DownsamplingBottleneck(64, 128, dropout=0.1)
        self.stage2 = _stage_2_or_3(dropout=0.1)
        self.stage3 = _stage_2_or_3(dropout=0.1)
        self.up4 = UpsamplingBottleneck(128, 64, dropout=0.1)
        self.stage4 = nn.Sequential(*(Bottleneck(64, prelu=False) for _ in range(2)))
        # Stage 5 unpools with the initial block's indices, so it matches that block's width.
        self.up5 = UpsamplingBottleneck(64, init_ch, dropout=0.1)
        self.stage5 = Bottleneck(init_ch, prelu=False)
        self.fullconv = nn.ConvTranspose2d(init_ch, num_classes, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 8)
        x = self.initial(x)  # (N, 13 + C_in, H/2, W/2)
        x, idx1, size1 = self.down1(x)  # (N, 64, H/4, W/4)
        x, idx2, size2 = self.down2(self.stage1(x))  # (N, 128, H/8, W/8)
        x = self.stage3(self.stage2(x))  # (N, 128, H/8, W/8)
        x = self.stage4(self.up4(x, idx2, size2))  # (N, 64, H/4, W/4)
        x = self.stage5(self.up5(x, idx1, size1))  # (N, 13 + C_in, H/2, W/2)
        return self.fullconv(x)[..., :h, :w]  # (N, K, H, W)


@register_model(
    "enet",
    paper="Paszke et al., ENet: A Deep Neural Network Architecture for Real-Time Semantic"
    " Segmentation, arXiv 2016",
    paper_params=0.37e6,
    paper_gflops=3.83,
    note="paper Table 3: 0.37M parameters, 3.83 GFLOPs at 3x640x360",
)
def enet(num_classes: int, in_channels: int = 3) -> ENet:
    """ENet with the paper's bottleneck plan and dropout rates (0.01 stage 1, 0.1 after)."""
    return ENet(num_classes, in_channels)

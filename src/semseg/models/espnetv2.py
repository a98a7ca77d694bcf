"""ESPNetv2 segmentation (Mehta et al., "ESPNetv2: A Light-weight, Power Efficient, and General
Purpose Convolutional Neural Network", CVPR 2019).

Encoder: the EESPNet classification backbone up to level 4 (stride 16). Each EESP block reduces
channels with a grouped 1x1 conv, runs ``k`` depthwise dilated 3x3 branches whose outputs are
summed hierarchically (no gridding), concatenates them and expands with a grouped 1x1 conv. Strided
levels ("down-samplers") concatenate an average-pooled copy of the input with a strided EESP and add
an "input reinforcement" projection of the pooled RGB image.

Decoder (EdgeNets' segmentation head): an efficient pyramid pool (depthwise convs on the feature map
resized by 2, 1.5, 1, 0.5 and 0.1) at each of four scales, merged bottom-up with encoder maps that
pass through a channel-gated grouped 3x3 conv.

Module and parameter names follow the reference implementation (sacmehta/EdgeNets, commit 2b232d3,
``model/segmentation/espnetv2.py`` and ``nn_layers/``) so that its public checkpoints load with
``load_state_dict(strict=True)``. Difference: the reference upsamples by exactly 2x and so only
works when H and W are multiples of 16; here each decoder step resizes to the encoder map's size,
which is identical at multiples of 16 and works for any H, W.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from semseg.errors import ConfigError
from semseg.models.layers import pool_matrix
from semseg.models.registry import register_model

# Encoder widths per scale ``s`` (levels 1-4; the classification levels 5+ are not used).
CHANNELS: dict[float, tuple[int, int, int, int]] = {
    0.5: (16, 32, 64, 128),
    1.0: (32, 64, 128, 256),
    1.25: (32, 80, 160, 320),
    1.5: (32, 96, 192, 384),
    2.0: (32, 128, 256, 512),
}
BLOCKS_L3, BLOCKS_L4 = 3, 7  # EESP blocks after the level 3 and level 4 down-samplers
RECEPTIVE_LIMIT = (13, 11, 9, 7)  # largest effective kernel per level (keeps small maps sane)
BRANCHES = 4
PYRAMID_SCALES = (2.0, 1.5, 1.0, 0.5, 0.1)


def _conv_bn_prelu(in_ch: int, out_ch: int, k: int, stride: int = 1, groups: int = 1):
    """Conv (no bias) -> BN -> PReLU as a Sequential (keys 0, 1, 2)."""
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_ch),
        nn.PReLU(out_ch),
    )


class CBR(nn.Module):
    """Conv -> BN -> PReLU with attributes ``conv``, ``bn``, ``act`` (encoder naming)."""

    def __init__(self, in_ch: int, out_ch: int, k: int, stride: int = 1, groups: int = 1,
                 act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, k, stride, (k - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        if act:
            self.act = nn.PReLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.act(x) if hasattr(self, "act") else x


class BR(nn.Module):
    """BN -> PReLU with attributes ``bn``, ``act`` (encoder naming)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(ch)
        self.act = nn.PReLU(ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class DilatedDW(nn.Module):
    """Depthwise 3x3 conv with dilation ``d`` (attribute ``conv``)."""

    def __init__(self, ch: int, stride: int, d: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride, d, dilation=d, groups=ch, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UnusedPReLU(nn.Module):
    """A PReLU slope that the reference creates but never applies, held as a buffer.

    Down-sampling EESP blocks return before their activation; the checkpoints still store its
    ``weight``, so it is kept (as a buffer: it would never receive a gradient) to load strictly.
    """

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.full((ch,), 0.25))


class EESP(nn.Module):
    """Reduce -> split into k dilated depthwise branches -> hierarchical sum -> merge."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, k: int = 4, r_lim: int = 7,
                 down: bool = False) -> None:
        super().__init__()
        n = out_ch // k
        if n * k != out_ch:
            raise ConfigError(f"EESP: out channels {out_ch} must be divisible by branches {k}")
        self.down = down  # a down-sampler's EESP returns before the residual and activation
        self.proj_1x1 = CBR(in_ch, n, 1, groups=k)
        # Effective kernel 3, 5, 7, ... up to r_lim, else 3; sorted so equal 3x3 ones lead.
        sizes = sorted(3 + 2 * i if 3 + 2 * i <= r_lim else 3 for i in range(k))
        self.spp_dw = nn.ModuleList(DilatedDW(n, stride, (s - 1) // 2) for s in sizes)
        self.conv_1x1_exp = CBR(out_ch, out_ch, 1, groups=k, act=False)
        self.br_after_cat = BR(out_ch)
        self.module_act = UnusedPReLU(out_ch) if down else nn.PReLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.proj_1x1(x)  # (N, n, H, W)
        outs = [self.spp_dw[0](reduced)]
        for branch in self.spp_dw[1:]:
            outs.append(branch(reduced) + outs[-1])  # hierarchical fusion removes gridding
        y = self.conv_1x1_exp(self.br_after_cat(torch.cat(outs, dim=1)))  # (N, out, H', W')
        if self.down:
            return y
        if y.shape == x.shape:
            y = y + x
        return self.module_act(y)


class DownSampler(nn.Module):
    """Stride-2 level: cat(avg-pool(x), strided EESP(x)) + projection of the pooled image."""

    def __init__(self, in_ch: int, out_ch: int, image_ch: int, k: int, r_lim: int) -> None:
        super().__init__()
        self.eesp = EESP(in_ch, out_ch - in_ch, stride=2, k=k, r_lim=r_lim, down=True)
        self.inp_reinf = nn.Sequential(
            CBR(image_ch, image_ch, 3), CBR(image_ch, out_ch, 1, act=False)
        )
        self.act = nn.PReLU(out_ch)

    def forward(self, x: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(x, 3, 2, 1)  # (N, in, ceil(H/2), ceil(W/2))
        y = torch.cat([pooled, self.eesp(x)], dim=1)  # (N, out, H/2, W/2)
        while image.shape[-2] > y.shape[-2]:  # every stride-2 op here maps H to ceil(H/2)
            image = F.avg_pool2d(image, 3, 2, 1)
        return self.act(y + self.inp_reinf(image))


class EESPNet(nn.Module):
    """ESPNetv2 encoder, levels 1-4; returns the four feature maps (strides 2, 4, 8, 16)."""

    def __init__(self, in_channels: int, s: float) -> None:
        super().__init__()
        if s not in CHANNELS:
            raise ConfigError(f"espnetv2: scale s={s} not supported; choose from {list(CHANNELS)}")
        c = CHANNELS[s]
        self.config = c
        self.level1 = CBR(in_channels, c[0], 3, stride=2)
        self.level2_0 = DownSampler(c[0], c[1], in_channels, BRANCHES, RECEPTIVE_LIMIT[0])
        self.level3_0 = DownSampler(c[1], c[2], in_channels, BRANCHES, RECEPTIVE_LIMIT[1])
        self.level3 = nn.ModuleList(
            EESP(c[2], c[2], k=BRANCHES, r_lim=RECEPTIVE_LIMIT[2]) for _ in range(BLOCKS_L3)
        )
        self.level4_0 = DownSampler(c[2], c[3], in_channels, BRANCHES, RECEPTIVE_LIMIT[2])
        self.level4 = nn.ModuleList(
            EESP(c[3], c[3], k=BRANCHES, r_lim=RECEPTIVE_LIMIT[3]) for _ in range(BLOCKS_L4)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        l1 = self.level1(x)  # (N, c0, H/2, W/2)
        l2 = self.level2_0(l1, x)  # (N, c1, H/4, W/4)
        l3 = self.level3_0(l2, x)  # (N, c2, H/8, W/8)
        for block in self.level3:
            l3 = block(l3)
        l4 = self.level4_0(l3, x)  # (N, c3, H/16, W/16)
        for block in self.level4:
            l4 = block(l4)
        return [l1, l2, l3, l4]


class SeqCBR(nn.Module):
    """Conv -> BN -> PReLU held as ``cbr`` (decoder naming)."""

    def __init__(self, in_ch: int, out_ch: int, k: int, groups: int = 1) -> None:
        super().__init__()
        self.cbr = _conv_bn_prelu(in_ch, out_ch, k, groups=groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cbr(x)


class SeqBR(nn.Module):
    """BN -> PReLU held as ``br`` (decoder naming)."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.br = nn.Sequential(nn.BatchNorm2d(ch), nn.PReLU(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.br(x)


class ChannelShuffle(nn.Module):
    """Interleave channels of ``groups`` groups (ShuffleNet)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2)  # (N, C/g, g, H, W)
        return x.reshape(n, c, h, w)


def adaptive_pool(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.adaptive_avg_pool2d``; as two constant matmuls while exporting to ONNX.

    ONNX has no adaptive pooling to a size that does not divide the input; the matmul form is
    exact but slower, so eager runs keep the native op.
    """
    if not torch.onnx.is_in_onnx_export():
        return F.adaptive_avg_pool2d(x, size)
    h, w = int(x.shape[-2]), int(x.shape[-1])
    rows, cols = pool_matrix(h, size[0], x), pool_matrix(w, size[1], x)  # (h', H), (w', W)
    return rows @ x @ cols.t()  # (N, C, h', w')


class EfficientPyrPool(nn.Module):
    """Project, run a depthwise 3x3 at several resolutions, shuffle and merge to ``out_ch``."""

    def __init__(self, in_ch: int, proj_ch: int, out_ch: int, last_br: bool = True) -> None:
        super().__init__()
        n = len(PYRAMID_SCALES)
        self.projection_layer = SeqCBR(in_ch, proj_ch, 1)
        self.stages = nn.ModuleList(
            nn.Conv2d(proj_ch, proj_ch, 3, padding=1, groups=proj_ch, bias=False)
            for _ in PYRAMID_SCALES
        )
        self.merge_layer = nn.Sequential(
            SeqBR(proj_ch * n),
            ChannelShuffle(n),
            SeqCBR(proj_ch * n, proj_ch, 3, groups=proj_ch),
            nn.Conv2d(proj_ch, out_ch, 1, bias=not last_br),
        )
        if last_br:
            self.br = SeqBR(out_ch)

    def _stage(self, x: torch.Tensor, stage: nn.Module, scale: float) -> torch.Tensor:
        h, w = x.shape[-2:]
        size = (max(5, math.ceil(h * scale)), max(5, math.ceil(w * scale)))
        if scale < 1.0:
            y = stage(adaptive_pool(x, size))
            return F.interpolate(y, (h, w), mode="bilinear", align_corners=True)
        if scale > 1.0:
            y = stage(F.interpolate(x, size, mode="bilinear", align_corners=True))
            return adaptive_pool(y, (h, w))
        return stage(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.projection_layer(x)  # (N, P, H, W)
        pyramid = [self._stage(x, st, s) for st, s in zip(self.stages, PYRAMID_SCALES, strict=True)]
        out = self.merge_layer(torch.cat(pyramid, dim=1))  # (N, out, H, W)
        return self.br(out) if hasattr(self, "br") else out


class EfficientPWConv(nn.Module):
    """Grouped 3x3 conv whose output is gated per channel by a global-context sigmoid."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.wt_layer = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.Sigmoid()
        )
        self.expansion_layer = SeqCBR(in_ch, out_ch, 3, groups=math.gcd(in_ch, out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expansion_layer(x) * self.wt_layer(x)  # (N, out, H, W) * (N, out, 1, 1)


def _bn_prelu(ch: int) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm2d(ch), nn.PReLU(ch))


class ESPNetv2(nn.Module):
    """EESPNet encoder + bottom-up pyramid-pool decoder; logits at the input size."""

    def __init__(self, num_classes: int, in_channels: int = 3, s: float = 2.0,
                 decoder_width: int = 16, proj_width: int | None = None) -> None:
        super().__init__()
        self.base_net = EESPNet(in_channels, s)
        enc = self.base_net.config
        dec = (4 * decoder_width, 3 * decoder_width, 2 * decoder_width)
        # reference: min(classes // 2, 16); ``proj_width`` fixes it, e.g. to fine-tune the
        # 20-output Cityscapes weights (width 10) on a label set of another size
        proj = proj_width or max(1, min(num_classes // 2, decoder_width))
        self.bu_dec_l1 = EfficientPyrPool(enc[3], proj, dec[0])
        self.bu_dec_l2 = EfficientPyrPool(dec[0], proj, dec[1])
        self.bu_dec_l3 = EfficientPyrPool(dec[1], proj, dec[2])
        self.bu_dec_l4 = EfficientPyrPool(dec[2], proj, num_classes, last_br=False)
        self.merge_enc_dec_l2 = EfficientPWConv(enc[2], dec[0])
        self.merge_enc_dec_l3 = EfficientPWConv(enc[1], dec[1])
        self.merge_enc_dec_l4 = EfficientPWConv(enc[0], dec[2])
        self.bu_br_l2 = _bn_prelu(dec[0])
        self.bu_br_l3 = _bn_prelu(dec[1])
        self.bu_br_l4 = _bn_prelu(dec[2])
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        # Reference: x2 with align_corners=True; resizing to the skip's size equals it at
        # multiples of 16 and also handles the odd sizes that ceil(H / 2) produces.
        return F.interpolate(x, like.shape[-2:], mode="bilinear", align_corners=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        l1, l2, l3, l4 = self.base_net(x)
        y = self.bu_dec_l1(l4)  # (N, 64, H/16, W/16)
        y = self.bu_dec_l2(self.bu_br_l2(self._up(y, l3) + self.merge_enc_dec_l2(l3)))  # H/8
        y = self.bu_dec_l3(self.bu_br_l3(self._up(y, l2) + self.merge_enc_dec_l3(l2)))  # H/4
        y = self.bu_dec_l4(self.bu_br_l4(self._up(y, l1) + self.merge_enc_dec_l4(l1)))  # H/2
        return F.interpolate(y, size, mode="bilinear", align_corners=True)  # (N, K, H, W)


@register_model(
    "espnetv2",
    paper="Mehta et al., ESPNetv2: A Light-weight, Power Efficient, and General Purpose"
    " Convolutional Neural Network, CVPR 2019",
    paper_params=0.79e6,
    paper_gflops=0.76,
    note="s=2.0, PASCAL VOC 384x384 (EdgeNets model zoo: 0.79M params, 759.52M FLOPs)",
)
def espnetv2(num_classes: int, in_channels: int = 3, s: float = 2.0,
             decoder_width: int = 16, proj_width: int | None = None) -> ESPNetv2:
    """ESPNetv2 segmentation at width scale ``s`` (0.5, 1.0, 1.25, 1.5 or 2.0)."""
    return ESPNetv2(num_classes, in_channels, float(s), decoder_width, proj_width)

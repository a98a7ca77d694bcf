"""Full-Resolution Residual Networks (Pohlen et al., "Full-Resolution Residual Networks for
Semantic Segmentation in Street Scenes", CVPR 2017).

Two streams (Sec. 3): a residual stream of 32 channels that stays at full resolution and is
only ever updated by addition, and a pooling stream that goes down by 2x2 max-pooling and up by
unpooling like an encoder-decoder. Each full-resolution residual unit (FRRU, Fig. 3) max-pools
the residual stream to the pooling stream's scale, concatenates the two, applies two 3x3
conv-BN-ReLU (the new pooling stream) and a 1x1 conv to 32 channels that is upsampled back
(nearest) and added to the residual stream. Layout (Table 1):

    conv5x5 48, 3 x RU 48, split (1x1 conv -> 32-channel residual stream)
    encoder  maxpool, 3 x FRRU 96 (1/2), maxpool, 4 x FRRU 192 (1/4),
             maxpool, 2 x FRRU 384 (1/8), maxpool, 2 x FRRU 384 (1/16)  [B: + 2 x FRRU 384 1/32]
    decoder  [B: unpool, 2 x FRRU 192 (1/16)], unpool, 2 x FRRU 192 (1/8),
             unpool, 2 x FRRU 192 (1/4), unpool, 2 x FRRU 96 (1/2)
    unpool, concat with the residual stream, 1x1 conv 48, 3 x RU 48, 1x1 conv classes

RU is a residual unit (conv-BN-ReLU, conv-BN, + input). Unpooling is bilinear x2 here.
Inputs of any H, W are zero-padded to a multiple of 16 (FRRN A) or 32 (FRRN B) and the logits
cropped back. The network is trained from scratch in the paper (no ImageNet backbone).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.models.layers import ConvBNAct, pad_to_multiple, resize_to
from semseg.models.registry import register_model

RESIDUAL_CH = 32
PAPER = ("Pohlen et al., Full-Resolution Residual Networks for Semantic Segmentation in Street "
         "Scenes, CVPR 2017")
# (units, channels) per pooling-stream scale; scale doubles per encoder stage, halves per decoder.
FRRN_A = {
    "encoder": ((3, 96), (4, 192), (2, 384), (2, 384)),
    "decoder": ((2, 192), (2, 192), (2, 96)),
}
FRRN_B = {
    "encoder": ((3, 96), (4, 192), (2, 384), (2, 384), (2, 384)),
    "decoder": ((2, 192), (2, 192), (2, 192), (2, 96)),
}


class ResidualUnit(nn.Module):
    """conv3x3-BN-ReLU -> conv3x3-BN, added to the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvBNAct(channels, channels, 3), ConvBNAct(channels, channels, 3, act=None)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class FRRU(nn.Module):
    """Full-resolution residual unit: couples pooling (1/scale) and residual streams."""

    def __init__(self, pool_in: int, pool_out: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.convs = nn.Sequential(
            ConvBNAct(pool_in + RESIDUAL_CH, pool_out, 3), ConvBNAct(pool_out, pool_out, 3)
        )
        self.to_residual = nn.Conv2d(pool_out, RESIDUAL_CH, 1)

    def forward(self, y: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """New pooling stream y (N, pool_out, H/s, W/s) and residual stream z (N, 32, H, W)."""
        z_pooled = F.max_pool2d(z, self.scale, self.scale)  # (N, 32, H/s, W/s)
        y = self.convs(torch.cat([y, z_pooled], dim=1))  # (N, pool_out, H/s, W/s)
        update = F.interpolate(self.to_residual(y), size=z.shape[-2:], mode="nearest")
        return y, z + update  # residual stream is only ever updated additively


class FRRN(nn.Module):
    """Full-resolution residual network; ``spec`` is FRRN_A or FRRN_B."""

    def __init__(self, num_classes: int, in_channels: int, spec: dict) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvBNAct(in_channels, 48, 5), *(ResidualUnit(48) for _ in range(3))
        )
        self.split = nn.Conv2d(48, RESIDUAL_CH, 1)
        self.encoder, ch, scale = nn.ModuleList(), 48, 1
        for units, out_ch in spec["encoder"]:
            scale *= 2
            self.encoder.append(self._stage(units, ch, out_ch, scale))
            ch = out_ch
        self.decoder = nn.ModuleList()
        for units, out_ch in spec["decoder"]:
            scale //= 2
            self.decoder.append(self._stage(units, ch, out_ch, scale))
            ch = out_ch
        self.multiple = 2 ** len(spec["encoder"])
        self.merge = ConvBNAct(ch + RESIDUAL_CH, 48, 1)
        self.head = nn.Sequential(
            *(ResidualUnit(48) for _ in range(3)), nn.Conv2d(48, num_classes, 1)
        )

    @staticmethod
    def _stage(units: int, in_ch: int, out_ch: int, scale: int) -> nn.ModuleList:
        return nn.ModuleList(FRRU(in_ch if i == 0 else out_ch, out_ch, scale) for i in range(units))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes, H, W) for input (N, in_channels, H, W)."""
        x, (h, w) = pad_to_multiple(x, self.multiple)
        y = self.stem(x)  # (N, 48, Hp, Wp) pooling stream
        z = self.split(y)  # (N, 32, Hp, Wp) residual stream
        for stage in self.encoder:
            y = F.max_pool2d(y, 2, 2)  # (N, C, H/scale, W/scale)
            for unit in stage:
                y, z = unit(y, z)
        for stage in self.decoder:
            hs, ws = y.shape[-2:]
            y = resize_to(y, (hs * 2, ws * 2))  # unpool x2
            for unit in stage:
                y, z = unit(y, z)
        y = resize_to(y, z.shape[-2:])  # (N, C, Hp, Wp)
        logits = self.head(self.merge(torch.cat([y, z], dim=1)))  # (N, classes, Hp, Wp)
        return logits[..., :h, :w]


@register_model(
    "frrn_a",
    paper=PAPER,
    note="FRRN A (pooling stream down to 1/16). Parameter count not re-checked against the "
    "paper (17.7M is the figure quoted for FRRN A); ours is 17.71M at 19 classes.",
)
def frrn_a(num_classes: int, in_channels: int = 3) -> FRRN:
    """FRRN A: four pooling levels (1/16)."""
    return FRRN(num_classes, in_channels, FRRN_A)


@register_model(
    "frrn_b",
    paper=PAPER,
    note="FRRN B (one more pooling level, 1/32), the paper's Cityscapes model (71.8% test IoU). "
    "Parameter count not re-checked against the paper; ours is 24.72M at 19 classes.",
)
def frrn_b(num_classes: int, in_channels: int = 3) -> FRRN:
    """FRRN B: five pooling levels (1/32)."""
    return FRRN(num_classes, in_channels, FRRN_B)

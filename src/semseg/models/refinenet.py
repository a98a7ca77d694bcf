"""RefineNet (Lin et al., "RefineNet: Multi-Path Refinement Networks for High-Resolution Semantic
Segmentation", CVPR 2017).

4-cascaded RefineNet (Fig. 2c, Sec. 3): the ResNet's four outputs (1/4 .. 1/32) are reduced by a
3x3 conv to 512 channels (layer4, RefineNet-4) or 256 (all others). Each RefineNet block (Fig. 3):
- adaptive conv: two residual conv units (RCU: ReLU-conv3x3-ReLU-conv3x3 + input) per path;
- multi-resolution fusion: a 3x3 conv per path to the smallest channel count, upsampling to the
  largest resolution and summation (skipped for the single-path RefineNet-4);
- chained residual pooling: ReLU, then a chain of 5x5 stride-1 max-pool + 3x3 conv blocks whose
  outputs are all summed with the input (``crp_blocks`` = 4 here; Fig. 3 draws two, the count
  is a free choice of the method);
- output conv: one RCU.
RefineNet-4 refines layer4 alone; RefineNet-3/2/1 fuse the previous block with layer3/2/1.
Two RCUs and a 1x1 classifier follow at 1/4 resolution; logits are upsampled x4 (bilinear).
No BatchNorm in the refinement path, as in the paper (the ResNet keeps its own).

The paper's encoder is ResNet-101 (default); ``backbone`` accepts resnet50/34/18. Inputs of any
H, W are zero-padded to a multiple of 32 and the logits cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.errors import ConfigError
from semseg.models.backbones.resnet import ResNet, resnet18, resnet34, resnet50, resnet101
from semseg.models.layers import pad_to_multiple, resize_to
from semseg.models.registry import register_model

BACKBONES = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
}


def _conv3x3(in_ch: int, out_ch: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=bias)


class ResidualConvUnit(nn.Module):
    """RCU: ReLU -> conv3x3 -> ReLU -> conv3x3, added to the input (no BatchNorm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(channels, channels, bias=True)
        self.conv2 = _conv3x3(channels, channels, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Not in-place: x is the residual shortcut.
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class ChainedResidualPooling(nn.Module):
    """ReLU, then ``blocks`` chained (5x5 max-pool, 3x3 conv) whose outputs are all summed."""

    def __init__(self, channels: int, blocks: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(5, stride=1, padding=2), _conv3x3(channels, channels))
            for _ in range(blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        out, path = x, x
        for block in self.blocks:
            path = block(path)  # each block pools the previous block's output (a chain)
            out = out + path
        return out


class RefineNetBlock(nn.Module):
    """Adaptive RCUs per path -> multi-resolution fusion -> chained residual pooling -> RCU."""

    def __init__(self, in_channels: tuple[int, ...], out_ch: int, crp_blocks: int = 4) -> None:
        super().__init__()
        self.adapt = nn.ModuleList(
            nn.Sequential(ResidualConvUnit(c), ResidualConvUnit(c)) for c in in_channels
        )
        # A single path needs no fusion (RefineNet-4); it then keeps its own channel count.
        self.fuse = (
            nn.ModuleList(_conv3x3(c, out_ch) for c in in_channels)
            if len(in_channels) > 1
            else None
        )
        width = out_ch if self.fuse is not None else in_channels[0]
        self.crp = ChainedResidualPooling(width, crp_blocks)
        self.out_conv = ResidualConvUnit(width)

    def forward(self, *paths: torch.Tensor) -> torch.Tensor:
        """Refined map at the largest input resolution."""
        paths = tuple(adapt(p) for adapt, p in zip(self.adapt, paths, strict=True))
        if self.fuse is None:
            x = paths[0]
        else:
            size = max((p.shape[-2:] for p in paths), key=lambda s: s[0] * s[1])
            x = sum(resize_to(conv(p), size) for conv, p in zip(self.fuse, paths, strict=True))
        return self.out_conv(self.crp(x))  # (N, width, H_max, W_max)


class RefineNet(nn.Module):
    """ResNet encoder + 4-cascaded RefineNet decoder."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        backbone: str = "resnet101",
        features: int = 256,
        crp_blocks: int = 4,
    ) -> None:
        super().__init__()
        if backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}")
        self.encoder: ResNet = BACKBONES[backbone](in_channels=in_channels, output_stride=32)
        top = 2 * features  # 512 channels for RefineNet-4, as in the paper
        widths = (features, features, features, top)
        self.reduce = nn.ModuleList(
            _conv3x3(c, w) for c, w in zip(self.encoder.out_channels[1:], widths, strict=True)
        )
        self.refine4 = RefineNetBlock((top,), top, crp_blocks)
        self.refine3 = RefineNetBlock((top, features), features, crp_blocks)
        self.refine2 = RefineNetBlock((features, features), features, crp_blocks)
        self.refine1 = RefineNetBlock((features, features), features, crp_blocks)
        self.head = nn.Sequential(
            ResidualConvUnit(features),
            ResidualConvUnit(features),
            nn.Conv2d(features, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes, H, W) for input (N, in_channels, H, W)."""
        x, (h, w) = pad_to_multiple(x, 32)
        feats = self.encoder.forward_features(x)[1:]  # layer1..layer4: 1/4 .. 1/32
        c1, c2, c3, c4 = (r(f) for r, f in zip(self.reduce, feats, strict=True))
        y = self.refine4(c4)  # (N, 512, H/32, W/32)
        y = self.refine3(y, c3)  # (N, 256, H/16, W/16)
        y = self.refine2(y, c2)  # (N, 256, H/8, W/8)
        y = self.refine1(y, c1)  # (N, 256, H/4, W/4)
        logits = resize_to(self.head(y), x.shape[-2:])  # (N, classes, Hp, Wp)
        return logits[..., :h, :w]


@register_model(
    "refinenet",
    paper="Lin et al., RefineNet: Multi-Path Refinement Networks for High-Resolution Semantic "
    "Segmentation, CVPR 2017",
    note="4-cascaded RefineNet on ResNet-101 (``backbone`` selects resnet50/34/18), 512 channels "
    "in RefineNet-4 and 256 elsewhere, 4 CRP blocks. The paper reports no parameter count or "
    "FLOPs; Nekrasov et al. (Light-Weight RefineNet, BMVC 2018) list 118.1M for RefineNet-101, "
    "ours is 118.0M at 21 classes.",
)
def refinenet(num_classes: int, in_channels: int = 3, backbone: str = "resnet101") -> RefineNet:
    """4-cascaded RefineNet with a ResNet-101 encoder by default."""
    return RefineNet(num_classes, in_channels, backbone)

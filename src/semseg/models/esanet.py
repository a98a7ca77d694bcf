"""ESANet-style two-branch RGB-D network (Seichter, Koehler, Lewandowski, Wengefeld, Gross,
"Efficient RGB-D Semantic Segmentation for Indoor Scene Analysis", ICRA 2021).

Two ResNet encoders, one for the colour channels and one for depth (or HHA). After the stem and
after each of the four stages the depth features are fused into the RGB stream with ESANet's
squeeze-and-excitation fusion, ``rgb <- SE_rgb(rgb) + SE_depth(depth)``; the depth stream goes on
unfused. A light decoder upsamples the deepest fused map, adding the fused skips at 1/16, 1/8 and
1/4. Input channels split as ``in_channels - depth_channels`` colour + ``depth_channels`` depth
(semseg's RGB-D datasets: 3 + 1; RGB + HHA: 3 + 3). With ``depth_channels=0`` the same network
has one branch: the RGB-only baseline (3 channels) or early fusion (all 4 channels in one
encoder), so the three variants differ only in how depth enters.

Differences from the paper: ResNet-18 BasicBlocks (not NBt1D ResNet-34), no pyramid context
module, a plain conv decoder (the paper's has NBt1D blocks and learned upsampling), trained from
scratch; inputs are zero-padded to a multiple of 32 and the logits cropped back.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.errors import ModelError
from semseg.models.backbones.resnet import resnet18, resnet34
from semseg.models.layers import ConvBNAct, pad_to_multiple
from semseg.models.registry import register_model

ENCODERS = {"resnet18": resnet18, "resnet34": resnet34}


class SqueezeExcite(nn.Module):
    """Channel attention: x * sigmoid(MLP(global average of x))."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        mid = max(1, channels // reduction)
        self.fc = nn.Sequential(nn.Conv2d(channels, mid, 1), nn.ReLU(inplace=True),
                                nn.Conv2d(mid, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean((2, 3), keepdim=True))  # (N, C, H, W)


class SEFusion(nn.Module):
    """ESANet's fusion: each modality re-weighted by its own SE block, then added."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.se_rgb, self.se_depth = SqueezeExcite(channels), SqueezeExcite(channels)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return self.se_rgb(rgb) + self.se_depth(depth)


def _stages(trunk: nn.Module) -> nn.ModuleList:
    """A ResNet trunk as 5 stages: stem (1/2), pool + layer1 (1/4), layer2..4 (1/8..1/32)."""
    return nn.ModuleList([trunk.stem, nn.Sequential(trunk.maxpool, trunk.layer1), trunk.layer2,
                          trunk.layer3, trunk.layer4])


class ESANet(nn.Module):
    """Two-branch (or, with ``depth_channels=0``, one-branch) encoder + additive-skip decoder."""

    def __init__(self, num_classes: int, in_channels: int = 4, depth_channels: int = 1,
                 encoder: str = "resnet18") -> None:
        super().__init__()
        if encoder not in ENCODERS:
            raise ModelError(f"unknown encoder {encoder!r}; choose from {', '.join(ENCODERS)}")
        if not 0 <= depth_channels < in_channels:
            raise ModelError(f"depth_channels must be 0..{in_channels - 1} for {in_channels} "
                             f"input channels, got {depth_channels}")
        self.rgb_channels = in_channels - depth_channels
        trunk = ENCODERS[encoder](self.rgb_channels)
        ch = trunk.out_channels  # [64, 64, 128, 256, 512]
        self.rgb = _stages(trunk)
        self.depth = _stages(ENCODERS[encoder](depth_channels)) if depth_channels else None
        self.fuse = nn.ModuleList(SEFusion(c) for c in ch) if depth_channels else None
        self.up = nn.ModuleList([ConvBNAct(ch[4], ch[3]), ConvBNAct(ch[3], ch[2]),
                                 ConvBNAct(ch[2], ch[1])])
        self.head = nn.Sequential(ConvBNAct(ch[1], ch[1]), nn.Conv2d(ch[1], num_classes, 1))

    def encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Fused features after the stem and each stage (1/2 .. 1/32)."""
        rgb, depth = x[:, : self.rgb_channels], x[:, self.rgb_channels:]
        feats = []
        for i, stage in enumerate(self.rgb):
            rgb = stage(rgb)
            if self.depth is not None:
                depth = self.depth[i](depth)
                rgb = self.fuse[i](rgb, depth)
            feats.append(rgb)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 32)
        feats = self.encode(x)
        d = feats[4]  # (N, 512, H/32, W/32)
        for conv, skip in zip(self.up, (feats[3], feats[2], feats[1]), strict=True):
            d = F.interpolate(conv(d), size=skip.shape[-2:], mode="bilinear",
                              align_corners=False) + skip  # 1/16, 1/8, 1/4
        out = F.interpolate(self.head(d), size=x.shape[-2:], mode="bilinear",
                            align_corners=False)
        return out[..., :h, :w]  # (N, K, H, W)


def default_depth_channels(in_channels: int) -> int:
    """Depth channels of semseg's inputs: 1 of 2 or 4 (RGB-D), 3 of 6 (RGB + HHA), else 0."""
    return {2: 1, 4: 1, 6: 3}.get(in_channels, 0)


@register_model(
    "esanet",
    paper="Seichter et al., Efficient RGB-D Semantic Segmentation for Indoor Scene Analysis, "
    "ICRA 2021",
    note="semseg's light variant: ResNet-18 branches, SE fusion, plain decoder",
)
def esanet(num_classes: int, in_channels: int = 3, depth_channels: int | None = None,
           encoder: str = "resnet18") -> ESANet:
    """Two-branch RGB-D ESANet; ``depth_channels`` defaults by the input channel count."""
    if depth_channels is None:
        depth_channels = default_depth_channels(in_channels)
    return ESANet(num_classes, in_channels, depth_channels, encoder)

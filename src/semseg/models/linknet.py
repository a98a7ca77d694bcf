"""LinkNet (Chaurasia & Culurciello, "LinkNet: Exploiting Encoder Representations for Efficient
Semantic Segmentation", VCIP 2017).

A ResNet-18 encoder (initial 7x7/2 conv + 3x3/2 max-pool, then encoder blocks 1-4) and four
decoder blocks (paper Fig. 3: 1x1 conv m -> m/4, 3x3 full-conv x2, 1x1 conv m/4 -> n, each with
BN + ReLU) whose outputs are *added* to the encoder output of the same resolution, so the
decoder recovers detail at almost no cost. The final block is a 3x3 full-conv (x2, 64 -> 32), a
3x3 conv and a 2x2 full-conv (x2) to the classes (paper Fig. 1). Decoder block 1 keeps the
resolution (encoder block 1 does not downsample in ResNet-18), as in the authors' code.
Difference: inputs of any size are zero-padded to a multiple of 32 and the logits cropped back;
the encoder is trained from scratch unless weights are loaded (the paper starts from ImageNet).
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.backbones.resnet import resnet18
from semseg.models.layers import ConvBNAct, pad_to_multiple
from semseg.models.registry import register_model


class DecoderBlock(nn.Module):
    """1x1 conv m -> m/4, 3x3 full conv (stride 1 or 2), 1x1 conv m/4 -> n; BN + ReLU after each."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 2) -> None:
        super().__init__()
        mid = in_ch // 4
        self.reduce = ConvBNAct(in_ch, mid, 1)
        self.full_conv = nn.Sequential(
            nn.ConvTranspose2d(mid, mid, 3, stride, 1, output_padding=stride - 1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
        )
        self.expand = ConvBNAct(mid, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.expand(self.full_conv(self.reduce(x)))  # (N, out_ch, stride*H, stride*W)


class LinkNet(nn.Module):
    """ResNet-18 encoder + additive-skip decoder."""

    def __init__(self, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        self.encoder = resnet18(in_channels)
        self.decoder4 = DecoderBlock(512, 256)
        self.decoder3 = DecoderBlock(256, 128)
        self.decoder2 = DecoderBlock(128, 64)
        self.decoder1 = DecoderBlock(64, 64, stride=1)
        self.head = nn.Sequential(
            nn.ConvTranspose2d(64, 32, 3, 2, padding=1, output_padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            ConvBNAct(32, 32, 3),
            nn.ConvTranspose2d(32, num_classes, 2, stride=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 32)
        _, e1, e2, e3, e4 = self.encoder.forward_features(x)  # 1/4, 1/8, 1/16, 1/32
        d = self.decoder4(e4) + e3  # (N, 256, H/16, W/16)
        d = self.decoder3(d) + e2  # (N, 128, H/8, W/8)
        d = self.decoder2(d) + e1  # (N, 64, H/4, W/4)
        d = self.decoder1(d)  # (N, 64, H/4, W/4)
        return self.head(d)[..., :h, :w]  # (N, K, H, W)


@register_model(
    "linknet",
    paper="Chaurasia & Culurciello, LinkNet: Exploiting Encoder Representations for Efficient"
    " Semantic Segmentation, VCIP 2017",
    paper_params=11.5e6,
    paper_gflops=21.2,
    note="paper Table 1: 11.5M parameters, 21.2 GFLOPs at 3x640x360",
)
def linknet(num_classes: int, in_channels: int = 3) -> LinkNet:
    """LinkNet with a ResNet-18 encoder."""
    return LinkNet(num_classes, in_channels)

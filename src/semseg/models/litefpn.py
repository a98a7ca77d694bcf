"""LiteFPN: an EfficientNet-Lite encoder with a light feature-pyramid decoder (camvid-litefpn).

Encoder: EfficientNet-Lite (Tan & Le, "EfficientNet", ICML 2019; Lite variants without SE,
ReLU6), ImageNet-initialized from PyPI weights. Decoder: a top-down pathway as in FPN (Lin et al.,
CVPR 2017) with depthwise-separable 3x3 smoothing, and an LR-ASPP-style global-context gate on
the stride-32 features (Howard et al., "Searching for MobileNetV3", ICCV 2019). Logits are
predicted at stride 4 and upsampled bilinearly. Built for CPU latency at 360x480.
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.backbones.efficientnet_lite import EfficientNetLite, load_imagenet_weights
from semseg.models.layers import ConvBNAct, resize_to
from semseg.models.registry import register_model


class SeparableConvBNAct(nn.Sequential):
    """Depthwise kxk conv-BN-ReLU followed by pointwise conv-BN-ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3) -> None:
        super().__init__(
            ConvBNAct(in_ch, in_ch, kernel_size, groups=in_ch),
            ConvBNAct(in_ch, out_ch, 1),
        )


class ContextGate(nn.Module):
    """1x1 projection of the deepest features, gated by their global average (LR-ASPP)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.project = ConvBNAct(in_ch, out_ch, 1)
        self.gate = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(x) * self.gate(x.mean(dim=(2, 3), keepdim=True))


class LiteFPN(nn.Module):
    """Encoder features at strides 4/8/16/32 fused top-down into stride-4 logits."""

    def __init__(self, num_classes: int, in_channels: int = 3, decoder_channels: int = 96) -> None:
        super().__init__()
        self.encoder = EfficientNetLite(in_channels)
        c2, c3, c4, c5 = self.encoder.out_channels[1:]
        d = decoder_channels
        self.context = ContextGate(c5, d)
        self.laterals = nn.ModuleList([ConvBNAct(c, d, 1) for c in (c4, c3, c2)])
        self.smooth = nn.ModuleList([SeparableConvBNAct(d, d) for _ in range(3)])
        self.classifier = nn.Conv2d(d, num_classes, 1)

    def load_pretrained_backbone(self) -> None:
        """Initialize the encoder with ImageNet weights."""
        load_imagenet_weights(self.encoder, "lite0")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats = self.encoder.forward_features(x)  # strides 2, 4, 8, 16, 32
        y = self.context(feats[4])  # (N, D, H/32, W/32)
        for lateral, smooth, skip in zip(self.laterals, self.smooth, feats[3:0:-1], strict=True):
            skip = lateral(skip)
            y = smooth(resize_to(y, skip.shape[-2:]) + skip)  # (N, D, H/s, W/s)
        return resize_to(self.classifier(y), size)  # (N, K, H, W)


@register_model(
    "litefpn",
    paper="EfficientNet-Lite0 encoder (Tan & Le, ICML 2019) + FPN-style decoder (camvid-litefpn)",
    note="semseg's own design; no paper figure",
)
def litefpn(num_classes: int, in_channels: int = 3, decoder_channels: int = 96) -> LiteFPN:
    """LiteFPN with an EfficientNet-Lite0 encoder."""
    return LiteFPN(num_classes, in_channels, decoder_channels)

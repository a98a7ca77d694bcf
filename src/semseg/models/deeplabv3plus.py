"""DeepLabv3+ (Chen et al., "Encoder-Decoder with Atrous Separable Convolution for Semantic Image
Segmentation", ECCV 2018).

Encoder: an atrous backbone at output stride 16 (or 8) followed by ASPP (Sec. 3.1): a 1x1 conv,
three 3x3 atrous separable convs at rates (6, 12, 18) (doubled at OS 8; halved, 3/6/9, at the
undilated OS 32, which the paper does not use), and image pooling, all
256 channels, concatenated and projected by a 1x1 conv. Decoder (Fig. 2): the 1/4-resolution
backbone features are reduced to 48 channels by a 1x1 conv, concatenated with the x4-upsampled
encoder output, refined by two 3x3 separable convs (256), classified by a 1x1 conv and
upsampled x4 (bilinear) to the input size.

Backbones: the aligned Xception-65 of the paper (``deeplabv3plus``) or MobileNetV2 at width 1.0
(``deeplabv3plus_mobilenetv2``; the DeepLab reference code drops ASPP and decoder for MobileNetV2,
this variant keeps the full head so that only the encoder differs). Inputs of any H, W are
zero-padded to a multiple of the output stride and the logits cropped back.
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.backbones.mobilenetv2 import mobilenet_v2
from semseg.models.backbones.xception import xception65
from semseg.models.layers import (
    ASPP,
    ConvBNAct,
    SeparableConvBNAct,
    check_output_stride,
    pad_to_multiple,
    resize_to,
)
from semseg.models.registry import register_model

# The paper doubles the rates at OS 8; OS 32 (no dilation in the trunk) halves them.
ASPP_RATES = {32: (3, 6, 9), 16: (6, 12, 18), 8: (12, 24, 36)}


class DeepLabV3Plus(nn.Module):
    """Backbone + ASPP encoder and the low-level-feature decoder of DeepLabv3+."""

    def __init__(
        self,
        encoder: nn.Module,
        num_classes: int,
        output_stride: int,
        low_level_index: int = 1,
        aspp_channels: int = 256,
        low_level_channels: int = 48,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.output_stride = output_stride
        self.low_level_index = low_level_index
        high_ch, low_ch = encoder.out_channels[-1], encoder.out_channels[low_level_index]
        self.aspp = ASPP(high_ch, aspp_channels, ASPP_RATES[output_stride], separable=True)
        self.low_proj = ConvBNAct(low_ch, low_level_channels, 1)
        self.refine = nn.Sequential(
            SeparableConvBNAct(aspp_channels + low_level_channels, 256),
            SeparableConvBNAct(256, 256),
        )
        self.classifier = nn.Conv2d(256, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes, H, W) for input (N, in_channels, H, W)."""
        x, (h, w) = pad_to_multiple(x, self.output_stride)
        feats = self.encoder.forward_features(x)
        low = self.low_proj(feats[self.low_level_index])  # (N, 48, H/4, W/4)
        high = resize_to(self.aspp(feats[-1]), low.shape[-2:])  # (N, 256, H/4, W/4)
        out = self.refine(torch.cat([high, low], dim=1))  # (N, 256, H/4, W/4)
        logits = resize_to(self.classifier(out), x.shape[-2:])  # (N, classes, Hp, Wp)
        return logits[..., :h, :w]


@register_model(
    "deeplabv3plus",
    paper="Chen et al., Encoder-Decoder with Atrous Separable Convolution (DeepLabv3+), ECCV 2018",
    paper_gflops=54.17,
    note="Aligned Xception-65, OS 16, separable ASPP and decoder. The GFLOPs figure is 54.17B "
    "multiply-adds at 513x513, OS 16 eval, single scale, as listed by the DeepLab model zoo "
    "of the paper's reference code (xception_coco_voc_trainaug); the paper states no parameter "
    "count (~41M is the figure commonly quoted); ours is 41.06M at 21 classes. "
    "output_stride 8 / 16 / 32 (ASPP rates 12-24-36 / 6-12-18 / 3-6-9), same weights.",
)
def deeplabv3plus(num_classes: int, in_channels: int = 3, output_stride: int = 16) -> DeepLabV3Plus:
    """DeepLabv3+ with the aligned Xception-65 backbone."""
    check_output_stride(output_stride, "deeplabv3plus")
    encoder = xception65(in_channels, output_stride)
    return DeepLabV3Plus(encoder, num_classes, output_stride)


@register_model(
    "deeplabv3plus_mobilenetv2",
    paper="Chen et al., Encoder-Decoder with Atrous Separable Convolution (DeepLabv3+), ECCV 2018",
    note="MobileNetV2 (width 1.0), OS 16, full DeepLabv3+ head. Not a configuration of the "
    "paper; the DeepLab model zoo's MobileNetV2 model (2.75B multiply-adds at 513x513) has no "
    "ASPP and no decoder, so it is not comparable. Ours is 2.72M parameters at 21 classes. "
    "output_stride 8, 16 or 32 as for deeplabv3plus.",
)
def deeplabv3plus_mobilenetv2(
    num_classes: int, in_channels: int = 3, output_stride: int = 16
) -> DeepLabV3Plus:
    """DeepLabv3+ with a MobileNetV2 (width 1.0) backbone."""
    check_output_stride(output_stride, "deeplabv3plus_mobilenetv2")
    encoder = mobilenet_v2(in_channels, 1.0, output_stride)
    return DeepLabV3Plus(encoder, num_classes, output_stride)

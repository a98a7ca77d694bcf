"""Mobile DeepLabv3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image
Segmentation", 2017) as published for phones: the "ASPP-lite" head of MobileNetV2's Sec. 6.3
(Sandler et al., CVPR 2018) on an output-stride-16 encoder (``output_stride`` 8 or 32 runs the
same weights with more or less dilation).

Head: a 1x1 conv branch and an image-pooling branch (global mean -> 1x1 conv -> broadcast),
concatenated (pooling first, as in TensorFlow's DeepLab) and projected by a 1x1 conv; no atrous
3x3 branches. A 1x1 classifier gives logits at 1/16 (1/OS), upsampled bilinearly with
``align_corners=True`` (TensorFlow's DeepLab resize) to the input size. Encoders:

- ``deeplabv3_mobilenetv2``: MobileNetV2 (width 1.0 or 0.5), head 256 channels, ReLU6; the
  TF model zoo's COCO + VOC model (74.3 mIoU VOC val) loads into it (``deeplabv3-mnv2-voc``).
- ``deeplabv3_edgetpu``: MobileNet-EdgeTPU, head 128 channels, ReLU; the EdgeTPU-DeepLab-slim
  Cityscapes model loads into it (``deeplab-edgetpu-cityscapes``).

Convolutions are followed by BatchNorm as in training; converted TFLite graphs have it folded
into the conv, which loads as identity statistics and the folded bias (semseg.models.tflite_import).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.models.backbones.mobilenet_edgetpu import mobilenet_edgetpu
from semseg.models.backbones.mobilenetv2 import mobilenet_v2
from semseg.models.layers import ConvBNAct, check_output_stride
from semseg.models.registry import register_model

DEEPLABV3 = "Chen et al., Rethinking Atrous Convolution for Semantic Image Segmentation, 2017"


class ASPPLite(nn.Module):
    """1x1 branch + image pooling, concatenated and projected (DeepLabv3's mobile head)."""

    def __init__(self, in_ch: int, channels: int, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        # The pooled branch sees one value per channel: a bias instead of BatchNorm, so that a
        # batch of one still trains (converted weights carry the folded BN in the bias).
        self.pool = nn.Sequential(nn.Conv2d(in_ch, channels, 1), act())
        self.branch = ConvBNAct(in_ch, channels, 1, act=act)
        self.project = ConvBNAct(2 * channels, channels, 1, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x.mean(dim=(2, 3), keepdim=True))  # (N, C, 1, 1)
        pooled = pooled.expand(-1, -1, x.shape[-2], x.shape[-1])  # (N, C, h, w)
        return self.project(torch.cat([pooled, self.branch(x)], dim=1))  # (N, C, h, w)


class DeepLabV3Mobile(nn.Module):
    """Encoder (output stride OS) -> ASPP-lite -> 1x1 classifier -> xOS bilinear upsampling."""

    def __init__(self, encoder: nn.Module, encoder_channels: int, num_classes: int,
                 head_channels: int = 256, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.encoder = encoder
        self.aspp = ASPPLite(encoder_channels, head_channels, act)
        self.dropout = nn.Dropout2d(0.1)  # TF DeepLab: keep_prob 0.9 before the logits
        self.classifier = nn.Conv2d(head_channels, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes, H, W); exact TF parity at sizes OS k + 1 (e.g. 513)."""
        logits = self.classifier(self.dropout(self.aspp(self.encoder(x))))  # (N, K, h, w)
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=True)


@register_model("deeplabv3_mobilenetv2", paper=DEEPLABV3, paper_params=2.11e6,
                note="MobileNetV2 1.0 + ASPP-lite, 21 classes (MobileNetV2 paper, Table 7); "
                "output_stride 16 (default), 8 or 32 with the same weights")
def deeplabv3_mobilenetv2(num_classes: int, in_channels: int = 3, width_mult: float = 1.0,
                          divisor: int = 8, output_stride: int = 16) -> DeepLabV3Mobile:
    """DeepLabv3 with a MobileNetV2 encoder (output stride 16) and the ASPP-lite head."""
    check_output_stride(output_stride, "deeplabv3_mobilenetv2")
    encoder = mobilenet_v2(in_channels, width_mult, output_stride, divisor)
    return DeepLabV3Mobile(encoder, encoder.out_channels[-1], num_classes, 256, nn.ReLU)


@register_model("deeplabv3_edgetpu", paper=DEEPLABV3,
                note="MobileNet-EdgeTPU (slim) + ASPP-lite 128, Cityscapes; output_stride 16 "
                "(default), 8 or 32 with the same weights")
def deeplabv3_edgetpu(num_classes: int, in_channels: int = 3,
                      output_stride: int = 16) -> DeepLabV3Mobile:
    """EdgeTPU-DeepLab-slim: MobileNet-EdgeTPU encoder, 128-channel ASPP-lite head."""
    check_output_stride(output_stride, "deeplabv3_edgetpu")
    encoder = mobilenet_edgetpu(in_channels, output_stride)
    return DeepLabV3Mobile(encoder, encoder.out_channels, num_classes, 128, nn.ReLU)

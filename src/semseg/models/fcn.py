"""FCN-32s / FCN-16s / FCN-8s (Long, Shelhamer & Darrell, "Fully Convolutional Networks for
Semantic Segmentation", CVPR 2015).

VGG-16 with fc6/fc7 turned into 7x7 and 1x1 convolutions, a 1x1 class scorer, and transposed-conv
upsampling initialised to bilinear interpolation and learned (paper Sec. 3.3, 4.2). FCN-16s adds
a zero-initialised score of pool4 to the 2x-upsampled coarse score; FCN-8s adds pool3 as well.

Differences from the paper: instead of padding the first conv by 100 pixels and cropping with
offsets, the input is zero-padded to a multiple of 32 and fc6 is padded by 3, so score maps align
by construction; the last upsampling is learned too (the paper fixes it to bilinear).
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.backbones.vgg import vgg16
from semseg.models.layers import pad_to_multiple
from semseg.models.registry import register_model

PAPER = "Long et al., Fully Convolutional Networks for Semantic Segmentation, CVPR 2015"
PAPER_NOTE = "paper Table 1: FCN-VGG16 134M parameters (PASCAL VOC, 21 classes)"


def bilinear_kernel(channels: int, kernel_size: int) -> torch.Tensor:
    """(C, C, k, k) transposed-conv weight that upsamples each channel bilinearly."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float32)
    filt_1d = 1 - (og - center).abs() / factor  # (k,)
    weight = torch.zeros(channels, channels, kernel_size, kernel_size)
    weight[range(channels), range(channels)] = filt_1d[:, None] * filt_1d[None, :]
    return weight


def _upsample(channels: int, factor: int) -> nn.ConvTranspose2d:
    """Learned x``factor`` upsampling (kernel 2f, stride f), bilinear at initialisation."""
    up = nn.ConvTranspose2d(channels, channels, 2 * factor, factor, factor // 2, bias=False)
    with torch.no_grad():
        up.weight.copy_(bilinear_kernel(channels, 2 * factor))
    return up


def _zero_conv1x1(in_ch: int, out_ch: int) -> nn.Conv2d:
    """Skip scorer initialised to zero, so a new skip starts from the coarser net's output."""
    conv = nn.Conv2d(in_ch, out_ch, 1)
    nn.init.zeros_(conv.weight)
    nn.init.zeros_(conv.bias)
    return conv


class FCN(nn.Module):
    """FCN-VGG16 with 0, 1 (pool4) or 2 (pool4, pool3) skip connections."""

    def __init__(
        self, num_classes: int, in_channels: int = 3, skips: int = 0, fc_width: int = 4096
    ) -> None:
        super().__init__()
        self.encoder = vgg16(in_channels, batch_norm=False)
        self.head = nn.Sequential(  # fc6 / fc7 as convolutions, with the paper's dropout
            nn.Conv2d(512, fc_width, 7, padding=3),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.5),
            nn.Conv2d(fc_width, fc_width, 1),
            nn.ReLU(inplace=True),
            nn.Dropout2d(0.5),
        )
        self.score_fr = nn.Conv2d(fc_width, num_classes, 1)
        self.skips = skips
        if skips == 0:
            self.upscore = _upsample(num_classes, 32)
            return
        self.score_pool4 = _zero_conv1x1(512, num_classes)
        self.upscore2 = _upsample(num_classes, 2)
        if skips == 1:
            self.upscore = _upsample(num_classes, 16)
            return
        self.score_pool3 = _zero_conv1x1(256, num_classes)
        self.upscore_pool4 = _upsample(num_classes, 2)
        self.upscore = _upsample(num_classes, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 32)
        feats = self.encoder.forward_features(x)
        score = self.score_fr(self.head(feats[4]))  # (N, K, H/32, W/32)
        if self.skips >= 1:
            score = self.upscore2(score) + self.score_pool4(feats[3])  # (N, K, H/16, W/16)
        if self.skips >= 2:
            score = self.upscore_pool4(score) + self.score_pool3(feats[2])  # (N, K, H/8, W/8)
        return self.upscore(score)[..., :h, :w]  # (N, K, H, W)


@register_model("fcn32s", paper=PAPER, paper_params=134e6, note=PAPER_NOTE)
def fcn32s(num_classes: int, in_channels: int = 3, fc_width: int = 4096) -> FCN:
    """FCN-32s: single-stream, 32x upsampled prediction."""
    return FCN(num_classes, in_channels, skips=0, fc_width=fc_width)


@register_model("fcn16s", paper=PAPER, paper_params=134e6, note=PAPER_NOTE)
def fcn16s(num_classes: int, in_channels: int = 3, fc_width: int = 4096) -> FCN:
    """FCN-16s: adds a pool4 skip before 16x upsampling."""
    return FCN(num_classes, in_channels, skips=1, fc_width=fc_width)


@register_model("fcn8s", paper=PAPER, paper_params=134e6, note=PAPER_NOTE)
def fcn8s(num_classes: int, in_channels: int = 3, fc_width: int = 4096) -> FCN:
    """FCN-8s: adds pool4 and pool3 skips before 8x upsampling."""
    return FCN(num_classes, in_channels, skips=2, fc_width=fc_width)

"""SegNet (Badrinarayanan, Kendall & Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder
Architecture for Image Segmentation", TPAMI 2017) and Bayesian SegNet (Kendall, Badrinarayanan
& Cipolla, "Bayesian SegNet: Model Uncertainty in Deep Convolutional Encoder-Decoder
Architectures for Scene Understanding", BMVC 2017 / arXiv 2015).

Encoder: the 13 convs of VGG16-BN, each stage ending in a 2x2 max-pool that keeps its indices.
Decoder: mirrored stages that first max-unpool with the stored indices (sparse upsampling, no
learned upsampling weights), then apply 3x3 conv-BN-ReLU; the last conv of each decoder stage
reduces the width to the next stage's, and a final 3x3 conv scores the classes.
Bayesian SegNet adds dropout (p=0.5) after the three deepest encoder stages (after pool3, pool4,
pool5) and after the three deepest decoder stages (their last conv), the paper's best
"Central Enc-Dec" variant; run it with ``semseg.inference.uncertainty.mc_dropout_predict``.

Differences from the papers: inputs of any size are zero-padded to a multiple of 32 and the
logits cropped back (the papers' Caffe pooling rounds odd sizes up instead);
unpooling is a scatter with the same result as ``nn.MaxUnpool2d``, which ONNX export needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from semseg.models.backbones.vgg import VGG16_STAGES, conv_stage, vgg16
from semseg.models.layers import ConvBNAct, max_unpool2d, pad_to_multiple
from semseg.models.registry import register_model

SEGNET_PAPER = (
    "Badrinarayanan et al., SegNet: A Deep Convolutional Encoder-Decoder Architecture for Image"
    " Segmentation, TPAMI 2017"
)
BAYESIAN_PAPER = (
    "Kendall et al., Bayesian SegNet: Model Uncertainty in Deep Convolutional Encoder-Decoder"
    " Architectures for Scene Understanding, BMVC 2017"
)
PARAMS_NOTE = (
    "29.46M as reported in ENet (Paszke et al. 2016) Table 3; 286 GFLOPs there at 3x640x360;"
    " the SegNet paper gives the encoder as 14.7M"
)


def _decoder_widths(stages: tuple[tuple[int, ...], ...]) -> list[tuple[int, ...]]:
    """Mirrored decoder widths: (512,512,512), (512,512,256), (256,256,128), (128,64), (64,)."""
    widths = []
    for i in reversed(range(len(stages))):
        out_ch = stages[i - 1][-1] if i > 0 else stages[0][0]
        n = len(stages[i]) if i > 0 else len(stages[0]) - 1  # last stage ends in the classifier
        widths.append((stages[i][-1],) * (n - 1) + (out_ch,))
    return widths


def encode_decode(
    x: torch.Tensor,
    encoders: nn.ModuleList,
    decoders: nn.ModuleList,
    dropout: nn.Module,
    dropout_stages: tuple[int, ...],
) -> torch.Tensor:
    """Encoder stages each followed by a 2x2 max-pool (indices kept), then decoder stages each
    preceded by max-unpooling with those indices; ``dropout`` after the numbered stages."""
    pooled = []  # (indices, pre-pool size) per encoder stage
    for stage_no, stage in enumerate(encoders, start=1):
        x = stage(x)  # (N, C, h, w)
        size = x.shape[-2:]
        x, idx = F.max_pool2d(x, 2, 2, return_indices=True)  # (N, C, h/2, w/2)
        pooled.append((idx, size))
        if stage_no in dropout_stages:
            x = dropout(x)
    # Decoder i mirrors encoder i, so decoder stages count down from the deepest.
    for stage_no, stage in zip(range(len(decoders), 0, -1), decoders, strict=True):
        idx, size = pooled.pop()
        x = stage(max_unpool2d(x, idx, size))  # (N, C', 2h, 2w)
        if stage_no in dropout_stages:
            x = dropout(x)
    return x


class SegNet(nn.Module):
    """VGG16-BN encoder, index-unpooling decoder; optional central dropout (Bayesian SegNet)."""

    def __init__(self, num_classes: int, in_channels: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        self.encoder = vgg16(in_channels, batch_norm=True)
        in_chs = [VGG16_STAGES[i][-1] for i in reversed(range(len(VGG16_STAGES)))]
        self.decoder = nn.ModuleList(
            conv_stage(cin, widths, batch_norm=True)
            for cin, widths in zip(in_chs, _decoder_widths(VGG16_STAGES), strict=True)
        )
        self.classifier = nn.Conv2d(VGG16_STAGES[0][0], num_classes, 3, padding=1)
        # Stage numbers (1 = shallowest) after which dropout acts, in encoder and decoder.
        self.dropout_stages = (3, 4, 5) if dropout > 0 else ()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 32)
        x = encode_decode(x, self.encoder.stages, self.decoder, self.dropout, self.dropout_stages)
        return self.classifier(x)[..., :h, :w]  # (N, K, H, W)


@register_model("segnet", paper=SEGNET_PAPER, paper_params=29.46e6, paper_gflops=286.03,
                note=PARAMS_NOTE)
def segnet(num_classes: int, in_channels: int = 3) -> SegNet:
    """SegNet with a VGG16-BN encoder and max-unpooling decoder."""
    return SegNet(num_classes, in_channels, dropout=0.0)


@register_model("bayesian_segnet", paper=BAYESIAN_PAPER, paper_params=29.46e6,
                paper_gflops=286.03, note="same weights as SegNet (dropout adds none); "
                + PARAMS_NOTE)
def bayesian_segnet(num_classes: int, in_channels: int = 3, dropout: float = 0.5) -> SegNet:
    """SegNet with dropout after the central three encoder and decoder stages."""
    return SegNet(num_classes, in_channels, dropout=dropout)


class SegNetBasic(nn.Module):
    """SegNet-Basic (SegNet paper, Sec. 4): 4 encoders and 4 decoders of one 7x7 conv, 64 ch.

    Encoders: conv-BN-ReLU then 2x2 max-pool keeping indices; decoders: max-unpool then conv-BN
    without ReLU (as in the paper); a 1x1 conv scores the classes. With ``dropout`` > 0 it is
    Bayesian SegNet-Basic with dropout after the two deepest encoders and decoders ("central").
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: int = 64,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(
            ConvBNAct(in_channels if i == 0 else width, width, 7) for i in range(4))
        self.decoders = nn.ModuleList(ConvBNAct(width, width, 7, act=None) for _ in range(4))
        self.classifier = nn.Conv2d(width, num_classes, 1)
        self.dropout_stages = (3, 4) if dropout > 0 else ()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, (h, w) = pad_to_multiple(x, 16)
        x = encode_decode(x, self.encoders, self.decoders, self.dropout, self.dropout_stages)
        return self.classifier(x)[..., :h, :w]  # (N, K, H, W)


@register_model("segnet_basic", paper=SEGNET_PAPER, paper_params=1.425e6,
                note="SegNet-Basic, the paper's smaller analysis network (Table 1: 1.425M)")
def segnet_basic(num_classes: int, in_channels: int = 3, width: int = 64) -> SegNetBasic:
    """SegNet-Basic: 4 encoder/decoder pairs of 7x7 convs."""
    return SegNetBasic(num_classes, in_channels, width)


@register_model("bayesian_segnet_basic", paper=BAYESIAN_PAPER, paper_params=1.425e6,
                note="Bayesian SegNet-Basic: SegNet-Basic with central dropout")
def bayesian_segnet_basic(num_classes: int, in_channels: int = 3, width: int = 64,
                          dropout: float = 0.5) -> SegNetBasic:
    """SegNet-Basic with dropout after the two deepest encoders and decoders."""
    return SegNetBasic(num_classes, in_channels, width, dropout)

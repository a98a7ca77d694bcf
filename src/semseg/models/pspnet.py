"""PSPNet (Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017).

A dilated ResNet (deep 3x3 stem, output stride 8: layer3 dilation 2, layer4 dilation 4) feeds
the pyramid pooling module (Sec. 3.2, Fig. 3): average pooling to 1x1, 2x2, 3x3 and 6x6 bins,
a 1x1 conv to C/4 channels per level, bilinear upsampling, concatenation with the input
features, then a 3x3 conv (512), dropout 0.1 and a 1x1 classifier. An auxiliary FCN head on
layer3 (Sec. 3.3, "deeply supervised", loss weight 0.4) is only computed by ``forward_with_aux``.

Export: the pyramid pooling uses ``adaptive_avg_pool2d_static`` (averaging matrices fixed by the
feature size), so ONNX export works at any *fixed* input size, including sizes whose feature map
is not divisible by the bins, and matches ``adaptive_avg_pool2d`` in eager mode. Dynamic H/W in
an exported graph is not supported: the pooling weights are baked in for the exported size.
``output_stride`` 16 (layer4 dilation 2) or 32 (no dilation) trades resolution for speed with the
same weights (the paper uses 8). Inputs of any H, W are zero-padded to a multiple of the output
stride and the logits cropped back.
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.errors import ConfigError
from semseg.models.backbones.resnet import ResNet, resnet18, resnet34, resnet50, resnet101
from semseg.models.layers import (
    ConvBNAct,
    PyramidPoolingModule,
    check_output_stride,
    pad_to_multiple,
    resize_to,
)
from semseg.models.registry import register_model

BACKBONES = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet101": resnet101,
}


def dilated_resnet(name: str, in_channels: int, output_stride: int = 8,
                   model: str = "PSPNet") -> ResNet:
    """PSPNet's trunk (also ICNet's): the named ResNet with the deep stem, at output stride 8
    by default; a bad ``output_stride`` raises ``ModelError`` naming ``model``."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    check_output_stride(output_stride, model)
    return BACKBONES[name](in_channels=in_channels, output_stride=output_stride, deep_stem=True)


def _fcn_head(in_ch: int, mid_ch: int, num_classes: int) -> nn.Sequential:
    """3x3 conv-BN-ReLU -> dropout 0.1 -> 1x1 classifier (PSPNet's final and auxiliary heads)."""
    return nn.Sequential(
        ConvBNAct(in_ch, mid_ch, 3), nn.Dropout2d(0.1), nn.Conv2d(mid_ch, num_classes, 1)
    )


class PSPNet(nn.Module):
    """Dilated ResNet + pyramid pooling module + auxiliary head on layer3."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        backbone: str = "resnet50",
        bins: tuple[int, ...] = (1, 2, 3, 6),
        aux_weight: float = 0.4,
        output_stride: int = 8,
    ) -> None:
        super().__init__()
        self.encoder = dilated_resnet(backbone, in_channels, output_stride)
        self.output_stride = output_stride
        c3_ch, c4_ch = self.encoder.out_channels[3:]
        self.ppm = PyramidPoolingModule(c4_ch, bins, c4_ch // len(bins))
        # 512 / 256 channels for ResNet-50/101 as in the paper; a quarter of the input otherwise.
        self.head = _fcn_head(self.ppm.out_channels, c4_ch // 4, num_classes)
        self.aux_head = _fcn_head(c3_ch, c3_ch // 4, num_classes)
        self.aux_weights: dict[str, float] = {"aux": aux_weight}

    def _trunk(self, x: torch.Tensor) -> tuple[list[torch.Tensor], tuple[int, int], torch.Size]:
        """Backbone features of the padded input, the original size and the padded size."""
        padded, size = pad_to_multiple(x, self.output_stride)
        return self.encoder.forward_features(padded), size, padded.shape[-2:]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes, H, W) for input (N, in_channels, H, W)."""
        feats, (h, w), padded = self._trunk(x)
        logits = self.head(self.ppm(feats[4]))  # (N, classes, Hp/OS, Wp/OS)
        return resize_to(logits, padded)[..., :h, :w]

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Main logits and the layer3 auxiliary logits, both at the input size."""
        feats, (h, w), padded = self._trunk(x)
        logits = resize_to(self.head(self.ppm(feats[4])), padded)[..., :h, :w]
        aux = resize_to(self.aux_head(feats[3]), padded)[..., :h, :w]  # (N, classes, H, W)
        return logits, {"aux": aux}


@register_model(
    "pspnet",
    paper="Zhao et al., Pyramid Scene Parsing Network, CVPR 2017",
    note="Dilated ResNet-50 (deep stem, OS 8), bins 1/2/3/6, aux head on layer3 (weight 0.4). "
    "The paper reports no parameter count or FLOPs; ours is 49.1M at 21 classes (46.7M "
    "without the auxiliary head, which is training-only). output_stride=16 or 32 runs the "
    "same weights with less dilation (faster, coarser).",
)
def pspnet(num_classes: int, in_channels: int = 3, backbone: str = "resnet50",
           output_stride: int = 8) -> PSPNet:
    """PSPNet with the paper's dilated ResNet-50 (``backbone`` selects another ResNet)."""
    return PSPNet(num_classes, in_channels, backbone, output_stride=output_stride)


@register_model(
    "pspnet_resnet18",
    paper="Zhao et al., Pyramid Scene Parsing Network, CVPR 2017",
    note="Light variant (not in the paper): dilated ResNet-18 with deep stem, head widths "
    "scaled to a quarter of the backbone channels; output_stride 8 (default), 16 or 32.",
)
def pspnet_resnet18(num_classes: int, in_channels: int = 3, output_stride: int = 8) -> PSPNet:
    """PSPNet with a dilated ResNet-18 trunk."""
    return PSPNet(num_classes, in_channels, "resnet18", output_stride=output_stride)

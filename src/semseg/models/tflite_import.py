"""Loading TensorFlow Lite models into semseg's own modules, by TensorFlow scope name.

Each architecture lists its convolutions with the TensorFlow scope that trained them
(``tflite_scopes``); the weights of the ``.tflite`` graph are dequantized (semseg.fileio.tflite)
and copied in. The graphs have batch norm folded into each conv: the folded bias goes into the
module's BatchNorm as its bias, with identity statistics (mean 0, variance 1 - eps, weight 1),
so the converted module computes the same function and still trains like the original.

Example:
    >>> model = create_model("deeplabv3_mobilenetv2", 21)
    >>> load_tflite_weights(model, read_tflite("deeplabv3_mnv2_pascal_quant.tflite"))
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from semseg.errors import ModelError
from semseg.fileio.tflite import TFLiteGraph
from semseg.models.backbones.mobilenet_edgetpu import MobileNetEdgeTPU
from semseg.models.backbones.mobilenetv2 import MobileNetV2
from semseg.models.deeplabv3_mobile import DeepLabV3Mobile
from semseg.models.mobile_blocks import MobileBlock
from semseg.models.mosaic import Mosaic

Layer = tuple[str, nn.Sequential]  # (TensorFlow scope, Sequential starting with its Conv2d)
SPP = "spatial_pyramid_pooling_multikernel_conv"


def _block_name(prefix: str, i: int) -> str:
    return f"{prefix}/expanded_conv" + (f"_{i}" if i else "")


def _mobilenetv2(enc: MobileNetV2, prefix: str) -> Iterator[Layer]:
    yield f"{prefix}/Conv", enc.stem
    blocks = [b for stage in enc.stages for b in stage]
    for i, block in enumerate(blocks):
        parts = ("expand", "depthwise", "project")[-len(block.conv):]
        for part, layer in zip(parts, block.conv, strict=True):
            yield f"{_block_name(prefix, i)}/{part}", layer


def _mobile_blocks(blocks: nn.ModuleList, prefix: str) -> Iterator[Layer]:
    for i, block in enumerate(blocks):
        assert isinstance(block, MobileBlock)
        depthwise = [layer[0].groups > 1 for layer in block.expand]
        names = ["depthwise" if dw else "expand" for dw in depthwise]
        for part, layer in zip(names, block.expand, strict=True):
            yield f"{_block_name(prefix, i)}/{part}", layer
        yield f"{_block_name(prefix, i)}/project", block.project


def _deeplabv3(model: DeepLabV3Mobile) -> Iterator[Layer]:
    enc = model.encoder
    if isinstance(enc, MobileNetV2):
        yield from _mobilenetv2(enc, "MobilenetV2")
    elif isinstance(enc, MobileNetEdgeTPU):
        yield "MobilenetEdgeTPU/Conv", enc.stem
        yield from _mobile_blocks(enc.blocks, "MobilenetEdgeTPU")
        yield "MobilenetEdgeTPU/Conv_1", enc.head
    else:
        raise ModelError(f"no TFLite layout for a DeepLabv3 with a {type(enc).__name__} encoder")
    yield "image_pooling", model.aspp.pool
    yield "aspp0", model.aspp.branch
    yield "concat_projection", model.aspp.project
    yield "logits/semantic", nn.Sequential(model.classifier)


def _mosaic(model: Mosaic) -> Iterator[Layer]:
    enc = model.encoder
    yield "MobilenetV3/Conv", enc.stem
    yield from _mobile_blocks(enc.blocks, "MobilenetV3")
    yield "MobilenetV3/Conv_1", enc.head
    for i, branch in enumerate(model.context, start=1):
        for split, (dw, pw) in enumerate(branch.convs):
            name = f"{SPP}/{SPP}{i}multikernel_split{split}"
            yield f"{name}_depthwise", dw
            yield f"{name}_pointwise", pw
    yield f"{SPP}/concat_projection", model.context_proj
    for part, layer in zip(("decoder_feature_conv_0", "decoder_separable_conv_0_depthwise",
                            "decoder_separable_conv_0_pointwise"), model.fuse_eighth, strict=True):
        yield f"decoder/{part}", layer
    yield "decoder/decoder_feature_projected1_1", model.proj_quarter


def tflite_scopes(model: nn.Module) -> list[Layer]:
    """Every conv of ``model`` with the TensorFlow scope of its weights in the TFLite graph."""
    if isinstance(model, DeepLabV3Mobile):
        return list(_deeplabv3(model))
    if isinstance(model, Mosaic):
        return list(_mosaic(model))
    raise ModelError(f"{type(model).__name__}: no TFLite weight layout is known for it")


@torch.no_grad()
def _assign(scope: str, layer: nn.Sequential, weight: torch.Tensor, bias: torch.Tensor) -> None:
    conv = layer[0]
    if tuple(conv.weight.shape) != tuple(weight.shape):
        raise ModelError(f"TFLite conv {scope!r}: weight {tuple(weight.shape)} does not fit "
                         f"the module's {tuple(conv.weight.shape)}")
    conv.weight.copy_(weight)
    bn = layer[1] if len(layer) > 1 and isinstance(layer[1], nn.BatchNorm2d) else None
    if bn is None:
        conv.bias.copy_(bias)
        return
    bn.weight.fill_(1.0)
    bn.bias.copy_(bias)
    bn.running_mean.zero_()
    bn.running_var.fill_(1.0 - bn.eps)  # sqrt(var + eps) == 1: BN adds the folded bias only


def load_tflite_weights(model: nn.Module, graph: TFLiteGraph) -> nn.Module:
    """Copy the graph's dequantized conv weights into ``model``; every conv must be used."""
    params = graph.conv_params()
    layers = tflite_scopes(model)
    missing = [scope for scope, _ in layers if scope not in params]
    unused = sorted(set(params) - {scope for scope, _ in layers})
    if missing or unused:
        raise ModelError(f"TFLite graph does not match {type(model).__name__}: missing "
                         f"{missing[:3]}, unused {unused[:3]}")
    for scope, layer in layers:
        w, b = params[scope]
        _assign(scope, layer, torch.from_numpy(w), torch.from_numpy(b))
    return model.eval()

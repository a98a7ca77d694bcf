"""The whole ``Segmenter.predict`` path as one ONNX graph: frame in, mask out.

``pipeline_graph`` wraps an exported network graph (fixed input size, ``semseg.export.onnx``)
with the same pre- and post-processing as ``semseg.inference.segmenter``::

    frame (N, H, W, 3) uint8
      -> float, NCHW, (x - 255 * mean) / (255 * std)      (data.transforms.normalize)
      -> bilinear resize to the network's input (h, w)     (segmenter.fit_input)
      -> network -> logits (N, K', h, w)
      -> first K channels, bilinear resize to (H, W), argmax over classes  (segmenter.class_map)
      -> mask (N, H, W) int64; the logits are a second output (for lazy probabilities)

The frame's height and width are dynamic, so one ONNX Runtime session serves every frame size.
Resizes are ONNX ``Resize`` (linear, half-pixel centres, no antialiasing: torch's
``interpolate(..., mode="bilinear", align_corners=False)``) and the argmax keeps the first of
tied classes, like ``max(1).indices``.

Why: with ``runtime="onnxruntime"`` the network ran in ONNX Runtime's thread pool and the
resizes, normalization and argmax in torch's and OpenCV's, and on 2 cores the pools' spinning
threads slowed each other down (benchmarks/latency.py: the 288x384 LiteFPN student took 44 ms
end to end on 2 threads where its network alone took 25 ms). In one graph all of it runs in one
pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

FRAME_NAME, MASK_NAME = "frame", "mask"
MIN_OPSET = 15  # Shape with start/end
_P = "pipeline/"  # prefix of every tensor and node added here: no clash with the network's names


def padded_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """(H, W) rounded up to multiples of ``stride``: what a frame is replicate-padded to."""
    return (-(-size[0] // stride) * stride, -(-size[1] // stride) * stride)


def _resize(helper: Any, x: str, hw: str, out: str, tag: str) -> list:
    """Nodes resizing NCHW ``x`` to the (2,) int64 size tensor ``hw`` (N and C kept) into
    ``out``; their own tensors are named ``pipeline/<tag>/...``."""
    nc, sizes = f"{_P}{tag}/nc", f"{_P}{tag}/sizes"
    return [
        helper.make_node("Shape", [x], [nc], end=2, name=nc),
        helper.make_node("Concat", [nc, hw], [sizes], axis=0, name=sizes),
        helper.make_node("Resize", [x, "", "", sizes], [out], mode="linear",
                         coordinate_transformation_mode="half_pixel", name=f"{_P}{tag}"),
    ]


def pipeline_graph(network: Any, mean: Sequence[float], std: Sequence[float],
                   num_classes: int, input_size: tuple[int, int] | None = None, stride: int = 32,
                   input_name: str = "image", output_name: str = "logits",
                   out_channels: int | None = None) -> Any:
    """A new ``onnx.ModelProto``: ``network`` (an ``onnx.ModelProto`` whose NCHW input is named
    ``input_name``) between the pre- and post-processing above. With ``input_size`` (h, w) the
    frame is resized to it and the logits back; without, the frame is replicate-padded
    bottom/right to a multiple of ``stride`` and the logits cropped back (``fit_input``).
    Inputs: ``frame`` (N, H, W, C) uint8. Outputs: ``mask`` (N, H, W) int64 and the network's
    ``output_name`` (N, K', h, w) float32. Only when ``out_channels`` (K') is unknown or more
    than ``num_classes`` does the graph slice the first ``num_classes`` logits (a copy)."""
    import onnx  # optional dependency (semseg[onnx]), imported on use

    helper, tp = onnx.helper, onnx.TensorProto
    model = onnx.ModelProto()
    model.CopyFrom(network)
    graph = model.graph
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < MIN_OPSET:
        raise ValueError(f"the pipeline needs ONNX opset >= {MIN_OPSET} (Shape start/end); the "
                         f"network graph has {opset}")
    (image,) = [i for i in graph.input if i.name == input_name]
    channels = image.type.tensor_type.shape.dim[1].dim_value
    if len(mean) != channels or len(std) != channels:
        raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for {channels} channels")

    def const(name: str, value: Any, dtype: Any = np.int64) -> str:
        graph.initializer.append(onnx.numpy_helper.from_array(np.asarray(value, dtype), _P + name))
        return _P + name

    def node(op: str, inputs: list[str], name: str, **attrs: Any) -> Any:
        return helper.make_node(op, inputs, [_P + name], name=_P + name, **attrs)

    mean_255 = const("mean", 255.0 * np.asarray(mean, np.float32).reshape(1, -1, 1, 1),
                     np.float32)
    std_255 = const("std", 255.0 * np.asarray(std, np.float32).reshape(1, -1, 1, 1), np.float32)
    pre = [
        node("Cast", [FRAME_NAME], "float", to=tp.FLOAT),
        node("Transpose", [_P + "float"], "nchw", perm=[0, 3, 1, 2]),
        node("Sub", [_P + "nchw", mean_255], "centred"),
        node("Div", [_P + "centred", std_255], "normalized"),
        node("Shape", [FRAME_NAME], "frame_hw", start=1, end=3),  # (H, W)
    ]
    logits = output_name
    post = []
    if out_channels is None or out_channels > num_classes:
        logits = _P + "class_logits"
        post.append(node("Slice", [output_name, const("zero", [0]), const("classes", [num_classes]),
                                   const("one", [1])], "class_logits"))
    if input_size is not None:
        pre += _resize(helper, _P + "normalized", const("input_hw", input_size), input_name,
                       "resize_in")
        post += _resize(helper, logits, _P + "frame_hw", _P + "full", "resize_out")
    else:
        # pad (stride - H mod stride) mod stride rows and columns at the bottom/right
        s = const("stride", [stride])
        pre += [
            node("Mod", [_P + "frame_hw", s], "rest"),
            node("Sub", [s, _P + "rest"], "missing"),
            node("Mod", [_P + "missing", s], "pad_hw"),
            node("Concat", [const("zeros6", [0] * 6), _P + "pad_hw"], "pads", axis=0),
            helper.make_node("Pad", [_P + "normalized", _P + "pads"], [input_name],
                             mode="edge", name=_P + "pad"),
        ]
        post.append(helper.make_node(
            "Slice", [logits, const("zeros2", [0, 0]), _P + "frame_hw",
                      const("hw_axes", [2, 3])], [_P + "full"], name=_P + "crop"))
    post.append(helper.make_node("ArgMax", [_P + "full"], [MASK_NAME], axis=1, keepdims=0,
                                 select_last_index=0, name=_P + "argmax"))
    nodes = [*pre, *graph.node, *post]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.input.remove(image)
    graph.input.insert(0, helper.make_tensor_value_info(
        FRAME_NAME, tp.UINT8, ["batch", "frame_height", "frame_width", channels]))
    graph.output.insert(0, helper.make_tensor_value_info(
        MASK_NAME, tp.INT64, ["batch", "frame_height", "frame_width"]))
    onnx.checker.check_model(model)
    return model

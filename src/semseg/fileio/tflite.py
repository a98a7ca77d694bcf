"""Reading TensorFlow Lite flatbuffers: tensors, dequantized weights and the operator list.

Only what converting a quantized convolutional network into PyTorch needs: each tensor's name,
shape, type, quantization (per-tensor or per-channel ``scale * (q - zero_point)``) and constant
data, and the operators in execution order with their input/output tensor indices. Parsing uses
the ``tflite`` package (the generated flatbuffer schema); nothing is executed.

Example:
    >>> graph = read_tflite("deeplabv3_mnv2_pascal_quant.tflite")
    >>> w, b = graph.conv_params()["MobilenetV2/Conv"]  # OIHW float32 weight, float32 bias
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semseg.errors import ModelError

# TensorType enum of the TFLite schema -> numpy dtype (the types these models use).
DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8,
          7: np.int16}
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


@dataclass(frozen=True)
class TFLiteTensor:
    """One tensor of the graph; ``data`` is None for activations."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: np.ndarray  # (1,) or (channels,); empty when not quantized
    zero_point: np.ndarray
    quantized_dim: int
    data: np.ndarray | None

    @property
    def quant_range(self) -> tuple[float, float] | None:
        """(min, max) float values a per-tensor uint8/int8 activation can hold, else None."""
        if self.scale.size != 1 or self.dtype not in (np.uint8, np.int8):
            return None
        info = np.iinfo(self.dtype)
        s, z = float(self.scale[0]), float(self.zero_point[0])
        return s * (info.min - z), s * (info.max - z)

    def dequantize(self) -> np.ndarray:
        """The constant data as float32 (``scale * (q - zero_point)`` along ``quantized_dim``)."""
        if self.data is None:
            raise ModelError(f"tensor {self.name!r} has no constant data")
        if self.scale.size == 0:
            return self.data.astype(np.float32)
        shape = [1] * self.data.ndim
        if self.scale.size > 1:
            shape[self.quantized_dim] = -1
        scale = self.scale.reshape(shape).astype(np.float64)
        zero = self.zero_point.reshape(shape).astype(np.float64)
        return (scale * (self.data.astype(np.float64) - zero)).astype(np.float32)


@dataclass(frozen=True)
class TFLiteOp:
    """One operator: its builtin name and tensor indices (-1 for an omitted optional input)."""

    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class TFLiteGraph:
    """The first subgraph of a model: tensors, operators, graph inputs and outputs."""

    tensors: tuple[TFLiteTensor, ...]
    ops: tuple[TFLiteOp, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]

    def conv_params(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Scope -> (weight (O, I/groups, kH, kW), bias (O,)) of every conv, float32.

        The scope is the weight's TensorFlow name without its last part, e.g.
        ``MobilenetV2/expanded_conv_3/depthwise`` for ``.../depthwise/depthwise_Fold``.
        """
        params = {}
        for op in self.ops:
            if op.kind not in CONV_OPS:
                continue
            w_t, b_t = self.tensors[op.inputs[1]], self.tensors[op.inputs[2]]
            w = w_t.dequantize()  # CONV_2D: (O, kH, kW, I); DEPTHWISE: (1, kH, kW, C)
            depthwise = op.kind == "DEPTHWISE_CONV_2D"
            w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)
            scope = w_t.name.split(";")[0].rsplit("/", 1)[0]
            params[scope] = (np.ascontiguousarray(w), b_t.dequantize())
        return params

    def producer(self, tensor: int) -> TFLiteOp | None:
        """The operator that writes ``tensor`` (None for graph inputs and constants)."""
        return next((op for op in self.ops if tensor in op.outputs), None)


def _tensor(t, buffers) -> TFLiteTensor:
    dtype = np.dtype(DTYPES.get(t.Type(), np.uint8))
    shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    q = t.Quantization()
    scale = q.ScaleAsNumpy() if q is not None and q.ScaleLength() else np.zeros(0, np.float32)
    zero = q.ZeroPointAsNumpy() if q is not None and q.ZeroPointLength() else np.zeros_like(scale)
    raw = buffers[t.Buffer()]
    data = np.frombuffer(raw, dtype=dtype).reshape(shape) if raw is not None else None
    return TFLiteTensor(t.Name().decode(), shape, dtype, np.asarray(scale, np.float32),
                        np.asarray(zero, np.int64), q.QuantizedDimension() if q else 0, data)


def read_tflite(path: str | os.PathLike) -> TFLiteGraph:
    """Parse a ``.tflite`` file; raises ``ModelError`` naming the file when it is not one."""
    import tflite  # the flatbuffer schema; only needed to convert

    p = Path(path)
    buf = p.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ModelError(f"{p}: not a TensorFlow Lite flatbuffer (no 'TFL3' identifier)")
    model = tflite.Model.GetRootAsModel(buf, 0)
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    buffers = []
    for i in range(model.BuffersLength()):
        b = model.Buffers(i)
        if b.Offset() > 1:  # large models keep data after the flatbuffer
            buffers.append(buf[b.Offset(): b.Offset() + b.Size()])
        else:
            buffers.append(b.DataAsNumpy().tobytes() if b.DataLength() else None)
    g = model.Subgraphs(0)
    tensors = tuple(_tensor(g.Tensors(i), buffers) for i in range(g.TensorsLength()))
    ops = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        ops.append(TFLiteOp(kind, tuple(int(x) for x in op.InputsAsNumpy()),
                            tuple(int(x) for x in op.OutputsAsNumpy())))
    return TFLiteGraph(tensors, tuple(ops), tuple(int(x) for x in g.InputsAsNumpy()),
                       tuple(int(x) for x in g.OutputsAsNumpy()))

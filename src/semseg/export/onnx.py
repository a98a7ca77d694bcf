"""Export a segmentation model to ONNX and check it against eager PyTorch with ONNX Runtime.

Example:
    >>> from semseg.models import create_model
    >>> model = create_model("enet", num_classes=11)
    >>> path = export_onnx(model, "enet.onnx", input_size=(360, 480))
    >>> onnx_parity(model, path, torch.randn(2, 3, 360, 480)) < 1e-4
    True

The graph has a fixed H, W (the models pad to their stride from the static input size) and, by
default, a dynamic batch axis. It is written with torch's TorchScript-based exporter
(``dynamo=False``): in torch 2.13 the default dynamo exporter needs the extra ``onnxscript``
package and cannot down-convert its opset-18 ``Pad`` to opset 17, while the TorchScript exporter
writes opset 17 directly with no extra dependency.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semseg.errors import ConfigError, InputFileError

INPUT_NAME, OUTPUT_NAME = "image", "logits"


def export_onnx(
    model: nn.Module,
    path: str | os.PathLike[str],
    input_size: tuple[int, int] = (360, 480),
    in_channels: int = 3,
    opset: int = 17,
    dynamic_batch: bool = True,
    dynamic_size: bool = False,
) -> Path:
    """Write ``model`` (in eval mode) as ONNX to ``path`` atomically; returns the path.

    ``dynamic_size`` also marks height and width dynamic; whether the traced graph is right at
    other sizes depends on the architecture (shape arithmetic in Python becomes constant), so
    callers check it (``semseg.export.runtime`` does).
    """
    h, w = input_size
    if h < 1 or w < 1 or in_channels < 1:
        raise ConfigError(f"input_size and in_channels must be positive, got {input_size}, "
                          f"{in_channels}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target, so os.replace is an atomic rename on one filesystem.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    dummy = torch.zeros(1, in_channels, h, w, device=device)
    dims = ({0: "batch"} if dynamic_batch else {}) | ({2: "height", 3: "width"}
                                                     if dynamic_size else {})
    axes = {INPUT_NAME: dims, OUTPUT_NAME: dims} if dims else None
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of dynamo (see module docstring),
            # and tracing warns that shape arithmetic (padding to the stride) becomes constant,
            # which is exactly the fixed-H, W export intended here.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            torch.onnx.export(
                model, (dummy,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                opset_version=opset, dynamic_axes=axes, dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        model.train(was_training)
    return path


def require_onnxruntime() -> Any:
    """The ``onnxruntime`` module; a ``ConfigError`` saying how to install it when missing."""
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError("ONNX Runtime is not installed: pip install onnxruntime (or "
                          "pip install 'semseg[onnx]'), or use runtime 'torch'") from None
    return onnxruntime


def onnx_session(path: str | os.PathLike[str] | bytes, threads: int | None = None,
                 device: str = "cpu") -> Any:
    """An ONNX Runtime session of a graph file (or serialized graph) with ``threads`` intra-op
    threads (default: torch's count) on the CPU or CUDA provider."""
    ort = require_onnxruntime()
    cuda = torch.device(device) if device.startswith("cuda") else None
    provider = "CPUExecutionProvider" if cuda is None else "CUDAExecutionProvider"
    if provider not in ort.get_available_providers():
        raise ConfigError(f"onnxruntime {ort.__version__} has no {provider} here; available: "
                          f"{', '.join(ort.get_available_providers())}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1  # one model, run sequentially: all threads inside ops
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: graph-cleanup warnings are not the user's
    providers = [provider] if cuda is None else [(provider, {"device_id": cuda.index or 0})]
    source = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(source, options, providers=providers)


def onnx_parity(model: nn.Module, path: str | os.PathLike[str], x: torch.Tensor,
                relative: bool = False) -> float:
    """Max absolute difference between eager (eval mode) and ONNX Runtime logits for ``x``;
    ``relative``: divided by max(1, largest |eager logit|), the scale float32 rounding grows
    with."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"ONNX file {path} does not exist")
    session = onnx_session(path)
    graph_shape = session.get_inputs()[0].shape  # ints, or a name for the dynamic batch axis
    if any(isinstance(g, int) and g != s for g, s in zip(graph_shape, x.shape, strict=True)):
        raise ConfigError(f"input shape {tuple(x.shape)} does not fit the ONNX graph's "
                          f"{graph_shape} in {path}; export at this input size")
    (got,) = session.run([OUTPUT_NAME], {INPUT_NAME: x.detach().cpu().float().numpy()})
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            device = next((p.device for p in model.parameters()), x.device)
            expected = model(x.to(device)).float().cpu()  # (N, K, H, W)
    finally:
        model.train(was_training)
    if tuple(got.shape) != tuple(expected.shape):
        raise ConfigError(f"ONNX output shape {tuple(got.shape)} != eager {tuple(expected.shape)}")
    diff = float((torch.from_numpy(got) - expected).abs().max())
    return diff / max(1.0, float(expected.abs().max())) if relative else diff

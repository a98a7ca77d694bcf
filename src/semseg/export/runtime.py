"""Where a ``Segmenter``'s network runs: eager PyTorch, or its ONNX export under ONNX Runtime.

``OnnxModel`` wraps a model and is called like it (``(N, C, H, W)`` in, logits out), so padding,
resizing, test-time augmentation and sliding windows in ``semseg.inference.segmenter`` work
unchanged. The
ONNX graph is exported once and cached in ``semseg.hub.pretrained.cache_dir() / "onnx"``, named by

    <arch>-<sha256 of the weights>-<HxW or "dynamic">-opset<N>-torch<version>.onnx

(the weights hash covers every tensor of the state dict, so any change of weights, classes or
architecture arguments makes a new file). Files are written atomically, so concurrent processes
never read a half-written graph. A model with a fixed input size (``spec.input_size``, e.g. the
default CamVid model) gets one graph at that size. Other models are exported with dynamic height
and width, and that graph is used only after it matched eager PyTorch at two sizes; otherwise
(shape arithmetic that tracing froze) one fixed-size graph is exported per padded input size,
and an empty ``<name>.fixed`` marker remembers not to try again.

Example:
    >>> seg = Segmenter.from_pretrained("default", runtime="onnxruntime")
    >>> seg.predict("street.jpg").mask.shape
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from semseg.errors import ConfigError
from semseg.export.onnx import (
    INPUT_NAME,
    OUTPUT_NAME,
    export_onnx,
    onnx_session,
    require_onnxruntime,
)
from semseg.export.pipeline import FRAME_NAME, MASK_NAME, padded_size, pipeline_graph
from semseg.hub.checkpoint import ModelSpec

RUNTIMES = ("torch", "onnxruntime")
OPSET = 17
DYNAMIC_TOLERANCE = 1e-3  # max |eager - ORT| logit difference for a dynamic graph to be used


def check_runtime(runtime: str) -> str:
    """``runtime`` if it is one of ``RUNTIMES``, else a ``ConfigError`` listing them."""
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
    return runtime


def weights_sha256(model: nn.Module) -> str:
    """Hex sha256 over the names, dtypes, shapes and bytes of every state-dict tensor."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def onnx_cache_dir() -> Path:
    """``<semseg cache>/onnx``: exported graphs, reused across processes."""
    from semseg.hub.pretrained import cache_dir

    return cache_dir() / "onnx"


class OnnxModel(nn.Module):
    """A model's ONNX export run by ONNX Runtime, called like the model: logits (N, K, H, W)."""

    def __init__(self, model: nn.Module, spec: ModelSpec, device: str = "cpu",
                 threads: int | None = None, opset: int = OPSET) -> None:
        super().__init__()
        require_onnxruntime()
        self._eager = [model.eval()]  # a list: not a submodule, so .to()/.state_dict() skip it
        self.spec, self.device, self.threads, self.opset = spec, device, threads, opset
        self.sha256 = weights_sha256(model)
        self._sessions: dict[Any, Any] = {}  # (H, W) or "dynamic" -> InferenceSession
        self._dynamic: bool | None = None if spec.input_size is None else False

    def graph_path(self, size: tuple[int, int] | None) -> Path:
        """Cache file of the graph for input ``size`` (``None``: dynamic height and width)."""
        tag = "dynamic" if size is None else f"{size[0]}x{size[1]}"
        version = torch.__version__.replace("+", "_")
        name = f"{self.spec.arch}-{self.sha256}-{tag}-opset{self.opset}-torch{version}.onnx"
        return onnx_cache_dir() / name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (int(x.shape[-2]), int(x.shape[-1]))
        if self._dynamic is None:
            self._dynamic = self._try_dynamic(size)
        session = self._session(None if self._dynamic else size)
        feed = {INPUT_NAME: x.detach().float().cpu().numpy()}
        (logits,) = session.run([OUTPUT_NAME], feed)  # (N, K, H, W) float32
        return torch.from_numpy(logits).to(x.device)

    def predict_frames(self, frames: np.ndarray, mean: Sequence[float], std: Sequence[float],
                       num_classes: int, stride: int = 32) -> tuple[np.ndarray, np.ndarray]:
        """Masks (N, H, W) int64 and logits (N, K', h, w) of (N, H, W, 3) uint8 frames from one
        ONNX Runtime call of the whole pipeline (``semseg.export.pipeline``): normalize with
        ``mean``/``std``, resize to ``spec.input_size`` (or pad to ``stride``), network, first
        ``num_classes`` logits resized (or cropped) back, argmax."""
        h, w = frames.shape[1:3]
        size = self.spec.input_size
        if size is not None:
            net_size: tuple[int, int] | None = (int(size[0]), int(size[1]))
        else:
            padded = padded_size((h, w), stride)
            if self._dynamic is None:
                self._dynamic = self._try_dynamic(padded)
            net_size = None if self._dynamic else padded
        key = ("pipeline", net_size, tuple(mean), tuple(std), num_classes, stride)
        if key not in self._sessions:
            network = self._network_proto(net_size)
            resize_to = net_size if size is not None else None  # else pad to the stride
            graph = pipeline_graph(network, mean, std, num_classes, resize_to, stride,
                                   INPUT_NAME, OUTPUT_NAME, self.spec.out_channels)
            self._sessions[key] = onnx_session(graph.SerializeToString(), self.threads,
                                               self.device)
        masks, logits = self._sessions[key].run([MASK_NAME, OUTPUT_NAME],
                                                {FRAME_NAME: np.ascontiguousarray(frames)})
        return masks, logits

    def _network_proto(self, size: tuple[int, int] | None) -> Any:
        """The network's ONNX graph for input ``size`` (None: dynamic) as an ``onnx.ModelProto``:
        the cached file, or exported (and cached when the cache is writable)."""
        import onnx

        path = self.graph_path(size)
        if path.is_file():
            try:
                return onnx.load(str(path))
            except Exception:  # an unreadable cached file: export it again
                path.unlink(missing_ok=True)
        with self._scratch() as tmp:
            graph = self._export(Path(tmp) / path.name, size or self._example_size(),
                                 size is None)
            network = onnx.load(str(graph))
            self._keep(graph, path)
        return network

    def _session(self, size: tuple[int, int] | None) -> Any:
        key = "dynamic" if size is None else size
        if key not in self._sessions:
            path = self.graph_path(size)
            if path.is_file():
                try:
                    self._sessions[key] = onnx_session(path, self.threads, self.device)
                    return self._sessions[key]
                except ConfigError:
                    raise
                except Exception:  # an unreadable cached file: export it again
                    path.unlink(missing_ok=True)
            with self._scratch() as tmp:
                example = size or self._example_size()
                graph = self._export(Path(tmp) / path.name, example, size is None)
                self._sessions[key] = onnx_session(graph, self.threads, self.device)
                self._keep(graph, path)
        return self._sessions[key]

    def _export(self, path: Path, size: tuple[int, int], dynamic: bool) -> Path:
        return export_onnx(self._eager[0], path, size, in_channels=self.spec.in_channels,
                           opset=self.opset, dynamic_size=dynamic)

    @staticmethod
    def _scratch() -> tempfile.TemporaryDirectory:
        """A temporary folder inside the cache (so a rename into it is atomic), else in /tmp."""
        try:
            onnx_cache_dir().mkdir(parents=True, exist_ok=True)
            return tempfile.TemporaryDirectory(prefix=".export-", dir=onnx_cache_dir())
        except OSError:  # read-only cache: nothing is kept, the graph lives in the session
            return tempfile.TemporaryDirectory(prefix="semseg-onnx-")

    @staticmethod
    def _keep(graph: Path, path: Path) -> None:
        """Move a checked graph into the cache atomically (best effort)."""
        with contextlib.suppress(OSError):
            os.replace(graph, path)

    def _example_size(self) -> tuple[int, int]:
        return tuple(self.spec.input_size or (256, 320))  # type: ignore[return-value]

    def _try_dynamic(self, size: tuple[int, int]) -> bool:
        """Whether the dynamic-size graph matches eager PyTorch at ``size`` and a second size."""
        path = self.graph_path(None)
        marker = path.with_suffix(".fixed")
        if marker.is_file():
            return False
        if path.is_file():
            return True  # only graphs that passed the check below are ever cached
        with self._scratch() as tmp:
            graph = self._export(Path(tmp) / path.name, size, dynamic=True)
            if not all(self._matches(graph, s) for s in (size, (size[0] + 32, size[1] + 64))):
                with contextlib.suppress(OSError):
                    marker.touch()
                return False
            self._sessions["dynamic"] = onnx_session(graph, self.threads, self.device)
            self._keep(graph, path)
        return True

    def _matches(self, path: Path, size: tuple[int, int]) -> bool:
        x = torch.randn(1, self.spec.in_channels, *size, generator=torch.Generator().manual_seed(0))
        try:
            (got,) = onnx_session(path, self.threads).run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})
        except Exception:  # the graph fails to run at this size: not dynamic
            return False
        model = self._eager[0]
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with torch.inference_mode():
            expected = model(x.to(device)).float().cpu().numpy()
        return got.shape == expected.shape and bool(
            np.abs(got - expected).max() <= DYNAMIC_TOLERANCE)

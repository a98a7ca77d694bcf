"""Running a trained model: padding, resizing, sliding windows, test-time augmentation.

``predict_logits`` is the one path from a uint8 batch to logits at the image size (normalize,
then ``infer_logits``: resize or pad, window, TTA, back); training validation, ``semseg eval``
(both through ``semseg.metrics.evaluate``), ``semseg predict``, ``Segmenter`` and the server use it.
``Segmenter`` pairs a model with its ``ModelSpec`` and turns images into ``SegmentationResult``.

Example:
    >>> seg = Segmenter.from_pretrained("model.safetensors")
    >>> result = seg.predict("street.jpg", tta=True)
    >>> result.class_shares()  # {'road': 0.41, 'sky': 0.22, ...}
    >>> result.save("out", "street")  # street_mask.png, street_color.png, street_overlay.png
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from semseg.data.info import DatasetInfo
from semseg.data.transforms import normalize, to_chw
from semseg.device import resolve_device
from semseg.errors import ConfigError
from semseg.export.runtime import OnnxModel, check_runtime
from semseg.fileio.images import read_image
from semseg.hub.checkpoint import ModelSpec
from semseg.inference.result import SegmentationResult
from semseg.models.layers import resize_to

DEFAULT_TTA_SCALES = (0.75, 1.0, 1.25)
ImageLike = str | os.PathLike | np.ndarray | Image.Image


def fast_resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``resize_to`` (bilinear, half-pixel centres, no antialiasing) of (N, C, h, w), done by
    OpenCV plane by plane for CPU float32 tensors outside autograd: 3-7x faster than torch's
    kernel on one thread (benchmarks/latency.py --profile), and within 1e-4 of the value range
    of it (OpenCV's interpolation weights are float approximations). OpenCV runs on torch's
    thread count."""
    size = (int(size[0]), int(size[1]))
    if (tuple(x.shape[-2:]) == size or x.device.type != "cpu" or x.dtype != torch.float32
            or x.requires_grad or x.dim() != 4):
        return resize_to(x, size)
    import cv2

    if cv2.getNumThreads() != torch.get_num_threads():
        cv2.setNumThreads(torch.get_num_threads())
    n, c, h, w = x.shape
    planes = x.detach().reshape(n * c, h, w).contiguous().numpy()  # (N*C, h, w)
    out = np.empty((n * c, *size), dtype=np.float32)
    for i, plane in enumerate(planes):
        out[i] = cv2.resize(plane, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy(out).view(n, c, *size)


def fit_input(
    x: torch.Tensor, input_size: tuple[int, int] | None, stride: int
) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """Resize ``x`` to ``input_size`` (or, without one, replicate-pad bottom/right to a
    multiple of ``stride``); returns the network input and the function that maps an output
    (N, K, h, w) back to ``x``'s size (bilinear resize, or crop)."""
    h, w = x.shape[-2:]
    if input_size is not None:
        return fast_resize(x, input_size), lambda t: fast_resize(t, (h, w))
    ph, pw = (-h) % stride, (-w) % stride
    if ph or pw:
        # Replicating the border gives the model plausible context, unlike a flat fill.
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")  # (N, C, H + ph, W + pw)
    return x, lambda t: t[..., :h, :w]


def _pad_run(model: nn.Module, x: torch.Tensor, stride: int) -> torch.Tensor:
    """Replicate-pad bottom/right to a multiple of ``stride``, run, crop the logits back."""
    xs, back = fit_input(x, None, stride)
    return back(model(xs))  # (N, K, H, W)


def _tile_starts(length: int, tile: int, step: int) -> list[int]:
    """Evenly spread tile origins; the first tile starts at 0 and the last ends at ``length``."""
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / step) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _gaussian_weight(th: int, tw: int, device: torch.device) -> torch.Tensor:
    """(th, tw) weights peaking at the tile centre (sigma = tile / 4), where context is fullest."""

    def g(n: int) -> torch.Tensor:
        t = torch.arange(n, dtype=torch.float32, device=device) - (n - 1) / 2
        return torch.exp(-0.5 * (t / (n / 4)) ** 2)

    return g(th)[:, None] * g(tw)[None, :]


def _window_run(
    model: nn.Module, x: torch.Tensor, window: tuple[int, int], overlap: float, stride: int
) -> torch.Tensor:
    """Sliding-window logits: tiles of ``window`` averaged with Gaussian weights on overlaps."""
    th, tw = window
    h, w = x.shape[-2:]
    # Images smaller than a tile are padded up to it so the model always sees whole tiles.
    x = F.pad(x, (0, max(tw - w, 0), 0, max(th - h, 0)), mode="replicate")  # (N, C, H', W')
    big_h, big_w = x.shape[-2:]
    weight = _gaussian_weight(th, tw, x.device)  # (th, tw)
    total, norm = None, torch.zeros(big_h, big_w, device=x.device)
    steps = (max(1, int(th * (1 - overlap))), max(1, int(tw * (1 - overlap))))
    for top in _tile_starts(big_h, th, steps[0]):
        for left in _tile_starts(big_w, tw, steps[1]):
            logits = _pad_run(model, x[..., top:top + th, left:left + tw], stride)  # (N, K, th, tw)
            if total is None:
                total = logits.new_zeros(*logits.shape[:2], big_h, big_w)  # (N, K, H', W')
            total[..., top:top + th, left:left + tw] += logits.float() * weight
            norm[top:top + th, left:left + tw] += weight
    return (total / norm)[..., :h, :w]  # (N, K, H, W)


def _run_once(
    model: nn.Module,
    x: torch.Tensor,
    input_size: tuple[int, int] | None,
    stride: int,
    window: tuple[int, int] | None,
    overlap: float,
    resize_back: bool = True,
) -> torch.Tensor:
    """Logits at ``x``'s size from one view: window tiles, a fixed input size, or padding."""
    if window is not None:
        return _window_run(model, x, window, overlap, stride)
    xs, back = fit_input(x, input_size, stride)
    logits = model(xs)  # (N, K, h, w)
    return back(logits) if resize_back or input_size is None else logits


def class_map(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, H, W) int64 argmax over classes of ``logits`` (N, K, h, w) resized to ``size``.

    The argmax of the logits is the argmax of their softmax, so no softmax is computed; and
    ``max(1).indices`` is used because torch's ``argmax(1)`` over the channels of an NCHW tensor
    was measured several times slower (benchmarks/latency.py --profile).
    """
    return fast_resize(logits, size).max(1).indices


def _check_options(scales: Sequence[float], window: tuple[int, int] | None, overlap: float,
                   stride: int) -> None:
    if not scales or any(not s > 0 for s in scales):
        raise ConfigError(f"test-time scales must be positive numbers, got {tuple(scales)}")
    if window is not None and (len(window) != 2 or min(window) < 8):
        raise ConfigError(f"sliding window must be (height, width) >= 8 each, got {window}")
    if not 0.0 <= overlap < 1.0:
        raise ConfigError(f"sliding-window overlap must be in [0, 1), got {overlap}")
    if stride < 1:
        raise ConfigError(f"stride must be >= 1, got {stride}")


def _scaled(size: Sequence[int], s: float) -> tuple[int, int]:
    return max(1, round(size[0] * s)), max(1, round(size[1] * s))


def infer_logits(
    model: nn.Module,
    x: torch.Tensor,
    *,
    input_size: tuple[int, int] | None = None,
    stride: int = 32,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    window: tuple[int, int] | None = None,
    overlap: float = 1 / 3,
    resize_back: bool = True,
) -> torch.Tensor:
    """Logits (N, K, H, W) at the size of the normalized batch ``x`` (N, C, H, W).

    One view (``scales=(1.0,)``, no flip) returns the model's raw logits. With several views
    (scales and/or horizontal flip) it returns the LOG OF THE AVERAGED SOFTMAX PROBABILITIES, so
    ``softmax(result)`` is always the (averaged) class probabilities and ``argmax`` the labels.

    ``input_size`` (H, W): resize to it, run, resize logits back (bilinear); with scales the
    target is ``input_size * scale``. Otherwise the input is replicate-padded bottom/right to a
    multiple of ``stride`` and the logits cropped back. ``window`` (h, w): sliding-window tiles
    with ``overlap`` (fraction of the tile), Gaussian-weighted logits averaged where tiles
    overlap; for images much larger than the training crops (``window`` takes precedence over
    ``input_size``, and each tile is padded to ``stride``). The model runs in eval mode under
    ``torch.inference_mode``; its previous train/eval mode is restored afterwards.
    ``resize_back=False`` leaves one view's logits at ``input_size`` (the caller resizes).
    """
    _check_options(scales, window, overlap, stride)
    size = tuple(x.shape[-2:])
    views = [(s, f) for s in scales for f in ((False, True) if flip else (False,))]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if views == [(1.0, False)]:
                return _run_once(model, x, input_size, stride, window, overlap, resize_back)
            total = None
            for s, f in views:
                xs = x if s == 1.0 else fast_resize(x, _scaled(size, s))  # (N, C, sH, sW)
                target = _scaled(input_size, s) if input_size is not None else None
                logits = _run_once(model, xs.flip(-1) if f else xs, target, stride, window,
                                   overlap)
                logits = logits.flip(-1) if f else logits
                probs = fast_resize(logits.float(), size).softmax(1)  # (N, K, H, W)
                total = probs if total is None else total + probs
            return (total / len(views)).clamp_min(1e-12).log()  # (N, K, H, W)
    finally:
        model.train(was_training)


@dataclass(frozen=True)
class InferenceOptions:
    """How a network is run over an image (see ``infer_logits``); the same for training
    validation, ``semseg eval``, ``semseg predict`` and ``Segmenter``."""

    input_size: tuple[int, int] | None = None  # (H, W) network input; None: pad to ``stride``
    stride: int = 32  # the largest output stride of the zoo; padding to it suits all models
    scales: tuple[float, ...] = (1.0,)  # test-time scales (relative to the input size)
    flip: bool = False  # also average the horizontal flip
    window: tuple[int, int] | None = None  # sliding-window tile (H, W); overrides input_size
    overlap: float = 1 / 3  # sliding-window overlap, a fraction of the tile


def predict_logits(
    model: nn.Module,
    images: torch.Tensor,
    info: DatasetInfo,
    options: InferenceOptions | None = None,
    resize_back: bool = True,
) -> torch.Tensor:
    """Logits (N, K, H, W) for a batch of (N, C, H, W) uint8 images (RGB-D: float 0..255).

    The one preprocessing + inference path: normalize with ``info``'s mean/std, then
    ``infer_logits`` (resize or pad, window, TTA, back to the image size unless
    ``resize_back=False``).
    """
    o = options or InferenceOptions()
    return infer_logits(model, normalize(images, info), input_size=o.input_size,
                        stride=o.stride, scales=o.scales, flip=o.flip, window=o.window,
                        overlap=o.overlap, resize_back=resize_back)


def _as_rgb(image: ImageLike) -> np.ndarray:
    """A path, PIL image or array -> (H, W, 3) uint8 RGB."""
    if isinstance(image, str | os.PathLike):
        return read_image(image)
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB")).copy()
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ConfigError(f"image arrays must be uint8 RGB, got dtype {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ConfigError(f"image arrays must be (H, W, 3) RGB, got shape {arr.shape}")
    return arr


def _device(device: str | torch.device) -> torch.device:
    return resolve_device(str(device))  # auto | cpu | cuda | cuda:N, checked (semseg.device)


def _softmax_at(logits: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(1, C, h, w) logits -> (C, H, W) float32 softmax at ``size`` (a result's lazy probs)."""
    with torch.inference_mode():
        return fast_resize(logits, size).softmax(1)[0].cpu().numpy()


def _uncertainty_maps(t: torch.Tensor | None) -> torch.Tensor | None:
    """(N, [K,] h, w) map -> (N, 1, h, w); per-class maps (e.g. variance) are averaged."""
    if t is None:
        return None
    t = t.float()
    return t.mean(1, keepdim=True) if t.dim() == 4 else t[:, None]


class Segmenter:
    """A model with its spec (classes, palette, normalization): images in, results out.

    When the model has more outputs than the spec has classes (``spec.num_outputs``, e.g. a
    Cityscapes model with an extra "ignore" channel), the extra outputs are dropped before the
    softmax: they are never predicted, and ``probs`` are renormalized over the real classes.

    ``runtime="onnxruntime"`` runs the network's ONNX export (made once, cached by weights hash,
    input size, opset and torch version; see ``semseg.export.runtime``) with ONNX Runtime on torch's
    thread count. On the CPU, a single-view prediction then runs as ONE graph (normalize, resize
    or pad, network, resize or crop back, argmax: ``semseg.export.pipeline``), so that no torch
    or OpenCV thread pool competes with ONNX Runtime's; ``one_graph=False`` runs only the network
    there and the rest in the same torch/OpenCV code as ``runtime="torch"`` (TTA, sliding
    windows and Monte-Carlo dropout always do).
    """

    def __init__(self, model: nn.Module, spec: ModelSpec, device: str | torch.device = "cpu",
                 runtime: str = "torch", one_graph: bool = True):
        self.device = _device(device)
        self.runtime = check_runtime(runtime)
        self.one_graph = one_graph
        self.model = model.to(self.device).eval()
        self.spec = spec
        self.stride = 32  # the largest output stride of the zoo; padding to it suits all models
        # What infer_logits calls: the eager model, or its ONNX graph behind the same call.
        self.net = (self.model if runtime == "torch"
                    else OnnxModel(self.model, spec, device=self.device.type))

    @property
    def info(self):
        """The model's ``DatasetInfo`` (classes, palette, normalization)."""
        return self.spec.info

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, device: str = "cpu",
                        runtime: str = "torch", one_graph: bool = True) -> Segmenter:
        """Load a ``.pt``/``.safetensors`` file or a pretrained name
        (``semseg.hub.loading.load``)."""
        from semseg.hub import loading

        model, spec = loading.load(name_or_path, device=device)
        return cls(model, spec, device, runtime, one_graph)

    def predict(
        self,
        image: ImageLike,
        *,
        tta: bool = False,
        scales: Sequence[float] | None = None,
        window: tuple[int, int] | None = None,
        mc_samples: int = 0,
    ) -> SegmentationResult:
        """Segment one image (path, (H, W, 3) uint8 RGB array or PIL image)."""
        return self.predict_batch([image], tta=tta, scales=scales, window=window,
                                  mc_samples=mc_samples)[0]

    def predict_batch(
        self,
        images: Sequence[ImageLike],
        *,
        tta: bool = False,
        scales: Sequence[float] | None = None,
        window: tuple[int, int] | None = None,
        mc_samples: int = 0,
    ) -> list[SegmentationResult]:
        """Segment several images; images of equal size share one forward pass.

        ``tta`` adds horizontal flips and, unless ``scales`` is given, scales 0.75/1/1.25.
        ``mc_samples > 0`` runs Monte-Carlo dropout and fills ``result.uncertainty``.
        """
        if mc_samples < 0:
            raise ConfigError(f"mc_samples must be >= 0, got {mc_samples}")
        if mc_samples and self.runtime != "torch":
            raise ConfigError("Monte-Carlo dropout (mc_samples, --uncertainty) needs runtime "
                              f"'torch'; the {self.runtime} graph has dropout removed")
        arrays = [_as_rgb(im) for im in images]
        scales = tuple(scales) if scales else (DEFAULT_TTA_SCALES if tta else (1.0,))
        options = InferenceOptions(self.spec.input_size, self.stride, scales, tta, window)
        results: list[SegmentationResult | None] = [None] * len(arrays)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, arr in enumerate(arrays):
            by_size.setdefault(arr.shape[:2], []).append(i)
        for idx in by_size.values():
            batch = [arrays[i] for i in idx]
            for i, res in zip(idx, self._run(batch, options, mc_samples), strict=True):
                results[i] = res
        return results  # type: ignore[return-value]

    def _run(self, arrays: list[np.ndarray], options: InferenceOptions,
             mc_samples: int) -> list[SegmentationResult]:
        size = arrays[0].shape[:2]
        uncertainty: dict[str, list[np.ndarray]] = {}
        # The fused path comes before any torch op: waking torch's thread pool (even for the
        # stack below) slowed ONNX Runtime's threads for the rest of the call on 2 cores.
        fused = None if mc_samples > 0 else self._fused(arrays, options)
        if fused is not None:
            masks, logits = fused
        else:
            x = torch.stack([to_chw(a) for a in arrays]).to(self.device)  # (N, 3, H, W) uint8
            if mc_samples > 0:
                mc, uncertainty = self._mc_probs(x, mc_samples)  # (N, C, H, W)
                masks = mc.max(1).indices.cpu().numpy()  # (N, H, W)
            else:
                # The mask needs no softmax; extra outputs (spec.num_outputs) are dropped.
                logits = predict_logits(self.net, x, self.info, options, resize_back=False)
                logits = logits[:, :self.info.num_classes].float()  # (N, C, h, w)
                masks = class_map(logits, size).cpu().numpy()  # (N, H, W)
        # The probabilities are computed (from the logits at the network's input size) only
        # when a caller reads them.
        probs = (list(mc.cpu().numpy()) if mc_samples > 0  # N x (C, H, W)
                 else [functools.partial(_softmax_at, logits[i:i + 1], size)
                       for i in range(len(arrays))])
        return [
            SegmentationResult(
                image=a, mask=masks[i], probs=probs[i], info=self.info,
                uncertainty={k: v[i] for k, v in uncertainty.items()} or None,
            )
            for i, a in enumerate(arrays)
        ]

    def _fused(self, arrays: list[np.ndarray],
               options: InferenceOptions) -> tuple[np.ndarray, torch.Tensor] | None:
        """Masks and logits from ONNX Runtime running the whole single-view pipeline as one
        graph (``OnnxModel.predict_frames``: the same steps, with no thread pools competing on
        the cores), or None when that does not apply (torch runtime, CUDA, TTA, windows)."""
        if (not self.one_graph or not isinstance(self.net, OnnxModel) or self.device.type != "cpu"
                or options.scales != (1.0,) or options.flip or options.window is not None
                or options.input_size != self.spec.input_size):
            return None
        masks, logits = self.net.predict_frames(np.stack(arrays), self.info.mean, self.info.std,
                                                self.info.num_classes, options.stride)
        if self.spec.input_size is None:  # padded to the stride: crop like fit_input's undo
            logits = logits[..., :masks.shape[1], :masks.shape[2]]
        return masks, torch.from_numpy(logits[:, :self.info.num_classes])  # (N, C, h, w)

    def _mc_probs(self, x: torch.Tensor, samples: int) -> tuple[torch.Tensor, dict]:
        """Monte-Carlo dropout probabilities (N, C, H, W) and per-image uncertainty maps of a
        (N, C, H, W) uint8 batch."""
        from semseg.inference.uncertainty import (
            mc_dropout_predict,  # optional module, imported on use
        )

        # the same normalization and resize-or-pad (and its undo) as predict_logits
        xs, back = fit_input(normalize(x, self.info), self.spec.input_size, self.stride)
        with torch.inference_mode():
            mc = mc_dropout_predict(self.model, xs, samples)
        self.model.eval()
        probs = back(mc.mean_probs.float())[:, : self.info.num_classes]  # (N, C, H, W)
        probs = probs / probs.sum(1, keepdim=True).clamp_min(1e-12)
        maps = {"entropy": mc.entropy, "variance": getattr(mc, "variance", None)}
        per_image = {}
        for key, value in maps.items():
            if (t := _uncertainty_maps(value)) is not None:
                per_image[key] = list(back(t)[:, 0].cpu().numpy().astype(np.float32))  # N x (H, W)
        return probs, per_image
